"""The review queue's signals: one pure function per signal, from a chip's tables to one value
per well in a documented unit.

Each function takes the chip's tables as the pipeline writes them (``docs/tables.md``) and
returns a float Series indexed by the well keys (``store.keys.WELL_KEYS``: chip_id,
field_id, row, col), holding only the wells the tables mention; ``queue`` gives the other
occupied wells the value 0. ``SIGNALS`` documents each one: its unit, and the values at
which its normalised form is 0 and 1 (``normalise``: linear in between, clipped), which
``queue`` weights into the score. The fluorescence signals (``fluorescence``) follow the
same conventions and are listed here too. The ``full`` values were set before the weights
were fitted, as the count or value at which a person would call a well suspect on that
signal alone; ``low_mask_score``'s (0.05) after seeing the tuning chips (its 90th
percentile there was 0.025, most wells score 0.003).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lftiming_ml.review.config import ReviewParams
from lftiming_ml.store.keys import TRACK_KEYS, WELL_KEYS

MOVIE_START, MOVIE_END = "movie_start", "movie_end"
EXPLAINED_STARTS = (MOVIE_START, "mitosis", "fragment")
EXPLAINED_ENDS = (MOVIE_END, "fragment")


@dataclass(frozen=True)
class Signal:
    """One signal of the queue: ``unit`` of its raw value; the raw values ``zero`` and ``full``
    at which the normalised signal is 0 and 1; ``reason`` (a format string over ``{value}``)
    is what the queue's reasons column says when the signal weighs in; ``phase_only``: it needs
    no fluorescence channel."""

    name: str
    unit: str
    zero: float
    full: float
    reason: str
    meaning: str
    phase_only: bool = True


SIGNALS: dict[str, Signal] = {s.name: s for s in (
    Signal("fb_disagreement", "links", 0, 5, "{value:.0f} forward/backward link disagreement(s)",
           "Detected track-frames whose link the forward and backward Hungarian passes made differently "
           "(cell_tracks.fb_agree false): where the tracker had to choose, an identity may have switched."),
    Signal("track_count_mismatch", "tracks", 0, 2, "{value:.0f} track(s) off the expected cell count",
           "|tracks of the well - cells the containment constraint expected| (cell_tracks.n_expected): "
           "a missed cell, a spurious track, or an unrecorded division or fragment."),
    Signal("unexplained_track_ends", "tracks", 0, 2, "{value:.0f} track(s) appearing or lost",
           "Tracks that start mid-movie without a mitosis or fragment parent (start_reason 'appeared') plus "
           "tracks that end early as 'lost' or 'merged': cells do not come and go in a closed well."),
    Signal("interpolated_frames", "track-frames", 0, 12, "{value:.0f} interpolated track-frames",
           "Track-frames filled by gap interpolation because no detection was linked (source 'interpolated')."),
    Signal("unlinked_detections", "instances", 0, 12, "{value:.0f} unlinked LOCSNET instances",
           "LOCSNET instances (cell_masks rows) that no track took: an extra, split or debris mask, or a "
           "cell the tracker dropped."),
    Signal("low_mask_score", "1 - score", 0, 0.05, "low LOCSNET scores (mean 1-score {value:.2f})",
           "Mean of 1 - LOCSNET score over the well's detected track-frames (cell_masks.score of the linked "
           "instance): unsure masks."),
    Signal("area_flicker", "jumps", 0, 6, "{value:.0f} mask area jump(s)",
           "Consecutive detected frames of a track whose mask area changes by more than "
           "ReviewParams.area_jump in log units: masks that take in or lose a neighbour's pixels."),
    Signal("type_uncertainty", "1 - |2p - 1|", 0, 1, "cell type near 0.5 ({value:.2f})",
           "Largest over the well's tracks of 1 - |2p - 1| for p = p_effector (lineage) and p_effector_track "
           "(the track alone): 1 when a probability is 0.5."),
    Signal("death_uncertainty", "frames", 0, 8, "{value:.0f} frames of undecided death probability",
           "Largest over the well's tracks of the frames whose p_apoptotic lies in [ReviewParams.death_p_low, "
           "death_p_high]: "
           "an unsure death call or an unsure death frame."),
    Signal("death_without_kill", "cells", 0, 1, "{value:.0f} death(s) without a kill",
           "Targets that died without an effector contact before (n_targets_died - n_targets_killed) plus "
           "effectors that died (well_outcomes): deaths the kinetics cannot explain, often a wrong type or "
           "death call."),
    Signal("contact_share", "fraction of frames", 0, 0.5, "contact in {value:.0%} of frames",
           "well_outcomes.contact_frames / n_frames: cells that touch are where masks and identities get mixed."),
    Signal("crowding", "cells", 1, 6, "{value:.0f} cells",
           "Cells the well holds (cell_tracks.n_expected): crowded wells are where every stage errs most."),
    Signal("no_tracks", "wells", 0, 1, "occupied but no cell tracked",
           "1 when the well detector called the well occupied but no track was made in it."),
    Signal("dye_type_disagreement", "tracks", 0, 1, "{value:.0f} track(s) whose dye contradicts the type",
           "Tracks whose effector/target dye inside their masks makes them an anchor of the other type than "
           "cell_types says (classification.labels.type_label on the track's masks).", phase_only=False),
    Signal("annexin_death_disagreement", "tracks", 0, 1,
           "{value:.0f} track(s) whose Annexin V disagrees with the death call",
           "Tracks whose Annexin V onset inside their masks and the classifier's death_frame disagree by more "
           "than ReviewParams.death_tolerance_frames (or one says death and the other not).", phase_only=False),
)}
PHASE_SIGNALS = [name for name, s in SIGNALS.items() if s.phase_only]
FLUORESCENCE_SIGNALS = [name for name, s in SIGNALS.items() if not s.phase_only]


def normalise(name: str, values: pd.Series | np.ndarray) -> np.ndarray:
    """``float[n]`` in [0, 1]: ``(value - zero) / (full - zero)`` of signal ``name``, clipped;
    NaN (a signal that could not be measured) becomes 0."""
    s = SIGNALS[name]
    v = (np.asarray(values, dtype=np.float64) - s.zero) / (s.full - s.zero)
    return np.clip(np.nan_to_num(v, nan=0.0), 0.0, 1.0)


def _per_well(values: pd.Series, name: str) -> pd.Series:
    return values.astype(np.float64).rename(name)


def _empty(name: str) -> pd.Series:
    return pd.Series([], index=pd.MultiIndex.from_tuples([], names=WELL_KEYS), dtype=np.float64, name=name)


def fb_disagreement(cell_tracks: pd.DataFrame) -> pd.Series:
    """Detected track-frames with ``fb_agree`` false, per well (links)."""
    detected = cell_tracks[cell_tracks["source"] == "detected"]
    if detected.empty:
        return _empty("fb_disagreement")
    return _per_well((~detected["fb_agree"].astype(bool)).groupby([detected[k] for k in WELL_KEYS]).sum(),
                     "fb_disagreement")


def track_count_mismatch(cell_tracks: pd.DataFrame) -> pd.Series:
    """|distinct track ids - n_expected| per well (tracks)."""
    if cell_tracks.empty:
        return _empty("track_count_mismatch")
    g = cell_tracks.groupby(WELL_KEYS)
    return _per_well((g["track_id"].nunique() - g["n_expected"].max()).abs(), "track_count_mismatch")


def unexplained_track_ends(cell_tracks: pd.DataFrame) -> pd.Series:
    """Tracks starting other than at the movie start, by mitosis or as a fragment, plus tracks
    ending other than at the movie end or as a fragment, per well (tracks)."""
    if cell_tracks.empty:
        return _empty("unexplained_track_ends")
    tracks = cell_tracks.drop_duplicates(TRACK_KEYS)
    bad = (~tracks["start_reason"].isin(EXPLAINED_STARTS)).astype(int) + \
        (~tracks["end_reason"].isin(EXPLAINED_ENDS)).astype(int)
    return _per_well(bad.groupby([tracks[k] for k in WELL_KEYS]).sum(), "unexplained_track_ends")


def interpolated_frames(cell_tracks: pd.DataFrame) -> pd.Series:
    """Track-frames with source 'interpolated', per well (track-frames)."""
    if cell_tracks.empty:
        return _empty("interpolated_frames")
    return _per_well((cell_tracks["source"] == "interpolated").groupby([cell_tracks[k] for k in WELL_KEYS]).sum(),
                     "interpolated_frames")


def _linked(cell_masks: pd.DataFrame, cell_tracks: pd.DataFrame) -> pd.DataFrame:
    """``cell_masks`` rows with ``linked`` (bool): a detected track-frame took the instance."""
    keys = [*WELL_KEYS, "frame", "instance"]
    taken = cell_tracks.loc[cell_tracks["source"] == "detected", keys].drop_duplicates()
    masks = cell_masks[[*keys, "score"]].astype({"row": "int64", "col": "int64", "frame": "int64",
                                                 "instance": "int64"})
    out = masks.merge(taken.astype({"row": "int64", "col": "int64", "frame": "int64", "instance": "int64"}),
                      on=keys, how="left", indicator=True)
    out["linked"] = out.pop("_merge") == "both"
    return out


def unlinked_detections(cell_masks: pd.DataFrame, cell_tracks: pd.DataFrame) -> pd.Series:
    """LOCSNET instances of the well that no detected track-frame took (instances)."""
    if cell_masks.empty:
        return _empty("unlinked_detections")
    m = _linked(cell_masks, cell_tracks)
    return _per_well((~m["linked"]).groupby([m[k] for k in WELL_KEYS]).sum(), "unlinked_detections")


def low_mask_score(cell_masks: pd.DataFrame, cell_tracks: pd.DataFrame) -> pd.Series:
    """Mean of 1 - LOCSNET score over the instances tracks took, per well (1 - score)."""
    if cell_masks.empty:
        return _empty("low_mask_score")
    m = _linked(cell_masks, cell_tracks)
    m = m[m["linked"]]
    if m.empty:
        return _empty("low_mask_score")
    return _per_well((1.0 - m["score"].astype(np.float64)).groupby([m[k] for k in WELL_KEYS]).mean(),
                     "low_mask_score")


def area_flicker(cell_tracks: pd.DataFrame, params: ReviewParams = ReviewParams()) -> pd.Series:
    """Consecutive detected frames of a track whose area changes by more than ``area_jump`` in
    |log| units, per well (jumps)."""
    d = cell_tracks[(cell_tracks["source"] == "detected") & (cell_tracks["area"] > 0)]
    if d.empty:
        return _empty("area_flicker")
    d = d.sort_values([*TRACK_KEYS, "frame"])
    log_area = np.log(d["area"].to_numpy(np.float64))
    same = (d[TRACK_KEYS].shift() == d[TRACK_KEYS]).all(axis=1).to_numpy() & \
        (d["frame"].diff().to_numpy() == 1)
    jump = np.zeros(len(d), bool)
    jump[1:] = same[1:] & (np.abs(np.diff(log_area)) > params.area_jump)
    return _per_well(pd.Series(jump, index=d.index).groupby([d[k] for k in WELL_KEYS]).sum(), "area_flicker")


def _uncertainty(p: pd.Series) -> pd.Series:
    return 1.0 - (2.0 * p.astype(np.float64) - 1.0).abs()


def type_uncertainty(cell_types: pd.DataFrame) -> pd.Series:
    """Largest 1 - |2p - 1| over the well's tracks, p = p_effector and p_effector_track."""
    if cell_types.empty:
        return _empty("type_uncertainty")
    u = np.maximum(_uncertainty(cell_types["p_effector"]), _uncertainty(cell_types["p_effector_track"]))
    return _per_well(u.groupby([cell_types[k] for k in WELL_KEYS]).max(), "type_uncertainty")


def death_uncertainty(cell_deaths: pd.DataFrame, params: ReviewParams = ReviewParams()) -> pd.Series:
    """Largest number of frames a track of the well spends with p_apoptotic in [death_p_low,
    death_p_high] (frames)."""
    if cell_deaths.empty:
        return _empty("death_uncertainty")
    undecided = cell_deaths["p_apoptotic"].astype(np.float64).between(params.death_p_low, params.death_p_high)
    per_track = undecided.groupby([cell_deaths[k] for k in TRACK_KEYS]).sum()
    return _per_well(per_track.groupby(level=WELL_KEYS).max(), "death_uncertainty")


def death_without_kill(well_outcomes: pd.DataFrame) -> pd.Series:
    """Targets that died without being killed plus effectors that died, per well (cells)."""
    if well_outcomes.empty:
        return _empty("death_without_kill")
    w = well_outcomes.set_index(WELL_KEYS)
    return _per_well((w["n_targets_died"] - w["n_targets_killed"]).clip(lower=0) + w["n_effectors_died"],
                     "death_without_kill")


def contact_share(well_outcomes: pd.DataFrame) -> pd.Series:
    """Frames with any effector-target contact / frames of the movie, per well (fraction)."""
    if well_outcomes.empty:
        return _empty("contact_share")
    w = well_outcomes.set_index(WELL_KEYS)
    return _per_well(w["contact_frames"] / w["n_frames"].clip(lower=1), "contact_share")


def crowding(cell_tracks: pd.DataFrame) -> pd.Series:
    """Cells the containment constraint expects in the well (cells)."""
    if cell_tracks.empty:
        return _empty("crowding")
    return _per_well(cell_tracks.groupby(WELL_KEYS)["n_expected"].max(), "crowding")


def no_tracks(wells: pd.DataFrame, cell_tracks: pd.DataFrame) -> pd.Series:
    """1 for each occupied well (``wells``: one row per well, ``WELL_KEYS``) without a track, else 0."""
    w = _well_frame(wells[WELL_KEYS])
    tracked = _well_frame(cell_tracks[WELL_KEYS].drop_duplicates()).assign(tracked=True)
    w = w.merge(tracked, on=WELL_KEYS, how="left")
    flag = w["tracked"].isna().astype(np.float64)
    return pd.Series(flag.to_numpy(), index=pd.MultiIndex.from_frame(w[WELL_KEYS]), name="no_tracks")


def phase_signals(wells: pd.DataFrame, tables: dict[str, pd.DataFrame],
                  params: ReviewParams = ReviewParams()) -> pd.DataFrame:
    """Every phase-only signal of ``PHASE_SIGNALS`` for the occupied ``wells`` (one row per
    well, ``WELL_KEYS``): one row per well in ``wells``' order, ``WELL_KEYS`` then one column
    per signal, 0 where a table says nothing of a well. ``tables``: cell_masks, cell_tracks, cell_types,
    cell_deaths and well_outcomes of the chip."""
    masks, tracks = tables["cell_masks"], tables["cell_tracks"]
    series = [
        fb_disagreement(tracks), track_count_mismatch(tracks), unexplained_track_ends(tracks),
        interpolated_frames(tracks), unlinked_detections(masks, tracks), low_mask_score(masks, tracks),
        area_flicker(tracks, params), type_uncertainty(tables["cell_types"]),
        death_uncertainty(tables["cell_deaths"], params), death_without_kill(tables["well_outcomes"]),
        contact_share(tables["well_outcomes"]), crowding(tracks), no_tracks(wells, tracks),
    ]
    out = _well_frame(wells[WELL_KEYS])
    for values in series:
        out = out.merge(_well_frame(values.reset_index()), on=WELL_KEYS, how="left")
    out[PHASE_SIGNALS] = out[PHASE_SIGNALS].fillna(0.0)
    return out[[*WELL_KEYS, *PHASE_SIGNALS]]


def _well_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the well keys typed alike (str ids, int64 row and col), for merging."""
    return df.astype({"chip_id": "object", "field_id": "object", "row": "int64", "col": "int64"})


__all__ = ["FLUORESCENCE_SIGNALS", "PHASE_SIGNALS", "SIGNALS", "Signal", "area_flicker", "contact_share", "crowding",
           "death_uncertainty", "death_without_kill", "fb_disagreement", "interpolated_frames", "low_mask_score",
           "no_tracks", "normalise", "phase_signals", "track_count_mismatch", "type_uncertainty",
           "unexplained_track_ends", "unlinked_detections"]
