"""Inputs and outputs of the tracker: one well's detections per frame, and its tracks.

Coordinates are (y, x) in px of the well crop (the same px the detector's masks use);
frames are integer indices 0..T-1 (5 min apart in TIMING).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

ABSENT, DETECTED, INTERPOLATED = 0, 1, 2
SOURCE_NAMES = ("absent", "detected", "interpolated")
"""``WellTracks.source`` codes: index -> name (int8 code 0, 1, 2)."""

RECORD_COLUMNS = ("track_id", "frame", "y", "x", "area", "source", "link_cost", "fb_agree")


@dataclass(frozen=True)
class WellFrameDetections:
    """The detected cells of one well at one frame.

    centroids (float[n, 2]): (y, x) in px of the well crop.
    areas (float[n]): mask areas in px^2.
    masks (bool[n, H, W] or None): instance masks in the same crop (may overlap: amodal).
    cell_types (int[n] or None): effector/target labels when known (not used for linking).
    embeddings (float[n, D] or None): unit appearance vectors (``tracking.appearance.embed_detections``);
        when every frame with detections has them, Eq. 7 gets the appearance term.
    """

    centroids: np.ndarray
    areas: np.ndarray
    masks: np.ndarray | None = None
    cell_types: np.ndarray | None = None
    embeddings: np.ndarray | None = None

    def __post_init__(self) -> None:
        c = np.asarray(self.centroids, dtype=float).reshape(-1, 2)
        a = np.asarray(self.areas, dtype=float).reshape(-1)
        if a.shape[0] != c.shape[0]:
            raise ValueError(f"{c.shape[0]} centroids but {a.shape[0]} areas")
        if self.masks is not None and np.asarray(self.masks).shape[0] != c.shape[0]:
            raise ValueError(f"{c.shape[0]} centroids but {np.asarray(self.masks).shape[0]} masks")
        if self.cell_types is not None and np.asarray(self.cell_types).shape[0] != c.shape[0]:
            raise ValueError(f"{c.shape[0]} centroids but {np.asarray(self.cell_types).shape[0]} cell types")
        if self.embeddings is not None and np.asarray(self.embeddings).shape[0] != c.shape[0]:
            raise ValueError(f"{c.shape[0]} centroids but {np.asarray(self.embeddings).shape[0]} embeddings")
        object.__setattr__(self, "centroids", c)
        object.__setattr__(self, "areas", a)

    @property
    def n(self) -> int:
        return int(self.centroids.shape[0])

    @classmethod
    def empty(cls) -> WellFrameDetections:
        return cls(centroids=np.zeros((0, 2)), areas=np.zeros(0))


@dataclass
class WellTracks:
    """The tracks of one well: K tracks over T frames.

    positions (float[T, K, 2]): refined (y, x) px (step 3); NaN where the track is absent.
    positions_linked (float[T, K, 2]): the same after step 2 (detections + gap filling),
        before refinement; detected frames hold the detector's centroid.
    source (int8[T, K]): ABSENT (0), DETECTED (1) or INTERPOLATED (2); see ``SOURCE_NAMES``.
    detection_index (int[T, K]): index into that frame's detections, -1 where not detected.
    areas (float[T, K]): area of the linked detection (px^2), NaN where not detected.
    link_cost (float[T, K]): Eq. 7 cost of the link into this detection from the track's
        previous detection; NaN at a track's first detection and where not detected.
    fb_agree (bool[T, K]): the forward and backward passes link this detection to the same
        previous detection (True at a track's first detection when both passes start a
        track there; at interpolated frames, the value of the next detection's link).
    start_reason, end_reason (list[str], length K): why a track starts ("movie_start",
        "mitosis", "fragment", "appeared") and ends ("movie_end", "merged", "lost",
        "fragment").
    parent (int[K]): track id of the mother (mitosis) or the dying cell (fragment), else -1.
    n_expected: N from the containment constraint (see ``linking.estimate_cell_count``).
    step_ms: wall time of each step (ms), for run metadata.
    n_debris: static debris objects kept out of linking (``debris.static_debris``); their
        detections are in no track.
    """

    positions: np.ndarray
    positions_linked: np.ndarray
    source: np.ndarray
    detection_index: np.ndarray
    areas: np.ndarray
    link_cost: np.ndarray
    fb_agree: np.ndarray
    start_reason: list[str]
    end_reason: list[str]
    parent: np.ndarray
    n_expected: int
    step_ms: dict[str, float] = field(default_factory=dict)
    n_debris: int = 0

    @property
    def n_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_tracks(self) -> int:
        return int(self.positions.shape[1])

    def to_columns(self) -> dict[str, np.ndarray]:
        """Long-format columns, one row per (track, frame) where the track exists.

        Columns are ``RECORD_COLUMNS``: track_id (int), frame (int), y, x (float px,
        refined), area (float px^2, NaN if interpolated), source (str), link_cost (float),
        fb_agree (bool). Rows are sorted by track_id, then frame.
        """
        k_idx, t_idx = np.nonzero(self.source.T != ABSENT)
        names = np.asarray(SOURCE_NAMES, dtype=object)
        return {
            "track_id": k_idx.astype(np.int64),
            "frame": t_idx.astype(np.int64),
            "y": self.positions[t_idx, k_idx, 0],
            "x": self.positions[t_idx, k_idx, 1],
            "area": self.areas[t_idx, k_idx],
            "source": names[self.source[t_idx, k_idx]],
            "link_cost": self.link_cost[t_idx, k_idx],
            "fb_agree": self.fb_agree[t_idx, k_idx],
        }

    def to_records(self) -> list[dict[str, Any]]:
        """The rows of ``to_columns`` as dicts with plain Python values."""
        cols = self.to_columns()
        n = cols["frame"].shape[0]
        return [{c: cols[c][i].item() if hasattr(cols[c][i], "item") else cols[c][i] for c in RECORD_COLUMNS} for i in range(n)]
