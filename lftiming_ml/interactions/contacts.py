"""Effector-target contacts from per-track masks: per frame, then as events.

A contact at a frame: the two masks overlap, or the gap between their boundaries is at
most ``ContactParams.tolerance_um``. The gap is measured with a Euclidean distance
transform of the effector's background (``scipy.ndimage.distance_transform_edt``): the
smallest distance from a target pixel centre to an effector pixel centre, minus one pixel.

The input ``tracks`` table (``TRACK_COLUMNS``; one row per track per frame it is present),
shared by ``contacts`` and ``kinetics``:

===========  =======  ==============================================================
column       dtype    meaning
===========  =======  ==============================================================
chip_id      str      chip id (``chip.json``)
field_id     str      field of view
row, col     int64    well position in the field's 6x6 block
track_id     int64    track id, unique in the well
frame        int64    frame index, 0 = movie start
y, x         float64  amodal-mask centroid in the well crop (px; NaN if the mask is empty)
area         int64    amodal mask area (px)
cell_type    str      'effector' | 'target' (constant per track)
alive        bool     False from the death frame on (monotone per track)
death_frame  Int64    first frame not alive, <NA> if the cell never dies (constant per track)
===========  =======  ==============================================================

Output tables (pandas DataFrames; ``WELL_KEYS`` identify a well; ids are track ids):

``contact_frames``: one row per frame at which an effector and a target of one well are
both present (both have a ``tracks`` row at that frame).

=============  =======  ==========================================================
column         dtype    meaning
=============  =======  ==========================================================
chip_id..col   str/int  the well (``WELL_KEYS``)
frame          int64    frame index (0 = movie start)
effector_id    int64    effector track id
target_id      int64    target track id
overlap_px     int64    pixels in both masks (amodal overlap area, px)
distance_um    float64  boundary gap (um), 0 when touching or overlapping; inf when
                        either mask is empty at that frame (e.g. an interpolated frame)
in_contact     bool     overlap_px > 0 or distance_um <= tolerance_um
=============  =======  ==========================================================

``contact_events``: one row per contact event of a pair (runs of contact frames, gaps of
at most ``max_gap_frames`` merged, events shorter than ``min_event_frames`` dropped).

=================  =======  ======================================================
column             dtype    meaning
=================  =======  ======================================================
chip_id..col       str/int  the well
effector_id        int64    effector track id (the target's partner)
target_id          int64    target track id (the effector's partner)
event_index        int64    0, 1, ... in time order within the pair
onset_frame        int64    first contact frame of the event
end_frame          int64    last contact frame of the event (>= onset_frame)
n_contact_frames   int64    frames of the event seen in contact (merged gaps excluded)
duration_frames    int64    end_frame - onset_frame + 1 (merged gaps included)
onset_min          float64  onset_frame * frame_interval_min
duration_min       float64  duration_frames * frame_interval_min
open_at_end        bool     the event lasts to the last frame the pair is observed
                            (movie end, or one cell leaves): its duration is censored
=================  =======  ======================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.ndimage import distance_transform_edt

from lftiming_ml.interactions.config import ContactParams
from lftiming_ml.store.keys import PAIR_KEYS, WELL_KEYS

TRACK_COLUMNS = [*WELL_KEYS, "track_id", "frame", "y", "x", "area", "cell_type", "alive", "death_frame"]
FRAME_COLUMNS = [*WELL_KEYS, "frame", "effector_id", "target_id", "overlap_px", "distance_um", "in_contact"]
EVENT_COLUMNS = [*PAIR_KEYS, "event_index", "onset_frame", "end_frame", "n_contact_frames", "duration_frames",
                 "onset_min", "duration_min", "open_at_end"]
_EPS = 1e-9


@dataclass(frozen=True)
class WellMasks:
    """Per-track masks of one well.

    track_ids (int[K]): the track id of each mask column, as in the ``tracks`` table.
    masks (bool[T, K, S, S]): amodal mask of track k at frame t in the well crop (y, x px);
        all False where the track is absent or has no mask. May be a lazy array (zarr):
        it is read one frame at a time.
    """

    track_ids: np.ndarray
    masks: object

    def frame(self, t: int) -> np.ndarray:
        """``bool[K, S, S]`` masks at frame ``t``."""
        return np.asarray(self.masks[t], dtype=bool)


def pair_contact(effector: np.ndarray, target: np.ndarray, *, pixel_size_um: float,
                 effector_background_edt: np.ndarray | None = None) -> tuple[int, float]:
    """Overlap (px) and boundary gap (um) of two masks ``bool[S, S]`` in the same crop.

    The gap is the smallest distance between a pixel centre of ``effector`` and one of
    ``target`` minus one pixel, in um, clipped at 0 (0 when they overlap or touch); inf if
    either mask is empty. Pass ``effector_background_edt`` (``distance_transform_edt(~effector)``,
    px) to reuse it across targets.
    """
    if not effector.any() or not target.any():
        return 0, float("inf")
    overlap = int(np.count_nonzero(effector & target))
    if overlap:
        return overlap, 0.0
    edt = distance_transform_edt(~effector) if effector_background_edt is None else effector_background_edt
    centre_px = float(edt[target].min())
    return 0, max(centre_px - 1.0, 0.0) * pixel_size_um


def well_contact_frames(well: WellMasks, effector_ids: np.ndarray, target_ids: np.ndarray,
                        present: Mapping[int, np.ndarray], *, pixel_size_um: float,
                        params: ContactParams = ContactParams()) -> pd.DataFrame:
    """Contact rows of one well (``FRAME_COLUMNS`` less ``WELL_KEYS``).

    effector_ids, target_ids (int[E], int[G]): track ids of each type in this well.
    present: frame -> int[] track ids with a ``tracks`` row at that frame.
    A pair gets a row at every frame where both are present.
    """
    column = {int(t): k for k, t in enumerate(np.asarray(well.track_ids).tolist())}
    rows: list[tuple] = []
    eff, tgt = set(int(e) for e in effector_ids), set(int(t) for t in target_ids)
    for t in sorted(present):
        ids = set(int(i) for i in present[t])
        e_now, g_now = sorted(ids & eff), sorted(ids & tgt)
        if not e_now or not g_now:
            continue
        masks = well.frame(t)
        for e in e_now:
            m_e = masks[column[e]] if e in column else None
            edt = distance_transform_edt(~m_e) if m_e is not None and m_e.any() else None
            for g in g_now:
                m_g = masks[column[g]] if g in column else None
                if edt is None or m_g is None:
                    overlap, gap = 0, float("inf")
                else:
                    overlap, gap = pair_contact(m_e, m_g, pixel_size_um=pixel_size_um, effector_background_edt=edt)
                rows.append((t, e, g, overlap, gap, bool(overlap > 0 or gap <= params.tolerance_um + _EPS)))
    out = pd.DataFrame(rows, columns=FRAME_COLUMNS[len(WELL_KEYS):])
    return out.astype({"frame": "int64", "effector_id": "int64", "target_id": "int64", "overlap_px": "int64",
                       "distance_um": "float64", "in_contact": "bool"})


def contact_frames(tracks: pd.DataFrame, masks_by_well: Mapping[tuple[str, int, int], WellMasks], *,
                   pixel_size_um: float, params: ContactParams = ContactParams()) -> pd.DataFrame:
    """Per-frame effector-target contacts of a chip (table ``contact_frames``, see module doc).

    tracks: the chip's ``tracks`` table (``TRACK_COLUMNS``); one chip_id.
    masks_by_well: (field_id, row, col) -> ``WellMasks`` of that well; a well with tracks
        but no entry raises KeyError (masks are required, not guessed).
    pixel_size_um: um per px of the masks.
    """
    parts = []
    for (chip_id, field_id, row, col), well_tracks in tracks.groupby(WELL_KEYS, sort=True):
        types = well_tracks.groupby("track_id")["cell_type"].first()
        effectors = types.index[types == "effector"].to_numpy()
        targets = types.index[types == "target"].to_numpy()
        if len(effectors) == 0 or len(targets) == 0:
            continue
        present = {int(f): g.to_numpy() for f, g in well_tracks.groupby("frame")["track_id"]}
        well = masks_by_well[(field_id, int(row), int(col))]
        df = well_contact_frames(well, effectors, targets, present, pixel_size_um=pixel_size_um, params=params)
        df.insert(0, "col", int(col))
        df.insert(0, "row", int(row))
        df.insert(0, "field_id", field_id)
        df.insert(0, "chip_id", chip_id)
        parts.append(df)
    if not parts:
        return _empty(FRAME_COLUMNS, {"frame": "int64", "effector_id": "int64", "target_id": "int64",
                                      "overlap_px": "int64", "distance_um": "float64", "in_contact": "bool"})
    return pd.concat(parts, ignore_index=True)[FRAME_COLUMNS]


def contact_events(frames: pd.DataFrame, *, frame_interval_min: float,
                   params: ContactParams = ContactParams()) -> pd.DataFrame:
    """Contact events from ``contact_frames`` (table ``contact_events``, see module doc)."""
    rows = []
    last_seen = frames.groupby(PAIR_KEYS, sort=False)["frame"].max() if len(frames) else None
    touching = frames.loc[frames["in_contact"].astype(bool)]
    for key, pair in touching.groupby(PAIR_KEYS, sort=True):
        f = np.sort(pair["frame"].to_numpy())
        breaks = np.flatnonzero(np.diff(f) > params.max_gap_frames + 1)
        starts, ends = np.r_[0, breaks + 1], np.r_[breaks, len(f) - 1]
        index = 0
        for s, e in zip(starts, ends):
            n_contact = int(e - s + 1)
            if n_contact < params.min_event_frames:
                continue
            onset, end = int(f[s]), int(f[e])
            rows.append((*key, index, onset, end, n_contact, end - onset + 1, onset * frame_interval_min,
                         (end - onset + 1) * frame_interval_min, bool(end == last_seen[key])))
            index += 1
    dtypes = {"row": "int64", "col": "int64", "effector_id": "int64", "target_id": "int64", "event_index": "int64",
              "onset_frame": "int64", "end_frame": "int64", "n_contact_frames": "int64",
              "duration_frames": "int64", "onset_min": "float64", "duration_min": "float64",
              "open_at_end": "bool"}
    if not rows:
        return _empty(EVENT_COLUMNS, dtypes)
    return pd.DataFrame(rows, columns=EVENT_COLUMNS).astype(dtypes)


def _empty(columns: list[str], dtypes: dict[str, str]) -> pd.DataFrame:
    base = {"chip_id": "object", "field_id": "object", "row": "int64", "col": "int64"}
    return pd.DataFrame({c: pd.Series(dtype={**base, **dtypes}.get(c, "object")) for c in columns})
