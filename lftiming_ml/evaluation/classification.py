"""Scoring cell types and deaths against the simulator's truth, overall and per stratum.

``score_celltypes`` / ``score_apoptosis`` take plain tables (one row per track / per track
frame, with the well's ``stratum`` and ``contact_rich``) and call the one set of metrics in
``lftiming_ml.metrics.classification``; the benchmark (truth tracks) and ``lftiming
evaluate`` (``evaluate_classification``: the pipeline's ``cell_types`` / ``cell_deaths``
tables, tracks matched to true cells) both use them. Evaluation side only: reads ``gt/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lftiming_ml.metrics.classification import binary_scores_ci, death_frame_scores

CONTACT_GROUP = "contact-rich"


def _groups(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """("overall", all), one per E:T stratum present, and ("contact-rich", wells with contact)."""
    out = [("overall", df)]
    out += [(str(s), g) for s, g in df.groupby("stratum", sort=True)]
    out.append((CONTACT_GROUP, df[df["contact_rich"].astype(bool)]))
    return [(name, g) for name, g in out if len(g)]


def score_celltypes(tracks: pd.DataFrame, *, n_resamples: int = 1000) -> dict[str, dict]:
    """``tracks``: one row per track with ``true_effector, pred_effector (bool)``,
    ``p_effector (float)``, ``stratum``, ``contact_rich``. Per group: accuracy, sensitivity
    (effectors found), specificity, PPV, NPV, AUROC with 95% bootstrap CIs over tracks."""
    return {name: binary_scores_ci(g["true_effector"].to_numpy(bool), g["pred_effector"].to_numpy(bool),
                                   g["p_effector"].to_numpy(float), n_resamples=n_resamples)
            for name, g in _groups(tracks)}


def score_apoptosis(frames: pd.DataFrame, tracks: pd.DataFrame, *, n_resamples: int = 1000) -> dict[str, dict]:
    """``frames``: one row per track frame with ``track`` (a unique key), ``true_apoptotic,
    pred_apoptotic (bool)``, ``p_apoptotic``, ``stratum``, ``contact_rich``; ``tracks``: one
    row per track with ``pred_death, true_death`` (Int64, NA = none), ``stratum``,
    ``contact_rich``. Per group: frame-level metrics with CIs resampling tracks, and
    ``death`` (``death_frame_scores``: within +/-4 frames, ...)."""
    track_groups = dict(_groups(tracks))
    out = {}
    for name, g in _groups(frames):
        scores = binary_scores_ci(g["true_apoptotic"].to_numpy(bool), g["pred_apoptotic"].to_numpy(bool),
                                  g["p_apoptotic"].to_numpy(float), g["track"].to_numpy(), n_resamples=n_resamples)
        t = track_groups.get(name, tracks.iloc[:0])
        scores["death"] = death_frame_scores([None if pd.isna(v) else int(v) for v in t["pred_death"]],
                                             [None if pd.isna(v) else int(v) for v in t["true_death"]])
        out[name] = scores
    return out


def matched_true_cells(matches: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """The tracks of ``matches`` (``truth.match.match_tracks_to_cells``) that found a true cell,
    with that cell's ``cell_type`` and ``death_frame`` from ``truth`` (``truth_cells_in_crops``)."""
    cells = truth.drop_duplicates(["field_id", "row", "col", "cell_id"])[
        ["field_id", "row", "col", "cell_id", "cell_type", "death_frame"]]
    return (matches.dropna(subset=["cell_id"]).astype({"cell_id": "int64"})
            .merge(cells, on=["field_id", "row", "col", "cell_id"], how="left"))


def matched_death_frames(deaths: pd.DataFrame, matched: pd.DataFrame) -> pd.DataFrame:
    """The pipeline's ``cell_deaths`` rows of the tracks in ``matched`` (well keys, ``track_id``
    and the true cell's ``death_frame``, as ``truth.match`` pairs them), with ``death_frame_true``,
    ``track`` (a unique key), ``true_apoptotic`` and ``pred_apoptotic`` per track-frame."""
    d = deaths.merge(matched, on=["field_id", "row", "col", "track_id"], how="inner", suffixes=("", "_true"))
    d["track"] = d["field_id"].astype(str) + "/" + d["row"].astype(str) + "/" + d["col"].astype(str) + "/" + \
        d["track_id"].astype(str)
    true_death = d["death_frame_true"].astype("Int64")
    d["true_apoptotic"] = (d["frame"] >= true_death.fillna(np.iinfo(np.int64).max)).astype(bool)
    d["pred_apoptotic"] = d["apoptotic"].astype(bool)
    return d


def evaluate_classification(chip_dir: Path, tables_dir: Path, store_path: Path) -> dict | None:
    """The ``classification`` section of ``lftiming evaluate`` for one chip: the pipeline's
    ``cell_types`` and ``cell_deaths`` against the true cells their tracks match
    (``truth.match``); unmatched tracks are left out and counted. None when the
    chip has neither table yet."""
    from lftiming_ml.store.tables import chip_table_path
    from lftiming_ml.truth.match import match_tracks_to_cells, truth_cells_in_crops, truth_well_strata

    chip_dir, tables_dir = Path(chip_dir), Path(tables_dir)
    chip_id = chip_dir.name
    types_path = chip_table_path(tables_dir, "cell_types", chip_id)
    deaths_path = chip_table_path(tables_dir, "cell_deaths", chip_id)
    tracks_path = chip_table_path(tables_dir, "cell_tracks", chip_id)
    if not tracks_path.is_file() or not (types_path.is_file() or deaths_path.is_file()):
        return None
    keys = ["field_id", "row", "col", "track_id"]
    truth = truth_cells_in_crops(chip_dir, store_path)
    matches = match_tracks_to_cells(pd.read_parquet(tracks_path), truth)
    strata = truth_well_strata(chip_dir, store_path)[["field_id", "row", "col", "stratum", "contact_rich"]]
    matched = matched_true_cells(matches, truth).merge(strata, on=["field_id", "row", "col"], how="left")
    matched["stratum"] = matched["stratum"].fillna("other")
    matched["contact_rich"] = matched["contact_rich"].fillna(False).astype(bool)
    out: dict[str, object] = {"tracks": int(len(matches)), "tracks_matched": int(len(matched))}
    if types_path.is_file():
        t = pd.read_parquet(types_path).merge(matched, on=keys, how="inner")
        t["true_effector"] = t["cell_type_y"] == "effector"
        t["pred_effector"] = t["cell_type_x"] == "effector"
        out["celltype"] = score_celltypes(t)
        out["celltype_model_version"] = int(t["model_version"].iloc[0]) if len(t) else None
    if deaths_path.is_file():
        d = matched_death_frames(pd.read_parquet(deaths_path), matched)
        per_track = d.drop_duplicates("track").rename(columns={"death_frame": "pred_death"})
        per_track["true_death"] = per_track["death_frame_true"].astype("Int64")
        out["apoptosis"] = score_apoptosis(d, per_track)
        out["apoptosis_model_version"] = int(d["model_version"].iloc[0]) if len(d) else None
    return out


__all__ = ["CONTACT_GROUP", "evaluate_classification", "matched_death_frames", "matched_true_cells", "score_apoptosis",
           "score_celltypes"]
