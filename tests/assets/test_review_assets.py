"""``review_queue`` on a small simulated chip run through the pipeline with the fake registry:
one row per occupied well, the check and the plot, re-running replaces the rows, and the
fluorescence signals read only the dye channels (each once per tracked well, never phase)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from lftiming_assets.classification.assets import apoptosis_classifier, cell_deaths, cell_types, celltype_classifier
from lftiming_assets.definitions import defs as project_defs
from lftiming_assets.interactions.assets import interactions
from lftiming_assets.models.assets import well_detector
from lftiming_assets.partitions import chips
from lftiming_assets.raw.assets import raw_chip
from lftiming_assets.resources import build_resources
from lftiming_assets.review.assets import review_queue
from lftiming_assets.segmentation.assets import cell_masks, locsnet
from lftiming_assets.tracking.assets import cell_tracks, reid_embedding
from lftiming_assets.wells.assets import well_grid, well_movies
from lftiming_ml.interactions.outcomes import VERSION_COLUMNS
from lftiming_ml.review.queue import REVIEW_COLUMNS
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.store import movies as store_movies
from lftiming_ml.store.movies import list_well_movies
from lftiming_ml.store.tables import chip_table_path, read_chip_table
from tests.assets.fakes import FakeRegistry
from tests.conftest import small_sim_config

CHIP = "rv-s26"
UPSTREAM = ["raw_chip", "well_grid", "well_movies", "cell_masks", "cell_tracks", "cell_types", "cell_deaths",
            "contacts", "well_outcomes", "killing_kinetics"]


@pytest.fixture(scope="module")
def chip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dg.Definitions, dg.DagsterInstance]:
    root = tmp_path_factory.mktemp("review")
    simulate_chip(root / "raw" / CHIP, small_sim_config(seed=26, n_frames=6))
    registry = FakeRegistry(chip_dir=str(root / "raw" / CHIP))
    defs = dg.Definitions(
        assets=[raw_chip, well_grid, well_movies, well_detector, locsnet, cell_masks, reid_embedding, cell_tracks,
                celltype_classifier, apoptosis_classifier, cell_types, cell_deaths, interactions, review_queue],
        resources={**build_resources(str(root)), "registry": registry},
        jobs=[dg.define_asset_job("upstream", selection=UPSTREAM),
              dg.define_asset_job("review", selection=["review_queue"])])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(chips.name, [CHIP])
        assert defs.resolve_job_def("upstream").execute_in_process(partition_key=CHIP, instance=instance).success
        yield root, defs, instance


@pytest.mark.slow
def test_review_queue_writes_one_row_per_occupied_well_and_rerun_replaces(
        chip: tuple[Path, dg.Definitions, dg.DagsterInstance], monkeypatch: pytest.MonkeyPatch) -> None:
    root, defs, instance = chip
    reads: list[tuple[str, object]] = []
    real = store_movies._read_channels
    monkeypatch.setattr(store_movies, "_read_channels",
                        lambda array, channels: reads.append((str(array.store_path), channels)) or real(array, channels))
    job = defs.resolve_job_def("review")
    first = job.execute_in_process(partition_key=CHIP, instance=instance)
    assert first.success
    path = chip_table_path(root / "tables", "review_queue", CHIP)
    table = pd.read_parquet(path)

    store = root / "zarr" / f"{CHIP}.zarr"
    occupied = [i for i in list_well_movies(store) if i.occupied and i.cropped]
    assert occupied and len(table) == len(occupied)
    assert set(zip(table["field_id"], table["row"], table["col"])) == {(i.field_id, i.row, i.col) for i in occupied}
    assert list(table.columns) == [*REVIEW_COLUMNS, *VERSION_COLUMNS]
    assert table["queue_rank"].tolist() == list(range(1, len(table) + 1))
    assert table["fluorescence_checked"].all()  # the simulated chip has all three dye channels
    assert table[["dye_type_disagreement", "annexin_death_disagreement"]].notna().all().all()
    masks = read_chip_table(root / "tables", "cell_masks", CHIP)
    assert (table["segmenter_version"] == int(masks["model_version"].iloc[0])).all()

    # fluorescence: dye channels only, each at most once per well, only for wells with tracks
    info = occupied[0]
    dye_channels = {info.channel_roles.index(r) for r in ("effector_dye", "target_dye", "death_marker")}
    assert reads and {ch for _, ch in reads} == dye_channels and info.phase_index not in dye_channels
    assert max(Counter(reads).values()) == 1
    tracked = read_chip_table(root / "tables", "cell_tracks", CHIP)[["field_id", "row", "col"]].drop_duplicates()
    assert len({p for p, _ in reads}) == len(tracked)

    evaluation = first.get_asset_check_evaluations()
    assert [(e.check_name, e.passed) for e in evaluation] == [("one_row_per_occupied_well", True)]
    metadata = next(m for m in first.get_asset_materialization_events()).materialization.metadata
    assert metadata["wells_queued"].value == len(table)
    assert metadata["score_distribution"].value.startswith("![review scores](data:image/png;base64,")
    assert (root / "reports" / CHIP / "review_scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    named = table["reason_signals"].str.split(",").explode()
    assert metadata["top_reasons"].value == named[named.astype(bool)].value_counts().to_dict()

    again = job.execute_in_process(partition_key=CHIP, instance=instance)
    assert again.success
    pd.testing.assert_frame_equal(pd.read_parquet(path), table)
    with duckdb.connect(str(root / "lftiming.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM review_queue").fetchone()[0] == len(table)


def test_review_queue_is_in_the_chip_jobs() -> None:
    for job in ("chip_pipeline", "segment_chips"):
        keys = project_defs.resolve_job_def(job).asset_layer.executable_asset_keys
        assert dg.AssetKey("review_queue") in keys, job
