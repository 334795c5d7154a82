"""Pipeline inputs -> outcome tables -> evaluation against truth, on a small simulated chip whose
tracks, types, deaths and masks are the truth in the pipeline's layout: the scores must be
perfect, and each planted error must show up in its own metric."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lftiming_ml.evaluation.interactions import evaluate_contacts, evaluate_kinetics, matched_outcomes, \
    truth_labels_for_tracks
from lftiming_ml.evaluation.interaction_inputs import truth_interactions
from lftiming_ml.interactions.outcomes import CONTACT_TABLES, KILLING_TABLES, VERSION_COLUMNS, WELL_TABLES
from lftiming_ml.interactions.pipeline_inputs import join_track_tables, model_versions, pipeline_inputs
from lftiming_ml.store.tables import chip_table_path, write_chip_table
from tests.interactions.pipeline_chip import OUTCOME_VERSIONS, PipelineChip, build_pipeline_chip, write_outcome_tables


@pytest.fixture(scope="module")
def chip(tmp_path_factory: pytest.TempPathFactory) -> PipelineChip:
    c = build_pipeline_chip(tmp_path_factory.mktemp("ixeval"))
    write_outcome_tables(c)
    return c


def copy_of(chip: PipelineChip, root: Path) -> PipelineChip:
    """The chip with its own copy of the tables (to plant errors in); raw data and store shared."""
    shutil.copytree(chip.tables_dir, root / "tables")
    return PipelineChip(chip.chip_id, chip.chip_dir, root / "tables", chip.store_path, chip.track_cells)


def rewrite(chip: PipelineChip, table: str, change) -> None:
    path = chip_table_path(chip.tables_dir, table, chip.chip_id)
    write_chip_table(chip.tables_dir, table, chip.chip_id, change(pd.read_parquet(path)))


def scores(chip: PipelineChip) -> tuple[dict, dict]:
    return (evaluate_contacts(chip.chip_dir, chip.tables_dir, chip.store_path),
            evaluate_kinetics(chip.chip_dir, chip.tables_dir, chip.store_path))


def test_pipeline_inputs_join(chip: PipelineChip) -> None:
    inputs = pipeline_inputs(chip.chip_dir, chip.tables_dir, chip.store_path)
    assert inputs.versions == OUTCOME_VERSIONS == {"segmenter_version": 3, "reid_version": 6, "celltype_version": 2,
                                                   "apoptosis_version": 5}
    assert inputs.timing.pixel_size_um == pytest.approx(0.65) and inputs.timing.n_frames == 36
    t = inputs.tracks
    dead = t["death_frame"].notna()
    assert (t.loc[dead, "alive"] == (t.loc[dead, "frame"] < t.loc[dead, "death_frame"])).all()
    assert t.loc[~dead, "alive"].all() and (~t["alive"]).any()
    well = next(iter(inputs.masks))
    masks = inputs.masks[well]
    n = t[(t.field_id == well[0]) & (t.row == well[1]) & (t.col == well[2])]
    assert masks.masks.shape[1] == n["track_id"].nunique() == len(masks.track_ids)


def test_join_refuses_missing_or_mixed_inputs(chip: PipelineChip) -> None:
    read = {n: pd.read_parquet(chip_table_path(chip.tables_dir, n, chip.chip_id))
            for n in ("cell_tracks", "cell_types", "cell_deaths")}
    with pytest.raises(ValueError, match="cell_types: no row"):
        join_track_tables(read["cell_tracks"], read["cell_types"].iloc[1:], read["cell_deaths"])
    first = read["cell_deaths"].iloc[:1][["field_id", "row", "col", "track_id"]]
    deaths = read["cell_deaths"].merge(first, how="left", indicator=True)
    with pytest.raises(ValueError, match="cell_deaths: no row"):
        join_track_tables(read["cell_tracks"], read["cell_types"], deaths[deaths.pop("_merge") == "left_only"])
    mixed = read["cell_types"].assign(model_version=np.arange(len(read["cell_types"])) % 2 + 1)
    with pytest.raises(ValueError, match="several model versions"):
        model_versions({**read, "cell_types": mixed})
    mixed = read["cell_tracks"].assign(reid_version=np.arange(len(read["cell_tracks"])) % 2 + 1)
    with pytest.raises(ValueError, match="cell_tracks: rows of several model versions in reid_version"):
        model_versions({**read, "cell_tracks": mixed})
    for column in ("reid_version", "model_version"):
        with pytest.raises(ValueError, match=f"cell_tracks: no {column} column"):
            model_versions({**read, "cell_tracks": read["cell_tracks"].drop(columns=column)})
    empty = {n: df.iloc[:0] for n, df in read.items()}
    assert model_versions(empty) == dict.fromkeys(VERSION_COLUMNS, -1)


def test_outcome_tables_carry_the_input_versions(chip: PipelineChip) -> None:
    """Every outcome table ends with the versions of its inputs' models, the re-ID embedding's
    (cell_tracks.reid_version) included."""
    tracks = pd.read_parquet(chip_table_path(chip.tables_dir, "cell_tracks", chip.chip_id))
    assert (tracks["reid_version"] == 6).all()
    for name in (*CONTACT_TABLES, *WELL_TABLES, *KILLING_TABLES):
        df = pd.read_parquet(chip_table_path(chip.tables_dir, name, chip.chip_id))
        assert list(df.columns[-4:]) == VERSION_COLUMNS, name
        for column, version in OUTCOME_VERSIONS.items():
            assert (df[column] == version).all() and df[column].dtype == "int64", (name, column)


def test_truth_labels_keep_the_track_versions(chip: PipelineChip) -> None:
    """truth_labels_for_tracks (benchmarks/kinetics.py --inputs tracks): the tracks keep their
    segmenter and re-ID versions; the stand-in classifiers are version -1."""
    tracks = pd.read_parquet(chip_table_path(chip.tables_dir, "cell_tracks", chip.chip_id))
    kept, types, deaths = truth_labels_for_tracks(chip.chip_dir, chip.store_path, tracks)
    assert len(kept) == len(tracks) and list(kept.columns) == list(tracks.columns)
    assert model_versions({"cell_tracks": kept, "cell_types": types, "cell_deaths": deaths}) == {
        "segmenter_version": 3, "reid_version": 6, "celltype_version": -1, "apoptosis_version": -1}


def test_truth_layout_scores_perfect(chip: PipelineChip) -> None:
    contacts, kinetics = scores(chip)
    truth = truth_interactions(chip.chip_dir)
    assert contacts["tp"] == int(truth.frames["in_contact"].sum()) > 0
    assert contacts["fp"] == contacts["fn"] == 0 and contacts["accuracy"] == 1.0
    assert contacts["tracks_matched"] == contacts["tracks"] > 0 and contacts["truth_wells_missed"] == 0
    assert kinetics["n_matched"] == len(truth.kinetics.interactions) and kinetics["n_truth_only"] == 0
    assert kinetics["t_seek_mae_frames"] == kinetics["t_contact_mae_frames"] == kinetics["t_death_mae_frames"] == 0
    assert kinetics["n_killed_both"] == int(truth.kinetics.interactions["killed"].sum()) > 0
    assert kinetics["killing_frequency_within_truth_ci"]


def test_frame_matched_contacts_keep_the_mask_gap(chip: PipelineChip) -> None:
    """Frame-matched pair-frames carry the pipeline's smallest mask gap (what a contact miss is read
    by): no contact pair-frame has a gap beyond the contacts table's largest contact gap, and the
    smallest non-contact gap is the table's."""
    run = matched_outcomes(chip.chip_dir, chip.tables_dir, chip.store_path)
    contacts = pd.read_parquet(chip_table_path(chip.tables_dir, "contacts", chip.chip_id))
    pf = run.frames_per_frame
    assert len(pf) and pf["distance_um"].notna().all()
    assert (pf.loc[pf["in_contact"], "distance_um"] <= contacts.loc[contacts["in_contact"], "distance_um"].max()).all()
    assert pf.loc[~pf["in_contact"], "distance_um"].min() == contacts.loc[~contacts["in_contact"], "distance_um"].min()


def test_planted_errors_show(chip: PipelineChip, tmp_path: Path) -> None:
    bad = copy_of(chip, tmp_path)
    frames = pd.read_parquet(chip_table_path(bad.tables_dir, "contacts", bad.chip_id))
    missed = frames.index[frames["in_contact"]][::4]
    rewrite(bad, "contacts", lambda df: df.assign(in_contact=df["in_contact"] & ~df.index.isin(missed)))

    def later_death(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(t_death_min=df["t_death_min"] + 2 * 5.0)
    rewrite(bad, "killing_kinetics", later_death)

    # Renumber every track (tracks, contacts, kinetics alike): scores must not depend on ids.
    def renumber(df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        for column in ("track_id", "effector_id", "target_id"):
            if column in out:
                out[column] = 100 + 7 * out[column]
        return out
    for table in ("cell_tracks", "contacts", "killing_kinetics"):
        rewrite(bad, table, renumber)

    contacts, kinetics = scores(bad)
    assert contacts["fn"] == len(missed) > 0 and contacts["fp"] == 0
    assert contacts["fn_rate"] == pytest.approx(len(missed) / int(frames["in_contact"].sum()))
    assert kinetics["t_death_mae_frames"] == 2.0 and kinetics["t_seek_mae_frames"] == 0.0


def test_sections_skip_without_output_or_truth(chip: PipelineChip, tmp_path: Path) -> None:
    assert evaluate_contacts(chip.chip_dir, tmp_path / "no-tables", chip.store_path) is None
    assert evaluate_kinetics(chip.chip_dir, tmp_path / "no-tables", chip.store_path) is None
    no_truth = tmp_path / chip.chip_id
    shutil.copytree(chip.chip_dir, no_truth, ignore=shutil.ignore_patterns("gt"))
    assert evaluate_contacts(no_truth, chip.tables_dir, chip.store_path) is None


def test_no_targets_gives_empty_outcomes(chip: PipelineChip, tmp_path: Path) -> None:
    """Every cell called an effector: no pair, no interaction; tables empty but typed, plots drawn."""
    from lftiming_ml.interactions.outcomes import contact_tables, killing_tables, well_tables
    from lftiming_ml.interactions.plots import killing_curves_png, kinetics_distributions_png

    only = copy_of(chip, tmp_path)
    rewrite(only, "cell_types", lambda df: df.assign(cell_type="effector", p_effector=1.0))
    inputs = pipeline_inputs(only.chip_dir, only.tables_dir, only.store_path)
    c = contact_tables(inputs.tracks, inputs.masks, inputs.timing, inputs.versions)
    w = well_tables(inputs.tracks, c["contacts"], c["contact_events"], inputs.timing, inputs.versions)
    k = killing_tables(inputs.tracks, c["contact_events"], w["well_outcomes"], w["target_outcomes"], inputs.timing,
                       inputs.versions)
    assert c["contacts"].empty and c["contact_events"].empty and k["killing_kinetics"].empty
    assert len(w["well_outcomes"]) == inputs.tracks.groupby(["field_id", "row", "col"]).ngroups
    assert (w["well_outcomes"]["n_targets"] == 0).all() and not w["well_outcomes"]["killed_any"].any()
    assert list(k["killing_kinetics"].columns[-4:]) == ["segmenter_version", "reid_version", "celltype_version",
                                                        "apoptosis_version"]
    for name, df in {**c, **w, **k}.items():
        write_chip_table(only.tables_dir, name, only.chip_id, df)
    assert killing_curves_png(k["target_survival"], tmp_path / "k.png").stat().st_size > 0
    assert kinetics_distributions_png(k["killing_kinetics"], tmp_path / "d.png").stat().st_size > 0


def test_identity_swap_costs_track_matched_pair_frames_only(chip: PipelineChip, tmp_path: Path) -> None:
    """Two effectors of a well swap track ids half-way (in the tracks and in their contacts):
    pair-frames with tracks matched to cells per track lose the swapped half; matched frame by
    frame, contact detection itself is still perfect."""
    bad = copy_of(chip, tmp_path)
    frames = pd.read_parquet(chip_table_path(bad.tables_dir, "contacts", bad.chip_id))
    touching = frames[frames["in_contact"]].groupby(["field_id", "row", "col"])["effector_id"].nunique()
    assert (touching >= 2).any(), "the test chip needs a well where two effectors touch a target"
    well = touching[touching >= 2].index[0]
    in_well = (frames["field_id"] == well[0]) & (frames["row"] == well[1]) & (frames["col"] == well[2])
    e1, e2 = sorted(frames.loc[in_well & frames["in_contact"], "effector_id"].unique())[:2]
    t_swap = int(frames.loc[in_well, "frame"].median())

    def swap(column: str):
        def change(df: pd.DataFrame) -> pd.DataFrame:
            at = ((df["field_id"] == well[0]) & (df["row"] == well[1]) & (df["col"] == well[2])
                  & (df["frame"] >= t_swap))
            ids = df[column].copy()
            ids[at & (df[column] == e1)], ids[at & (df[column] == e2)] = e2, e1
            return df.assign(**{column: ids})
        return change
    rewrite(bad, "cell_tracks", swap("track_id"))
    rewrite(bad, "contacts", swap("effector_id"))

    contacts, _ = scores(bad)
    assert contacts["accuracy"] < 1.0 and contacts["fn"] > 0
    assert contacts["frame_matched_accuracy"] == 1.0 and contacts["frame_matched_fn_rate"] == 0.0
    perfect, _ = scores(chip)
    assert perfect["frame_matched_accuracy"] == perfect["accuracy"] == 1.0
