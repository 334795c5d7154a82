"""Static debris: small objects that never move, found before linking and kept out of it.

A nanowell holds dust and cell fragments besides its cells, and the detector finds some of
them in part of the frames (on simulated chips: 1-4 um particles, LOCSNET masks of 45-60 px
at scores 0.75-0.95, in 35-93% of the frames). Linked as cells they raise the containment
count N, a real cell's track jumps onto one when the cell is missed for a frame
(containment takes every detection while tracks are left), and the well's E:T count is
wrong. What sets debris apart is that it does not move: on the simulator its detected
centroids stay within 0.2-0.9 px (RMS) of their mean for the whole movie, while every cell
track on the tuning chips spread more than 0.8 px (and the small ones, below 80 px, more
than 2 px).

A detection is debris when it belongs to a *static small object*: detections of at most
``debris_max_area_px`` px, chained across frames by centroid distance up to
``debris_link_px`` (connected components of the radius graph, ``scipy.spatial.cKDTree``),
form an object that is seen in at least ``debris_min_frames`` frames, at most once per
frame, with centroids within ``debris_max_spread_px`` (RMS) of their mean, and that was
there first: the last detection at its place (within the radius of a disc of
``debris_max_area_px``) before its first frame, if any, is not larger than debris. So an apoptotic cell that stops and shrinks
below the area bound is not debris (on chip 44 two did, seen small from frame 19 and 43,
each where the cell had been detected larger the frame before), while dust is small from
the start. A cell that moves, a large cell (a dead target stays put but is large) and any
object seen in a short movie are never debris.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from lftiming_ml.tracking.config import TrackerParams
from lftiming_ml.tracking.types import WellFrameDetections


def static_debris(detections: Sequence[WellFrameDetections], params: TrackerParams) -> tuple[list[np.ndarray], int]:
    """Which detections are static debris: (one bool[n_t] per frame, True = debris; the
    number of debris objects). None is debris when ``params.debris_max_area_px`` is 0."""
    flags = [np.zeros(d.n, dtype=bool) for d in detections]
    if params.debris_max_area_px <= 0 or len(detections) < params.debris_min_frames:
        return flags, 0
    frame_of, index_of, points = [], [], []
    for t, d in enumerate(detections):
        small = np.flatnonzero(d.areas <= params.debris_max_area_px)
        frame_of.extend([t] * small.size)
        index_of.extend(small.tolist())
        points.extend(d.centroids[small])
    if len(points) < params.debris_min_frames:
        return flags, 0
    pts = np.asarray(points, dtype=float)
    frame_of_a, index_of_a = np.asarray(frame_of), np.asarray(index_of)
    pairs = cKDTree(pts).query_pairs(params.debris_link_px, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(pts), len(pts))) if len(pairs) else \
        coo_matrix((len(pts), len(pts)))
    n_comp, label = connected_components(graph, directed=False)
    n_objects = 0
    for c in range(n_comp):
        members = np.flatnonzero(label == c)
        frames = frame_of_a[members]
        if members.size < params.debris_min_frames or np.unique(frames).size != members.size:
            continue
        p = pts[members]
        spread = float(np.sqrt(np.mean(np.sum((p - p.mean(axis=0)) ** 2, axis=1))))
        if spread > params.debris_max_spread_px or _shrank_from_a_cell(detections, int(frames.min()), p.mean(axis=0), params):
            continue
        n_objects += 1
        for t, i in zip(frames, index_of_a[members]):
            flags[t][i] = True
    return flags, n_objects


def _shrank_from_a_cell(detections: Sequence[WellFrameDetections], first: int, centre: np.ndarray,
                        params: TrackerParams) -> bool:
    """Whether the last detection before frame ``first`` within the largest debris radius
    (``debris_max_area_px`` as a disc) of ``centre (float[2])`` is larger than debris can be."""
    radius = float(np.sqrt(params.debris_max_area_px / np.pi))
    for t in range(first - 1, -1, -1):
        d = detections[t]
        if d.n == 0:
            continue
        near = np.linalg.norm(d.centroids - centre, axis=1) <= radius
        if near.any():
            return bool((d.areas[near] > params.debris_max_area_px).any())
    return False


def without(detections: WellFrameDetections, drop: np.ndarray) -> tuple[WellFrameDetections, np.ndarray]:
    """``detections`` without those flagged in ``drop (bool[n])``, and the original index of
    each kept one (int[m])."""
    keep = np.flatnonzero(~np.asarray(drop, dtype=bool))
    if keep.size == detections.n:
        return detections, keep
    pick = lambda a: None if a is None else np.asarray(a)[keep]  # noqa: E731
    return WellFrameDetections(detections.centroids[keep], detections.areas[keep], pick(detections.masks),
                               pick(detections.cell_types), pick(detections.embeddings)), keep


__all__ = ["static_debris", "without"]
