"""The review queue's fluorescence signals: phase-contrast calls checked against the dyes.

On chips whose movies have fluorescence channels (``chip.json`` roles ``effector_dye``,
``target_dye``, ``death_marker``), each track's masks are laid over those channels with the
rules that label training chips (``classification.labels``: excess over the cell-free
background in robust-sd units, inside the track's exclusive pixels):

- ``dye_type_disagreement`` (tracks): the dyes make the track an anchor of one type
  (``type_label``) and ``cell_types`` says the other; unlabelled tracks never disagree.
  Needs both dye channels.
- ``annexin_death_disagreement`` (tracks): the Annexin V onset (``apoptosis_onset``) and the
  classifier's ``death_frame`` are more than ``ReviewParams.death_tolerance_frames`` apart,
  or one says death and the other not. Needs the death marker.

A signal whose channel the chip lacks is NaN (not measured; ``signals.normalise`` makes it
0). Channels are read one at a time with ``store.movies.open_well_channel`` (the phase
channel is never read here) and only for wells with tracks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lftiming_ml.classification.config import LabellerParams
from lftiming_ml.classification.labels import EFFECTOR, TARGET, apoptosis_onset, excess_z, type_label
from lftiming_ml.review.config import ReviewParams
from lftiming_ml.store.keys import WELL_KEYS
from lftiming_ml.store.movies import list_well_movies, open_well_channel
from lftiming_ml.store.tracks import open_well_track_masks
from lftiming_ml.workers import WorkerPool

DYE_ROLES = ("effector_dye", "target_dye")
DEATH_ROLE = "death_marker"
COLUMNS = ["dye_type_disagreement", "annexin_death_disagreement"]


def well_fluorescence_signals(track_masks: np.ndarray, cell_types: Sequence[str | None],
                              death_frames: Sequence[int | None], *, effector_dye: np.ndarray | None = None,
                              target_dye: np.ndarray | None = None, death_marker: np.ndarray | None = None,
                              params: ReviewParams = ReviewParams()) -> tuple[float, float]:
    """``(dye_type_disagreement, annexin_death_disagreement)`` of one well, in tracks (NaN
    when the channels are not given).

    track_masks: ``bool[T, K, S, S]`` (slot k = track id k); cell_types, death_frames: per
    slot the track's type ('effector' | 'target', None if unknown) and death frame (None if
    it lives); channels: ``float[T, S, S]`` in the same crop px.
    """
    lp = LabellerParams()
    kw = {"min_exclusive_px": lp.min_exclusive_px}
    n_tracks = track_masks.shape[1]
    type_disagree = death_disagree = np.nan
    if effector_dye is not None and target_dye is not None:
        ez, tz = excess_z(effector_dye, track_masks, **kw), excess_z(target_dye, track_masks, **kw)
        expected = {"effector": EFFECTOR, "target": TARGET}
        labels = [type_label(ez[:, k], tz[:, k], lp) for k in range(n_tracks)]
        type_disagree = float(sum(1 for k, label in enumerate(labels) if cell_types[k] in expected
                                  and label in (EFFECTOR, TARGET) and label != expected[cell_types[k]]))
    if death_marker is not None:
        az = excess_z(death_marker, track_masks, **kw)
        death_disagree = 0.0
        for k in range(n_tracks):
            if not track_masks[:, k].any():
                continue
            onset, death = apoptosis_onset(az[:, k], lp), death_frames[k]
            if (onset is None) != (death is None) or (
                    onset is not None and abs(int(onset) - int(death)) > params.death_tolerance_frames):
                death_disagree += 1.0
    return type_disagree, death_disagree


def chip_fluorescence_signals(store_path: Path | str, wells: pd.DataFrame, cell_types: pd.DataFrame,
                              cell_deaths: pd.DataFrame, params: ReviewParams = ReviewParams(), *,
                              pool: WorkerPool | None = None) -> pd.DataFrame | None:
    """``WELL_KEYS`` + ``COLUMNS`` for the occupied ``wells`` (one row per well, in their order)
    of a chip store, or None when its movies have no fluorescence channel (or
    ``params.use_fluorescence`` is off). Wells without tracks score 0. cell_types: one row per
    track (``cell_type``); cell_deaths: ``death_frame`` per track and frame. One field per
    call of ``field_fluorescence_signals``, in ``pool`` (default: this process)."""
    infos = [i for i in list_well_movies(store_path) if i.cropped]
    roles = set().union(*(i.channel_roles for i in infos)) if infos else set()
    has_dyes, has_death = set(DYE_ROLES) <= roles, DEATH_ROLE in roles
    if not params.use_fluorescence or not (has_dyes or has_death):
        return None
    types_by_field = dict(tuple(cell_types.groupby("field_id")))
    deaths_by_field = dict(tuple(cell_deaths.groupby("field_id")))
    parts = (pool or WorkerPool()).map(field_fluorescence_signals, [(f, (
        str(store_path), field_wells, types_by_field.get(f, cell_types.iloc[:0]),
        deaths_by_field.get(f, cell_deaths.iloc[:0]), [(i.row, i.col) for i in infos if i.field_id == f],
        has_dyes, has_death, params)) for f, field_wells in wells.groupby("field_id", sort=False)],
        stage="review_queue", store_path=store_path)
    if not parts:
        return pd.DataFrame(columns=[*WELL_KEYS, *COLUMNS])
    out = pd.concat(parts, ignore_index=True)  # type: ignore[arg-type]
    order = pd.MultiIndex.from_frame(wells[WELL_KEYS].astype({"row": "int64", "col": "int64"}))
    return out.set_index(WELL_KEYS).reindex(order).reset_index()[[*WELL_KEYS, *COLUMNS]]


def field_fluorescence_signals(store_path: str, wells: pd.DataFrame, cell_types: pd.DataFrame,
                               cell_deaths: pd.DataFrame, cropped: Sequence[tuple[int, int]], has_dyes: bool,
                               has_death: bool, params: ReviewParams) -> pd.DataFrame:
    """``chip_fluorescence_signals`` for the wells of one field (``cropped``: its wells with a
    movie); any process."""
    types = {(r.field_id, int(r.row), int(r.col), int(r.track_id)): str(r.cell_type)
             for r in cell_types.itertuples(index=False)}
    first = cell_deaths.drop_duplicates(["field_id", "row", "col", "track_id"])
    deaths = {(r.field_id, int(r.row), int(r.col), int(r.track_id)):
              None if pd.isna(r.death_frame) else int(r.death_frame)
              for r in first[["field_id", "row", "col", "track_id", "death_frame"]].itertuples(index=False)}
    tracked = {(f, int(r), int(c)) for f, r, c in cell_types[["field_id", "row", "col"]].itertuples(index=False)}
    with_movie = {(int(r), int(c)) for r, c in cropped}
    rows = []
    for w in wells[WELL_KEYS].itertuples(index=False):
        key = (w.field_id, int(w.row), int(w.col))
        values = (0.0 if has_dyes else np.nan, 0.0 if has_death else np.nan)
        if key in tracked and key[1:] in with_movie:
            masks = open_well_track_masks(store_path, *key)
            channel = {role: open_well_channel(store_path, *key, role)[0].astype(np.float64)
                       for role in (*(DYE_ROLES if has_dyes else ()), *((DEATH_ROLE,) if has_death else ()))}
            k = masks.shape[1]
            values = well_fluorescence_signals(
                masks, [types.get((*key, i)) for i in range(k)], [deaths.get((*key, i)) for i in range(k)],
                effector_dye=channel.get("effector_dye"), target_dye=channel.get("target_dye"),
                death_marker=channel.get(DEATH_ROLE), params=params)
        rows.append({"chip_id": w.chip_id, "field_id": key[0], "row": key[1], "col": key[2],
                     COLUMNS[0]: values[0], COLUMNS[1]: values[1]})
    return pd.DataFrame(rows, columns=[*WELL_KEYS, *COLUMNS])


__all__ = ["COLUMNS", "DEATH_ROLE", "DYE_ROLES", "chip_fluorescence_signals", "field_fluorescence_signals",
           "well_fluorescence_signals"]
