"""Training labels from the fluorescence channels of training chips (paper 2.4, 2.5).

Cell type: a track whose effector dye (PKH67) or target dye (PKH26) is consistently
positive over several frames is an *anchor* of that type; other tracks stay unlabelled and
are not trained on. Apoptosis: a cell is alive until its first Annexin-V-positive frame
(first run of ``annexin_run`` positive frames) and apoptotic from then on.

Pure numpy functions on one well: fluorescence crops ``float[T, S, S]`` and the cells'
masks ``bool[T, N, S, S]`` in the same crop px. Encoding: type 1 = effector, 0 = target,
-1 = unlabelled; per-frame apoptosis 1 = apoptotic, 0 = alive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lftiming_ml.classification.config import LabellerParams

EFFECTOR, TARGET, UNLABELLED = 1, 0, -1


def excess_z(image: np.ndarray, masks: np.ndarray, *, min_exclusive_px: int = 10) -> np.ndarray:
    """Per cell and frame, ``float64[T, N]``: mean of ``image (float[T, S, S])`` over the
    cell's exclusive pixels of ``masks (bool[T, N, S, S])`` minus the median of the frame's
    cell-free pixels, divided by their robust sd (1.4826 MAD, at least 1). NaN where the
    cell is absent or has fewer than ``min_exclusive_px`` exclusive pixels."""
    img = np.asarray(image, dtype=np.float64)
    m = np.asarray(masks, dtype=bool)
    n_frames, n_cells = m.shape[:2]
    out = np.full((n_frames, n_cells), np.nan)
    for t in range(n_frames):
        cover = m[t].sum(axis=0) if n_cells else np.zeros(img.shape[1:], int)
        free = img[t][cover == 0]
        if free.size == 0:
            continue
        bg = float(np.median(free))
        sd = max(1.4826 * float(np.median(np.abs(free - bg))), 1.0)
        for i in range(n_cells):
            exclusive = m[t, i] & (cover == 1)
            if exclusive.sum() >= min_exclusive_px:
                out[t, i] = (img[t][exclusive].mean() - bg) / sd
    return out


def type_label(effector_z: np.ndarray, target_z: np.ndarray, params: LabellerParams = LabellerParams()) -> int:
    """A track's type from its per-frame dye z-scores ``float[T]`` (NaN = undecided):
    EFFECTOR / TARGET when it is an anchor, else UNLABELLED."""
    e, t = np.asarray(effector_z, float), np.asarray(target_z, float)
    ok = ~(np.isnan(e) | np.isnan(t))
    e, t = e[ok], t[ok]
    pos_e = (e >= params.dye_z) & (e >= params.dye_ratio * np.maximum(t, 0))
    pos_t = (t >= params.dye_z) & (t >= params.dye_ratio * np.maximum(e, 0))
    n_e, n_t = int(pos_e.sum()), int(pos_t.sum())
    n = n_e + n_t
    if n_e >= params.min_anchor_frames and n_e >= params.min_anchor_fraction * n:
        return EFFECTOR
    if n_t >= params.min_anchor_frames and n_t >= params.min_anchor_fraction * n:
        return TARGET
    return UNLABELLED


def apoptosis_onset(annexin_z: np.ndarray, params: LabellerParams = LabellerParams()) -> int | None:
    """Index of the first frame of the first run of ``annexin_run`` consecutive
    Annexin-V-positive frames in ``annexin_z (float[T])`` (NaN frames neither break nor
    extend a run), or None if the track never turns positive."""
    z = np.asarray(annexin_z, float)
    decided = np.flatnonzero(~np.isnan(z))
    positive = z[decided] >= params.annexin_z
    run = 0
    for k, pos in enumerate(positive):
        run = run + 1 if pos else 0
        if run >= params.annexin_run:
            return int(decided[k - run + 1])
    return None


def frame_labels(n_frames: int, onset: int | None) -> np.ndarray:
    """``int8[n_frames]``: 0 before ``onset``, 1 from it on (all 0 when None)."""
    out = np.zeros(n_frames, np.int8)
    if onset is not None:
        out[max(onset, 0):] = 1
    return out


@dataclass(frozen=True)
class WellLabels:
    """Per cell of a well: ``cell_type (int[N])`` EFFECTOR/TARGET/UNLABELLED and
    ``onset (list[int | None])`` the Annexin V onset frame (index into the well's frames)."""

    cell_type: np.ndarray
    onset: list[int | None]


def label_well(effector_dye: np.ndarray, target_dye: np.ndarray, death_marker: np.ndarray, masks: np.ndarray,
               params: LabellerParams = LabellerParams()) -> WellLabels:
    """Labels of every cell of a well from its three fluorescence crops ``float[T, S, S]`` and
    ``masks (bool[T, N, S, S])``."""
    kw = {"min_exclusive_px": params.min_exclusive_px}
    ez, tz, az = (excess_z(c, masks, **kw) for c in (effector_dye, target_dye, death_marker))
    n = masks.shape[1]
    types = np.array([type_label(ez[:, i], tz[:, i], params) for i in range(n)], dtype=np.int64)
    return WellLabels(cell_type=types, onset=[apoptosis_onset(az[:, i], params) for i in range(n)])


__all__ = ["EFFECTOR", "TARGET", "UNLABELLED", "WellLabels", "apoptosis_onset", "excess_z", "frame_labels",
           "label_well", "type_label"]
