"""Scoring a chip's PIPELINE outcome tables against its simulated truth (``lftiming evaluate``
and ``benchmarks/kinetics.py``).

The pipeline's wells and track ids are not the truth's: each pipeline well is paired with a
true well and each track with the true cell it follows (``truth.match``); the
outcome tables are then rewritten in truth keys (true well, cell ids) and compared with
``inputs.truth_interactions`` restricted to the same wells. A track matched to no cell gets
an id of its own (``-1 - track_id``) so its contacts count against it, never for it; two
tracks of one cell (a broken track) are merged (contact if either touches; the earliest
interaction kept). Contact pair-frames are also scored with tracks matched to cells frame
by frame (``match_tracks_per_frame``): is this effector touching this target in this frame,
whichever track follows it. The gap between the two scores is the tracker's identity
errors; the frame-matched one is the contact detection itself.

Sections return None when the chip has no truth or no pipeline output yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lftiming_ml.store.keys import PAIR_KEYS, WELL_KEYS
from lftiming_ml.interactions.timing import chip_timing
from lftiming_ml.evaluation.interaction_inputs import truth_interactions
from lftiming_ml.interactions.kinetics import killing_frequency
from lftiming_ml.interactions.outcomes import unstamp
from lftiming_ml.metrics.interactions import FRAME_KEYS, compare_killing_frequency, score_contacts, score_kinetics
from lftiming_ml.store.tables import chip_table_path
from lftiming_ml.truth.match import cells_by_vote, match_tracks_per_frame, match_tracks_to_cells, \
    pair_wells, truth_cells_in_crops
from lftiming_ml.store.movies import list_well_movies
from lftiming_ml.truth.files import CONTACTS, has_truth

CONTACT_INPUTS = ("cell_tracks", "contacts")
KINETICS_INPUTS = ("cell_tracks", "killing_kinetics", "well_outcomes", "target_outcomes")
GT_KEYS = ["gt_field_id", "gt_row", "gt_col"]


@dataclass(frozen=True)
class MatchedOutcomes:
    """One chip's pipeline outcomes in truth keys, and the truth over the same wells.

    frames / interactions / wells / targets: pipeline ``contacts``, ``killing_kinetics``,
    ``well_outcomes``, ``target_outcomes`` (those present); frames_per_frame: ``contacts``
    with ids matched frame by frame, ``in_contact`` and the smallest ``distance_um`` of the
    tracks on each pair-frame (None without contacts); truth_*: the same tables of the
    truth. n_tracks, n_tracks_matched: pipeline tracks and those matched to a true cell;
    truth_wells_missed: true wells with cells that no pipeline well covers.
    """

    chip_id: str
    frame_interval_min: float
    frames: pd.DataFrame | None
    frames_per_frame: pd.DataFrame | None
    interactions: pd.DataFrame | None
    wells: pd.DataFrame | None
    targets: pd.DataFrame | None
    truth_frames: pd.DataFrame
    truth_interactions: pd.DataFrame
    truth_wells: pd.DataFrame
    truth_targets: pd.DataFrame
    n_tracks: int
    n_tracks_matched: int
    truth_wells_missed: int


def _read(tables_dir: Path, table: str, chip_id: str) -> pd.DataFrame | None:
    path = chip_table_path(tables_dir, table, chip_id)
    return unstamp(pd.read_parquet(path)) if path.is_file() else None


def _to_truth_wells(df: pd.DataFrame, wells: pd.DataFrame) -> pd.DataFrame:
    """Replace the pipeline well keys of ``df`` by its paired true well's (unpaired rows dropped)."""
    out = df.merge(wells, on=WELL_KEYS[1:], how="inner")
    out = out.drop(columns=WELL_KEYS[1:]).rename(columns=dict(zip(GT_KEYS, WELL_KEYS[1:])))
    return out


def _to_cell_ids(df: pd.DataFrame, ids: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Track id columns of ``df`` -> true cell ids (``-1 - track_id`` where unmatched). ``ids``
    has well keys, track_id, cell_id, and frame when the match is per frame."""
    keys = [*WELL_KEYS[1:], *(["frame"] if "frame" in ids.columns else [])]
    for column in columns:
        m = ids.rename(columns={"track_id": column, "cell_id": f"{column}_cell"})
        df = df.merge(m, on=[*keys, column], how="left")
        df[column] = df.pop(f"{column}_cell").fillna(-1 - df[column]).astype("int64")
    return df


def matched_outcomes(chip_dir: Path | str, tables_dir: Path | str, store_path: Path | str,
                     tables: Sequence[str] = (*CONTACT_INPUTS, *KINETICS_INPUTS[1:])) -> MatchedOutcomes | None:
    """The chip's pipeline ``tables`` (those that exist) matched to its truth; None when the
    chip has no truth, no ``cell_tracks`` or none of the outcome tables asked for."""
    chip_dir, tables_dir = Path(chip_dir), Path(tables_dir)
    if not has_truth(chip_dir, CONTACTS):
        return None
    chip_id = chip_timing(chip_dir).chip_id
    found = {t: _read(tables_dir, t, chip_id) for t in tables}
    tracks = found.pop("cell_tracks", None)
    if tracks is None or all(v is None for v in found.values()):
        return None
    cells = truth_cells_in_crops(chip_dir, store_path)
    per_frame = match_tracks_per_frame(tracks, cells)
    match = cells_by_vote(tracks, per_frame)
    ids = match[[*WELL_KEYS[1:], "track_id", "cell_id"]]
    pairs = pair_wells(chip_dir, [i for i in list_well_movies(store_path) if i.cropped])
    wells = pd.DataFrame([(*k, *v) for k, v in pairs.items()], columns=[*WELL_KEYS[1:], *GT_KEYS])
    wells = wells.astype({"row": "int64", "col": "int64", "gt_row": "int64", "gt_col": "int64"})
    covered = wells[GT_KEYS].set_axis(WELL_KEYS[1:], axis=1).drop_duplicates()
    truth = truth_interactions(chip_dir)

    def restrict(df: pd.DataFrame) -> pd.DataFrame:
        return df.merge(covered, on=WELL_KEYS[1:], how="inner")

    def pred(table: str, id_columns: Sequence[str]) -> pd.DataFrame | None:
        df = found.get(table)
        return None if df is None else _to_truth_wells(_to_cell_ids(df, ids, id_columns), wells)

    frames = pred("contacts", ["effector_id", "target_id"])
    frames_per_frame = None
    if frames is not None:  # two tracks of one cell: a contact if either touches
        frames = frames.groupby(FRAME_KEYS, as_index=False)["in_contact"].any()
        frames_per_frame = _to_truth_wells(_to_cell_ids(found["contacts"], per_frame, ["effector_id", "target_id"]),
                                           wells).groupby(FRAME_KEYS, as_index=False).agg(
            in_contact=("in_contact", "any"), distance_um=("distance_um", "min"))
    interactions = pred("killing_kinetics", ["effector_id", "target_id"])
    if interactions is not None:
        interactions = interactions.sort_values([*PAIR_KEYS, "first_contact_frame"]).drop_duplicates(PAIR_KEYS)
    targets = pred("target_outcomes", [])
    occupied = truth.kinetics.wells
    missed = occupied.merge(covered, on=WELL_KEYS[1:], how="left", indicator=True)["_merge"].eq("left_only").sum()
    return MatchedOutcomes(
        chip_id=chip_id, frame_interval_min=chip_timing(chip_dir).frame_interval_min, frames=frames,
        frames_per_frame=frames_per_frame,
        interactions=interactions, wells=pred("well_outcomes", []), targets=targets,
        truth_frames=restrict(truth.frames), truth_interactions=restrict(truth.kinetics.interactions),
        truth_wells=restrict(truth.kinetics.wells), truth_targets=restrict(truth.kinetics.targets),
        n_tracks=int(len(match)), n_tracks_matched=int(match["cell_id"].notna().sum()),
        truth_wells_missed=int(missed))


def _stack(runs: Sequence[MatchedOutcomes], name: str) -> pd.DataFrame:
    return pd.concat([getattr(r, name) for r in runs], ignore_index=True)


def score_matched_contacts(runs: Sequence[MatchedOutcomes]) -> dict[str, float | int]:
    """Frame-level contact confusion matrix (pair-frames in truth ids, tracks matched to cells
    per track), accuracy, FN rate; the same with tracks matched frame by frame
    (``frame_matched_*``: identity errors taken out); and the well-frame accuracy and FN rate
    (needs no id agreement), pooled over ``runs``."""
    pair = score_contacts(_stack(runs, "frames"), _stack(runs, "truth_frames"), level="pair")
    per_frame = score_contacts(_stack(runs, "frames_per_frame"), _stack(runs, "truth_frames"), level="pair")
    well = score_contacts(_stack(runs, "frames"), _stack(runs, "truth_frames"), level="well")
    return {**pair.as_dict(), "frame_matched_accuracy": per_frame.accuracy,
            "frame_matched_fn_rate": per_frame.fn_rate, "frame_matched_fp_rate": per_frame.fp_rate,
            "well_frame_accuracy": well.accuracy, "well_frame_fn_rate": well.fn_rate,
            "tracks": sum(r.n_tracks for r in runs), "tracks_matched": sum(r.n_tracks_matched for r in runs),
            "truth_wells_missed": sum(r.truth_wells_missed for r in runs)}


def score_matched_kinetics(runs: Sequence[MatchedOutcomes]) -> dict[str, object]:
    """Median absolute error (frames) of tSeek, tContact, tDeath over matched interactions and
    killing frequency by E:T group (unit 'well') against the truth's 95% Wilson CI, pooled."""
    kin = score_kinetics(_stack(runs, "interactions"), _stack(runs, "truth_interactions"),
                         frame_interval_min=runs[0].frame_interval_min)
    freq = compare_killing_frequency(killing_frequency(_stack(runs, "wells")),
                                     killing_frequency(_stack(runs, "truth_wells")))
    out: dict[str, object] = dict(kin)
    out["killing_frequency"] = {
        r.et_group: {"n": int(r.n), "pred": float(r.frequency_pred), "truth": float(r.frequency_truth),
                     "truth_ci": [float(r.ci_low_truth), float(r.ci_high_truth)],
                     "within_truth_ci": bool(r.within_truth_ci)} for r in freq.itertuples(index=False)}
    out["killing_frequency_within_truth_ci"] = bool(freq["within_truth_ci"].all())
    return out


def evaluate_contacts(chip_dir: Path | str, tables_dir: Path | str, store_path: Path | str) -> dict | None:
    """``lftiming evaluate`` section 'contacts': the chip's ``contacts`` table against the truth."""
    run = matched_outcomes(chip_dir, tables_dir, store_path, CONTACT_INPUTS)
    return None if run is None or run.frames is None else score_matched_contacts([run])


def evaluate_kinetics(chip_dir: Path | str, tables_dir: Path | str, store_path: Path | str) -> dict | None:
    """``lftiming evaluate`` section 'kinetics': ``killing_kinetics`` and ``well_outcomes`` vs truth."""
    run = matched_outcomes(chip_dir, tables_dir, store_path, KINETICS_INPUTS)
    if run is None or run.interactions is None or run.wells is None:
        return None
    return score_matched_kinetics([run])


def truth_labels_for_tracks(chip_dir: Path | str, store_path: Path | str,
                            cell_tracks: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Stand-ins for the classifiers from the truth: each pipeline track takes the type and
    death frame of the true cell it follows, so the interaction stage can be measured on real
    tracks and masks with classification error taken out.

    Returns (cell_tracks of the matched tracks, ``cell_types``, ``cell_deaths``) in the
    pipeline's layout (model_version -1: no classifier); the cell_tracks rows keep all their
    columns, so their ``model_version`` and ``reid_version`` still reach the outcome tables
    (``pipeline_inputs.model_versions``). Tracks matched to no true cell are left out (count
    them as ``len(input) - len(output)`` track rows).
    """
    cells = truth_cells_in_crops(chip_dir, store_path)
    match = match_tracks_to_cells(cell_tracks, cells)
    match = match[match["cell_id"].notna()].astype({"cell_id": "int64"})
    per_cell = cells.groupby([*WELL_KEYS[1:], "cell_id"], as_index=False)[["cell_type", "death_frame"]].first()
    labels = match.merge(per_cell, on=[*WELL_KEYS[1:], "cell_id"], how="left", validate="many_to_one")
    keys = ["chip_id", *WELL_KEYS[1:], "track_id"]
    tracks = cell_tracks.merge(labels[[*WELL_KEYS[1:], "track_id"]], on=[*WELL_KEYS[1:], "track_id"])
    first = tracks.groupby(keys, as_index=False).agg(n_frames=("frame", "nunique"))
    types = first.merge(labels, on=[*WELL_KEYS[1:], "track_id"])
    p_effector = (types["cell_type"] == "effector").astype(float)
    types = types.assign(p_effector=p_effector, p_effector_track=p_effector, lineage_id=types["track_id"],
                         model_version=-1)
    types = types[[*keys, "cell_type", "p_effector", "n_frames", "p_effector_track", "lineage_id", "model_version"]]
    deaths = tracks[[*keys, "frame"]].merge(labels[[*WELL_KEYS[1:], "track_id", "death_frame"]],
                                            on=[*WELL_KEYS[1:], "track_id"])
    dead = deaths["death_frame"].notna() & (deaths["frame"] >= deaths["death_frame"])
    deaths = deaths.assign(p_apoptotic=dead.astype(float), apoptotic=dead.astype(bool), model_version=-1)
    deaths["death_frame"] = deaths["death_frame"].astype("Int64")
    return tracks, types, deaths[[*keys, "frame", "p_apoptotic", "apoptotic", "death_frame", "model_version"]]
