"""The truth behind the review benchmark (``evaluation.review.well_errors``): on a chip whose
outputs are the truth no well is erroneous; each kind of damage marks exactly its well."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lftiming_ml.evaluation.review import ERROR_COLUMNS, well_errors
from lftiming_ml.store.tables import read_chip_table, write_chip_table
from tests.interactions.pipeline_chip import PipelineChip, build_pipeline_chip
from tests.truth_pipeline import write_truth_cell_masks


@pytest.fixture(scope="module")
def chip(tmp_path_factory: pytest.TempPathFactory) -> PipelineChip:
    built = build_pipeline_chip(tmp_path_factory.mktemp("wellerrors"), "we-s24", seed=24, n_frames=10)
    write_chip_table(built.tables_dir, "cell_masks", built.chip_id, write_truth_cell_masks(built.chip_dir, built.store_path))
    return built


def _copy_tables(chip: PipelineChip, tmp_path: Path) -> Path:
    for name in ("cell_tracks", "cell_types", "cell_deaths"):
        write_chip_table(tmp_path, name, chip.chip_id, read_chip_table(chip.tables_dir, name, chip.chip_id))
    return tmp_path


def test_truth_outputs_have_no_erroneous_well(chip: PipelineChip) -> None:
    wells = well_errors(chip.chip_dir, chip.tables_dir, chip.store_path)
    assert list(wells.columns) == ERROR_COLUMNS and len(wells) > 0
    assert not wells["erroneous"].any()
    assert wells.loc[wells["n_gt"] > 0, "miou"].to_numpy() == pytest.approx(1.0)
    assert wells["tracks_matched"].sum() == len(chip.track_cells)


def test_each_kind_of_damage_marks_its_well(chip: PipelineChip, tmp_path: Path) -> None:
    tables = _copy_tables(chip, tmp_path)
    tracks = read_chip_table(tables, "cell_tracks", chip.chip_id)
    per_well = tracks.groupby(["field_id", "row", "col"])["track_id"].nunique()
    wells = list(per_well[per_well >= 2].index)
    assert len(wells) >= 3
    (fa, ra, ca), (fb, rb, cb), (fc, rc, cc) = wells[:3]
    types = read_chip_table(tables, "cell_types", chip.chip_id)
    flip = (types["field_id"] == fa) & (types["row"] == ra) & (types["col"] == ca) & (types["track_id"] == 0)
    types.loc[flip, "cell_type"] = types.loc[flip, "cell_type"].map({"effector": "target", "target": "effector"})
    write_chip_table(tables, "cell_types", chip.chip_id, types)
    deaths = read_chip_table(tables, "cell_deaths", chip.chip_id)
    late = (deaths["field_id"] == fb) & (deaths["row"] == rb) & (deaths["col"] == cb) & (deaths["track_id"] == 0)
    deaths["death_frame"] = deaths["death_frame"].astype("Int64")
    deaths.loc[late, "death_frame"] = pd.NA if deaths.loc[late, "death_frame"].notna().any() else 2
    write_chip_table(tables, "cell_deaths", chip.chip_id, deaths)
    lost = (tracks["field_id"] == fc) & (tracks["row"] == rc) & (tracks["col"] == cc) & (tracks["track_id"] == 0)
    write_chip_table(tables, "cell_tracks", chip.chip_id, tracks[~lost])

    errors = well_errors(chip.chip_dir, tables, chip.store_path).set_index(["field_id", "row", "col"])
    assert errors.loc[(fa, ra, ca), "wrong_types"] == 1 and errors.loc[(fa, ra, ca), "type_error"]
    assert errors.loc[(fb, rb, cb), "wrong_deaths"] == 1 and errors.loc[(fb, rb, cb), "death_error"]
    assert errors.loc[(fc, rc, cc), "tracking_error"] and errors.loc[(fc, rc, cc), "mota"] < 1
    assert set(errors.index[errors["erroneous"]]) == {(fa, ra, ca), (fb, rb, cb), (fc, rc, cc)}
    assert not errors["segmentation_error"].any()  # the masks were not touched
