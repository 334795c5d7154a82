"""Per-track sequences the classifiers train and run on.

A ``TrackSequence`` is one cell track in one well: for every frame it exists, a phase patch
and a binary mask patch centred on the cell's centroid, and five motion descriptors. The
same functions build it for inference (``well_track_sequences``: a well movie's phase
channel, the tracker's track masks and the ``cell_tracks`` rows of the well) and for
training (``data.load_chip_tracks``: a simulated chip's truth tracks, with labels from
fluorescence), in well-crop px at the chip's pixel size (0.65 um/px for simulated chips,
the canonical crop px of the well movies), so patches look the same in both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lftiming_ml.classification.config import ClassifierProfile
from lftiming_ml.classification.labels import UNLABELLED

N_MOTION = 5
MOTION_NAMES = ("speed", "cos_heading", "sin_heading", "acceleration", "persistence")
SPEED_SCALE_UM_MIN = 5.0  # effectors run at 5-10 um/min: descriptors come out O(1)
LINEAGE_START_REASONS = ("mitosis", "fragment")
"""``cell_tracks.start_reason`` values whose ``parent`` is the same cell lineage (same type)."""


@dataclass
class TrackSequence:
    """One track. ``frames (int64[T])`` movie frame of each entry (ascending),
    ``phase (float16[T, P, P])`` normalised phase patch, ``mask (bool[T, P, P])`` the track's
    mask in the patch, ``motion (float32[T, 5])`` ``MOTION_NAMES``, ``centroids
    (float64[T, 2])`` (y, x) crop px. Labels: ``cell_type`` 1 effector / 0 target / -1
    unlabelled, ``apoptotic (int8[T] | None)`` 1 from the onset on. Truth (simulated chips
    only): ``true_type`` ('effector' | 'target' | None), ``true_alive (bool[T] | None)``.
    ``meta``: chip_id, field_id, row, col, track_id, parent (track_id of the mother, or of
    the dying cell a fragment came from, in the same well; -1 if none: the lineage the
    cell type is pooled over), and for simulated chips stratum, contact_rich."""

    frames: np.ndarray
    phase: np.ndarray
    mask: np.ndarray
    motion: np.ndarray
    centroids: np.ndarray
    cell_type: int = UNLABELLED
    apoptotic: np.ndarray | None = None
    true_type: str | None = None
    true_alive: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.frames)
        if not (self.phase.shape[0] == self.mask.shape[0] == self.motion.shape[0] == self.centroids.shape[0] == n):
            raise ValueError(f"track of {n} frames with phase {self.phase.shape}, mask {self.mask.shape}, "
                             f"motion {self.motion.shape}, centroids {self.centroids.shape}")

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def true_death_frame(self) -> int | None:
        """First movie frame the truth calls dead, None if alive throughout (or no truth)."""
        if self.true_alive is None or self.true_alive.all():
            return None
        return int(self.frames[np.flatnonzero(~self.true_alive)[0]])

    @property
    def label_death_frame(self) -> int | None:
        """First movie frame the fluorescence label calls apoptotic, None if never."""
        if self.apoptotic is None or not self.apoptotic.any():
            return None
        return int(self.frames[np.flatnonzero(self.apoptotic)[0]])


def normalise_phase(phase: np.ndarray, gain: float) -> np.ndarray:
    """``phase (uint16|float[T, S, S])`` -> ``float32[T, S, S]``: each frame divided by its
    median (the medium), minus 1, times ``gain``. Cells are dark (< 0), halos bright."""
    p = np.asarray(phase, dtype=np.float32)
    med = np.median(p.reshape(len(p), -1), axis=1).reshape(-1, 1, 1) if len(p) else np.ones((0, 1, 1), np.float32)
    return (p / np.maximum(med, 1e-6) - 1.0) * gain


def extract_patches(image: np.ndarray, masks: np.ndarray, centroids: np.ndarray, size: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Square ``size`` windows centred (rounded) on ``centroids (float[T, 2], (y, x) px)`` of
    ``image (float[T, S, S])`` (edge-padded outside) and ``masks (bool[T, S, S])`` (False
    outside). Returns ``(float32[T, size, size], bool[T, size, size])``."""
    n, h, w = image.shape
    pad = size
    img = np.pad(np.asarray(image, np.float32), ((0, 0), (pad, pad), (pad, pad)), mode="edge")
    msk = np.pad(np.asarray(masks, bool), ((0, 0), (pad, pad), (pad, pad)))
    out_i = np.empty((n, size, size), np.float32)
    out_m = np.empty((n, size, size), bool)
    centre = np.nan_to_num(np.rint(np.asarray(centroids, float)), nan=h / 2).astype(int)
    centre[:, 0] = np.clip(centre[:, 0], -size // 2, h + size // 2)
    centre[:, 1] = np.clip(centre[:, 1], -size // 2, w + size // 2)
    for t in range(n):
        y0, x0 = centre[t, 0] - size // 2 + pad, centre[t, 1] - size // 2 + pad
        out_i[t] = img[t, y0:y0 + size, x0:x0 + size]
        out_m[t] = msk[t, y0:y0 + size, x0:x0 + size]
    return out_i, out_m


def motion_descriptors(centroids: np.ndarray, frames: np.ndarray, *, um_per_px: float,
                       frame_interval_min: float) -> np.ndarray:
    """``float32[T, 5]`` from ``centroids (float[T, 2], (y, x) px)`` at ``frames (int[T])``:
    speed (um/min / 5), cos and sin of the heading (x right, y down; 0 when still),
    acceleration (|change of velocity| per frame, um/min / 5) and persistence (net
    displacement / path length over the 4 steps around the frame, 0..1). Velocity at entry
    t is the step into it (out of it for the first entry); a one-frame track is all zeros."""
    c = np.asarray(centroids, float) * um_per_px
    n = len(c)
    out = np.zeros((n, N_MOTION), np.float32)
    if n < 2:
        return out
    dt = np.maximum(np.diff(np.asarray(frames, float)), 1.0) * frame_interval_min
    step = np.nan_to_num(np.diff(c, axis=0))
    vel = np.concatenate([step[:1] / dt[:1, None], step / dt[:, None]])
    speed = np.linalg.norm(vel, axis=1)
    moving = speed > 1e-9
    out[:, 0] = speed / SPEED_SCALE_UM_MIN
    out[moving, 1] = vel[moving, 1] / speed[moving]
    out[moving, 2] = vel[moving, 0] / speed[moving]
    out[1:, 3] = np.linalg.norm(np.diff(vel, axis=0), axis=1) / SPEED_SCALE_UM_MIN
    step_len = np.linalg.norm(step, axis=1)
    for t in range(n):
        a, b = max(t - 2, 0), min(t + 2, n - 1)
        path = step_len[a:b].sum()
        out[t, 4] = np.linalg.norm(np.nan_to_num(c[b] - c[a])) / path if path > 1e-9 else 0.0
    return out


def track_sequence(phase_norm: np.ndarray, track_masks: np.ndarray, frames: np.ndarray, centroids: np.ndarray, *,
                   profile: ClassifierProfile, um_per_px: float, frame_interval_min: float,
                   meta: Mapping[str, object] | None = None) -> TrackSequence:
    """A ``TrackSequence`` (no labels) of one track: ``phase_norm (float32[T_movie, S, S])``
    from ``normalise_phase``, ``track_masks (bool[T_movie, S, S])`` the track's mask per
    movie frame, ``frames (int[T])`` where it exists and ``centroids (float[T, 2])`` there."""
    frames = np.asarray(frames, np.int64)
    cents = np.asarray(centroids, float).reshape(-1, 2)
    patches, mpatch = extract_patches(phase_norm[frames], track_masks[frames], cents, profile.patch_size)
    return TrackSequence(frames=frames, phase=patches.astype(np.float16), mask=mpatch,
                         motion=motion_descriptors(cents, frames, um_per_px=um_per_px,
                                                   frame_interval_min=frame_interval_min),
                         centroids=cents, meta=dict(meta or {}))


# --- training tracks from a simulated chip ---------------------------------------------------

def well_track_sequences(phase: np.ndarray, track_masks: np.ndarray, tracks: pd.DataFrame, *,
                         profile: ClassifierProfile, um_per_px: float, frame_interval_min: float,
                         meta: Mapping[str, object] | None = None) -> list[TrackSequence]:
    """Sequences of every track of one well: ``phase (uint16[T, S, S])`` the movie's phase
    channel, ``track_masks (bool[T, K, S, S])`` (slot k = track k), ``tracks`` the well's
    ``cell_tracks`` rows (track_id, frame, y, x in crop px; start_reason and parent when
    present). Unlabelled, no truth. ``meta['parent']`` is the track's parent when it starts
    by ``LINEAGE_START_REASONS`` (in the pipeline the mother usually goes on as one
    daughter and the other daughter is a new track), else -1 (also without those columns)."""
    phase_norm = normalise_phase(phase, profile.phase_gain)
    out = []
    for track_id, rows in tracks.sort_values(["track_id", "frame"]).groupby("track_id", sort=True):
        k = int(track_id)
        linked = "parent" in rows and "start_reason" in rows and rows["start_reason"].iloc[0] in LINEAGE_START_REASONS
        parent = int(rows["parent"].iloc[0]) if linked else -1
        masks = track_masks[:, k] if k < track_masks.shape[1] else np.zeros(phase.shape, bool)
        out.append(track_sequence(phase_norm, masks, rows["frame"].to_numpy(np.int64),
                                  rows[["y", "x"]].to_numpy(float), profile=profile, um_per_px=um_per_px,
                                  frame_interval_min=frame_interval_min,
                                  meta={**dict(meta or {}), "track_id": k, "parent": parent}))
    return out


__all__ = ["LINEAGE_START_REASONS", "MOTION_NAMES", "N_MOTION", "SPEED_SCALE_UM_MIN", "TrackSequence", "extract_patches",
           "motion_descriptors", "normalise_phase", "track_sequence", "well_track_sequences"]
