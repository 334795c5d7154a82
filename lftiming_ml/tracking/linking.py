"""Step 1: best-N Hungarian linking, forward and backward, with explicit count changes.

Containment (paper section 2.3): a nanowell keeps its cells, so a confirmed track never
ends during linking; at every frame the K confirmed tracks take the best min(K, n) of the
n detections (Hungarian on the Eq. 7 cost, ``costs.link_cost_matrix``). A track without a
detection is carried by its constant-velocity prediction (a missed detection or merged
masks: step 2 fills it). Detections left over start tentative tracks; one that persists
``min_new_track_frames`` frames becomes a track, and the count history decides why: a
cell missed from the start (``movie_start``), a birth next to an existing track
(``fragment`` when it is small next to its parent; ``mitosis`` when that track shrinks at
the birth and the two are alike in size, as daughters are), or ``appeared``. Tracks that
did not start by a birth, beyond the well's cell count N and rarely detected, are extra
instances of the detector and are dropped (``_drop_surplus``).

The same pass runs on the reversed movie; ``reconcile`` compares the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from lftiming_ml.tracking.config import TrackerParams
from lftiming_ml.tracking.costs import (
    Box,
    centred_mask_crops,
    contact_pairs,
    contact_swap_indicator,
    area_dissimilarity,
    equivalent_radius,
    fold_into_box,
    link_cost_matrix,
    motion_scale,
    shape_dissimilarity,
)
from lftiming_ml.tracking.types import WellFrameDetections

_NO_LINK = 1e9


def estimate_cell_count(counts: np.ndarray, support_fraction: float) -> int:
    """N from the containment constraint: a robust mode of ``counts (int[T])`` per frame.

    Missed detections and merged masks lower a frame's count far more often than false
    positives raise it, so the plain mode is biased low (4 cells with 20% misses: counts 3
    and 4 are equally likely). N is the largest count c such that at least
    ``support_fraction`` of frames have >= c detections; with reliable detection it is the
    mode. 0 for an empty movie.
    """
    c = np.asarray(counts, dtype=int).reshape(-1)
    if c.size == 0 or c.max() <= 0:
        return 0
    for n in range(int(c.max()), 0, -1):
        if np.mean(c >= n) >= support_fraction:
            return n
    return 0


@dataclass(frozen=True)
class FrameData:
    """One frame's detections prepared for linking: centroids (float[n, 2], (y, x) px),
    areas (float[n], px^2), radii (float[n], px), crops (bool[n, S, S] centred masks or None),
    embeddings (float[n, D] unit appearance vectors or None)."""

    centroids: np.ndarray
    areas: np.ndarray
    radii: np.ndarray
    crops: np.ndarray | None
    embeddings: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.centroids.shape[0])


def prepare_frames(detections: list[WellFrameDetections]) -> list[FrameData]:
    """Radii and centred mask crops (when every frame with detections has masks), and the
    appearance embeddings (when every frame with detections has them)."""
    have_emb = all(d.embeddings is not None for d in detections if d.n > 0) and any(d.n > 0 for d in detections)
    have_masks = all(d.masks is not None for d in detections if d.n > 0) and any(d.n > 0 for d in detections)
    half = 0
    if have_masks:
        for d in detections:
            for m, c in zip(np.asarray(d.masks, dtype=bool), d.centroids):
                rows, cols = np.nonzero(m.any(1))[0], np.nonzero(m.any(0))[0]
                if rows.size:
                    ext = max(abs(rows[0] - c[0]), abs(rows[-1] - c[0]), abs(cols[0] - c[1]), abs(cols[-1] - c[1]))
                    half = max(half, int(np.ceil(ext)) + 1)
    out = []
    for d in detections:
        crops = centred_mask_crops(d.masks, d.centroids, half) if have_masks and d.n > 0 else None
        emb = np.asarray(d.embeddings, dtype=float).reshape(d.n, -1) if have_emb and d.n > 0 else None
        out.append(FrameData(d.centroids, d.areas, equivalent_radius(d.areas), crops, emb))
    return out


@dataclass
class LinkedTracks:
    """Result of one linking pass over T frames with K tracks.

    det (int[T, K]): detection index per frame, -1 where the track has no detection.
    cost (float[T, K]): Eq. 7 cost of the link into that detection, NaN at a track's
        first detection and where there is none.
    start_reason (list[str]); parent (int[K]): mother/dying track, -1 if none.
    """

    det: np.ndarray
    cost: np.ndarray
    start_reason: list[str]
    parent: np.ndarray

    @property
    def n_tracks(self) -> int:
        return int(self.det.shape[1])


class _Track:
    """Mutable state of one track during a pass."""

    def __init__(self, t: int, j: int, frame: FrameData) -> None:
        self.frames: list[int] = [t]
        self.dets: list[int] = [j]
        self.costs: list[float] = [np.nan]
        self.positions: list[np.ndarray] = [frame.centroids[j]]
        self.area = float(frame.areas[j])
        self.area_history: list[float] = [self.area]
        self.radius = float(frame.radii[j])
        self.crop = None if frame.crops is None else frame.crops[j]
        self.embeddings: list[np.ndarray] | None = None if frame.embeddings is None else [frame.embeddings[j]]
        self.confirmed = False
        self.start_reason = "movie_start"
        self.parent = -1

    def add(self, t: int, j: int, frame: FrameData, cost: float) -> None:
        self.frames.append(t)
        self.dets.append(j)
        self.costs.append(float(cost))
        self.positions.append(frame.centroids[j])
        self.area = float(frame.areas[j])
        self.area_history.append(self.area)
        self.radius = float(frame.radii[j])
        self.crop = None if frame.crops is None else frame.crops[j]
        if self.embeddings is not None and frame.embeddings is not None:
            self.embeddings.append(frame.embeddings[j])
        else:
            self.embeddings = None


def _inset(well_box: Box, radius: float) -> Box:
    """The box a centroid of a cell of ``radius`` px can reach (never empty)."""
    r = min(radius, 0.49 * (well_box[2] - well_box[0]), 0.49 * (well_box[3] - well_box[1]))
    return (well_box[0] + r, well_box[1] + r, well_box[2] - r, well_box[3] - r)


def track_kinematics(
    frames: list[int], positions: list[np.ndarray], t: int, well_box: Box, params: TrackerParams, radius: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Position at frame t and prediction at t+1 of a track last seen at frames[-1] <= t.

    v is the displacement between the last two detections per frame when they are at most
    ``velocity_horizon`` frames apart, else 0; through a gap it decays by
    ``gap_velocity_decay`` per missed frame. Both outputs float[2], (y, x) px, folded
    (``wall_prediction``) into the well inset by the cell's ``radius``.
    """
    well_box = _inset(well_box, radius)
    last = np.asarray(positions[-1], dtype=float)
    v = np.zeros(2)
    if len(frames) >= 2 and frames[-1] - frames[-2] <= params.velocity_horizon:
        v = (last - positions[-2]) / (frames[-1] - frames[-2])
    d = params.gap_velocity_decay

    def reach(steps: int) -> float:  # 1 + d + ... + d^(steps-1)
        return float(steps) if d == 1.0 else (1 - d**steps) / (1 - d)

    s = t - frames[-1]
    both = fold_into_box(np.stack([last + v * reach(s), last + v * reach(s + 1)]), well_box, params.wall_prediction)
    return both[0], both[1]


@dataclass(frozen=True)
class TrackState:
    """What Eq. 7 needs of a track at frame t: position ``now`` and prediction ``pred`` for
    t+1 (float[2], (y, x) px), motion ``scale`` (px), reference ``area`` (px^2) and
    ``embedding`` (float[D], unit mean appearance, or None)."""

    now: np.ndarray
    pred: np.ndarray
    scale: float
    area: float
    embedding: np.ndarray | None = None


def track_state(
    frames: list[int], positions: list[np.ndarray], areas: list[float], t: int, well_box: Box,
    params: TrackerParams, radius: float = 0.0, embeddings: list[np.ndarray] | None = None,
) -> TrackState:
    """``TrackState`` at frame t of a track detected at ``frames`` (increasing, last <= t).

    scale: ``motion_scale`` of the per-frame steps between its last ``motion_history + 1``
    detections; area: median of its last ``area_history`` detected areas (robust to one
    odd mask, follows slow changes such as a dying cell shrinking); embedding: normalised
    mean of its last ``appearance_history`` embeddings (None without).
    """
    now, pred = track_kinematics(frames, positions, t, well_box, params, radius)
    m = params.motion_history
    f = np.asarray(frames[-(m + 1):], dtype=float)
    pos = np.asarray(positions[-(m + 1):], dtype=float).reshape(-1, 2)
    steps = np.linalg.norm(np.diff(pos, axis=0), axis=1) / np.maximum(np.diff(f), 1.0) if f.size > 1 else np.zeros(0)
    emb = None
    if embeddings:
        mean = np.mean(np.asarray(embeddings[-params.appearance_history:], dtype=float), axis=0)
        emb = mean / max(float(np.linalg.norm(mean)), 1e-9)
    return TrackState(now, pred, motion_scale(steps, params.min_motion_px), float(np.median(areas[-params.area_history:])),
                      emb)


def state_costs(
    states: list[TrackState], crops_from: np.ndarray | None, frame: FrameData, params: TrackerParams,
    radii: np.ndarray | None = None,
) -> np.ndarray:
    """Eq. 7 cost of tracks in ``states`` to every detection of ``frame``: float[K, n].

    crops_from (bool[K, S, S] or None): the tracks' last centred masks. With ``radii``
    (float[K], px) the contact-swap term is on among these tracks.
    """
    now = np.array([s.now for s in states]).reshape(-1, 2)
    nxt = np.array([s.pred for s in states]).reshape(-1, 2)
    scale = np.array([s.scale for s in states])
    area = area_dissimilarity(np.array([s.area for s in states]), frame.areas)
    shape = shape_dissimilarity(crops_from, frame.crops, len(states), frame.n)
    appearance = None
    if frame.embeddings is not None and states and all(s.embedding is not None for s in states):
        appearance = 1.0 - np.stack([s.embedding for s in states]) @ np.asarray(frame.embeddings, dtype=float).T
    swap = np.zeros((len(states), frame.n), dtype=bool)
    if radii is not None and len(states) > 1 and params.contact_swap_penalty > 0:
        touch = contact_pairs(now, radii, params.contact_factor)
        # Sides only carry identity for pairs too slow to pass each other in one frame: a
        # conjugate, two targets. Running effectors cross a cell diameter per frame.
        touch &= (scale[:, None] + scale[None, :]) <= params.swap_max_motion_factor * (radii[:, None] + radii[None, :])
        swap = contact_swap_indicator(now, nxt, touch, frame.centroids)
    return link_cost_matrix(now, nxt, frame.centroids, scale, area, shape, swap, params, appearance)


def _cost_to_frame(
    tracks: list[_Track], t: int, frame: FrameData, well_box: Box, params: TrackerParams, with_contacts: bool
) -> np.ndarray:
    """Eq. 7 cost of every track (at t) to every detection of ``frame`` (t+1): float[len(tracks), n]."""
    states = [track_state(tr.frames, tr.positions, tr.area_history, t, well_box, params, tr.radius, tr.embeddings)
              for tr in tracks]
    crops = np.stack([tr.crop for tr in tracks]) if frame.crops is not None and all(tr.crop is not None for tr in tracks) else None
    radii = np.array([tr.radius for tr in tracks]) if with_contacts else None
    return state_costs(states, crops, frame, params, radii)


def _start_reason(new: _Track, confirmed: list[_Track], counts: np.ndarray, params: TrackerParams) -> tuple[str, int]:
    """Why a tentative track that just became a track starts: (reason, parent index or -1)."""
    t0 = new.frames[0]
    if t0 * params.count_support_fraction < 1:  # too few frames before t0 to see a count rise
        return "movie_start", -1
    k1 = len(confirmed) + 1
    before, after = counts[:t0], counts[t0:]
    count_rose = np.mean(before >= k1) < params.count_support_fraction <= np.mean(after >= k1)
    if not count_rose:
        return "movie_start", -1  # the count was already there: a cell missed until now
    best, best_d = -1, np.inf
    for idx, tr in enumerate(confirmed):
        past = [i for i, f in enumerate(tr.frames) if f <= t0]
        if not past:
            continue
        i = past[-1]
        d = float(np.linalg.norm(tr.positions[i] - new.positions[0]))
        if d <= params.birth_distance_factor * (tr.radius + new.radius) and d < best_d:
            best, best_d = idx, d
    if best < 0:
        return "appeared", -1
    mother = confirmed[best]
    parent_area = float(np.median([a for f, a in zip(mother.frames, mother.area_history) if f < t0] or [mother.area]))
    if new.area < params.fragment_area_ratio * parent_area:
        return "fragment", best
    sibling = [a for f, a in zip(mother.frames, mother.area_history) if f >= t0]
    if sibling and abs(np.log(np.median(new.area_history) / max(float(np.median(sibling)), 1.0))) > np.log(
            params.sibling_area_ratio):
        return "appeared", -1  # unlike its "sibling": a cell hidden (merged, missed) until now, not a daughter
    before = [a for f, a in zip(mother.frames, mother.area_history) if f < t0][-params.area_history:]
    if sibling and before and np.median(sibling) > params.mitosis_area_drop * np.median(before):
        return "appeared", -1  # the "mother" did not shrink: nothing divided
    return "mitosis", best


def _drop_surplus(tracks: list[_Track], n_frames: int, n_expected: int, params: TrackerParams) -> list[_Track]:
    """Containment: a well holds ``n_expected`` cells plus those born in it. Tracks that do
    not start by a birth (``movie_start``, ``appeared``) beyond ``n_expected`` are extra
    instances of the detector (a fragment, a halo, a duplicate of a cell in contact) that
    happened to persist ``min_new_track_frames`` frames. Of those, the ones with the lowest
    coverage (detections / frames from their first detection to the movie end) are dropped,
    as many as there are extra and only below ``surplus_max_coverage``: a real cell is
    detected in most frames, an extra instance in few."""
    base = [tr for tr in tracks if tr.start_reason in ("movie_start", "appeared")]
    n_extra = len(base) - n_expected
    if n_extra <= 0 or params.surplus_max_coverage <= 0:
        return tracks
    coverage = {id(tr): len(tr.frames) / max(n_frames - tr.frames[0], 1) for tr in base}
    drop = {id(tr) for tr in sorted(base, key=lambda tr: coverage[id(tr)])[:n_extra]
            if coverage[id(tr)] < params.surplus_max_coverage}
    return [tr for tr in tracks if id(tr) not in drop]


def link_pass(frames: list[FrameData], well_box: Box, params: TrackerParams) -> LinkedTracks:
    """One forward pass of step 1 over ``frames`` (pass them reversed for the backward pass)."""
    n_frames = len(frames)
    counts = np.array([f.n for f in frames], dtype=int)
    confirmed: list[_Track] = []
    tentative: list[_Track] = [_Track(0, j, frames[0]) for j in range(frames[0].n)] if n_frames else []
    for t in range(n_frames):
        if t > 0:
            frame = frames[t]
            free = np.ones(frame.n, dtype=bool)
            k_c = len(confirmed)
            if k_c and frame.n:
                cost = _cost_to_frame(confirmed, t - 1, frame, well_box, params, True)
                rows, cols = linear_sum_assignment(cost)
                for r, c in zip(rows, cols):
                    confirmed[r].add(t, c, frame, cost[r, c])
                    free[c] = False
            survivors: list[_Track] = []
            idx_free = np.nonzero(free)[0]
            if tentative and idx_free.size:
                sub = FrameData(frame.centroids[idx_free], frame.areas[idx_free], frame.radii[idx_free],
                                None if frame.crops is None else frame.crops[idx_free],
                                None if frame.embeddings is None else frame.embeddings[idx_free])
                cost = _cost_to_frame(tentative, t - 1, sub, well_box, params, False)
                gated = np.where(cost <= params.new_track_max_cost, cost, _NO_LINK)
                rows, cols = linear_sum_assignment(gated)
                for r, c in zip(rows, cols):
                    if gated[r, c] < _NO_LINK:
                        tentative[r].add(t, int(idx_free[c]), frame, cost[r, c])
                        free[idx_free[c]] = False
                        survivors.append(tentative[r])
            tentative = survivors + [_Track(t, int(j), frame) for j in np.nonzero(free)[0]]
        still: list[_Track] = []
        for tr in tentative:
            if len(tr.frames) >= params.min_new_track_frames:
                tr.start_reason, tr.parent = _start_reason(tr, confirmed, counts, params)
                tr.confirmed = True
                confirmed.append(tr)
            else:
                still.append(tr)
        tentative = still
    for tr in tentative:  # a movie shorter than min_new_track_frames: whole-movie tracks count
        if tr.frames[0] == 0 and len(tr.frames) == n_frames:
            tr.confirmed = True
            confirmed.append(tr)
    min_dets = min(params.min_track_detections, n_frames)
    kept = [tr for tr in confirmed if len(tr.frames) >= min_dets]
    kept = _drop_surplus(kept, n_frames, estimate_cell_count(counts, params.count_support_fraction), params)
    new_index = {id(tr): i for i, tr in enumerate(kept)}
    old = {i: tr for i, tr in enumerate(confirmed)}
    det = np.full((n_frames, len(kept)), -1, dtype=int)
    cost = np.full((n_frames, len(kept)), np.nan)
    parent = np.full(len(kept), -1, dtype=int)
    for k, tr in enumerate(kept):
        det[tr.frames, k] = tr.dets
        cost[tr.frames, k] = tr.costs
        if tr.parent >= 0:
            parent[k] = new_index.get(id(old[tr.parent]), -1)
    return LinkedTracks(det=det, cost=cost, start_reason=[tr.start_reason for tr in kept], parent=parent)
