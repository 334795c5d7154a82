"""Step 1: best-N Hungarian linking, forward and backward, with explicit count changes.

Containment (paper section 2.3): a nanowell keeps its cells, so a confirmed track never
ends during linking; at every frame the K confirmed tracks take the best min(K, n) of the
n detections (Hungarian on the Eq. 7 cost, ``costs.link_cost_matrix``; with more tracks than
detections a track that started with the movie or by a birth pays ``miss_cost`` for taking
none, so a later extra track misses first: ``containment_assignment``). A track without a
detection is carried by its constant-velocity prediction (a missed detection or merged
masks: step 2 fills it). Detections left over start tentative tracks; one that persists
``min_new_track_frames`` frames becomes a track, and the count history decides why: a
cell missed from the start (``movie_start``), a birth next to an existing track
(``fragment`` when it is small next to its parent; ``mitosis`` when that track shrinks at
the birth and the two are alike in size, as daughters are), or ``appeared``. Tracks that
did not start by a birth, beyond the well's cell count N and rarely detected, are extra
instances of the detector and are dropped (``_drop_surplus``).

Multiple hypotheses (``TrackerParams.beam_width``): a frame-by-frame Hungarian commits to
each frame's cheapest assignment, and between look-alike cells one frame of motion can
outweigh one frame of appearance. So the pass keeps a beam of association histories:
every frame each one branches into its k cheapest assignments (``k_best_assignments``,
Murty's method) that differ only in who takes which detection, and the best
``beam_width`` histories by summed cost (Eq. 7 plus ``beam_scale_weight`` x log s_i per
link, the normaliser of the motion terms) within ``beam_margin`` of the best go on. Width
1 is the greedy linker.

The same pass runs on the reversed movie; ``reconcile`` compares the two.
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from lftiming_ml.tracking.config import TrackerParams
from lftiming_ml.tracking.costs import (
    Box,
    small_median,
    centred_mask_crops,
    contact_pairs,
    contact_swap_indicator,
    area_dissimilarity,
    elongation_dissimilarity,
    equivalent_radius,
    link_cost_matrix,
    mask_elongation,
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


def k_best_assignments(cost: np.ndarray, k: int, margin: float) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """The ``k`` cheapest assignments of ``cost (float[K, n])`` within ``margin`` of the
    cheapest (Murty's partitioning, each subproblem solved by ``linear_sum_assignment``):
    [(total, rows int[m], cols int[m])], cheapest first; m = min(K, n). Each assignment
    after the first differs from it in at least one link."""
    c = np.asarray(cost, dtype=float)
    rows, cols = linear_sum_assignment(c)
    best = float(c[rows, cols].sum())
    out = [(best, rows, cols)]
    if k <= 1 or min(c.shape) == 0:
        return out
    # Each open subproblem: (total, tie-break, rows, cols, matrix, links forced in it).
    heap: list[tuple[float, int, np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]] = []
    order = itertools.count()

    def branch(rows: np.ndarray, cols: np.ndarray, m: np.ndarray, forced: list[tuple[int, int]]) -> None:
        sub, forced = m.copy(), list(forced)
        for r, cc in zip(rows.tolist(), cols.tolist()):
            if (r, cc) in forced:
                continue
            excl = sub.copy()  # the links forced so far, and not this one
            excl[r, cc] = _NO_LINK
            er, ec = linear_sum_assignment(excl)
            total = float(excl[er, ec].sum())
            if total < _NO_LINK and total <= best + margin:
                heapq.heappush(heap, (total, next(order), er, ec, excl, list(forced)))
            keep = sub[r, cc]  # force this link in the next subproblems
            sub[r, :] = _NO_LINK
            sub[:, cc] = _NO_LINK
            sub[r, cc] = keep
            forced.append((r, cc))

    branch(rows, cols, c, [])
    while heap and len(out) < k:
        total, _, r, cc, m, forced = heapq.heappop(heap)
        out.append((total, r, cc))
        branch(r, cc, m, forced)
    return out


def containment_assignment(cost: np.ndarray, miss: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The cheapest min(K, n) links of ``cost (float[K, n])`` (containment: every detection
    is taken while tracks are left), where with more tracks than detections track i pays
    ``miss (float[K])`` for taking none: (rows int[m], cols int[m], summed miss costs)."""
    k, n = cost.shape
    if k <= n:
        rows, cols = linear_sum_assignment(cost)
        return rows, cols, 0.0
    rows, cols = linear_sum_assignment(np.hstack([cost, np.repeat(np.asarray(miss, dtype=float)[:, None], k - n, axis=1)]))
    real = cols < n
    return rows[real], cols[real], float(np.sum(np.asarray(miss)[rows[~real]]))


@dataclass(frozen=True)
class FrameData:
    """One frame's detections prepared for linking: centroids (float[n, 2], (y, x) px),
    areas (float[n], px^2), radii (float[n], px), crops (bool[n, S, S] centred masks or None),
    embeddings (float[n, D] unit appearance vectors or None), elongations (float[n] mask
    elongations or None)."""

    centroids: np.ndarray
    areas: np.ndarray
    radii: np.ndarray
    crops: np.ndarray | None
    embeddings: np.ndarray | None = None
    elongations: np.ndarray | None = None

    def subset(self, idx: np.ndarray) -> FrameData:
        """The detections ``idx`` (int[m]) of this frame."""
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        return FrameData(self.centroids[idx], self.areas[idx], self.radii[idx], pick(self.crops), pick(self.embeddings),
                         pick(self.elongations))

    @property
    def n(self) -> int:
        return int(self.centroids.shape[0])


def prepare_frames(detections: list[WellFrameDetections]) -> list[FrameData]:
    """Radii, centred mask crops and mask elongations (when every frame with detections has
    masks), and the appearance embeddings (when every frame with detections has them)."""
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
        elong = mask_elongation(d.masks) if have_masks and d.n > 0 else None
        emb = np.asarray(d.embeddings, dtype=float).reshape(d.n, -1) if have_emb and d.n > 0 else None
        out.append(FrameData(d.centroids, d.areas, equivalent_radius(d.areas), crops, emb, elong))
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
        self.elongations: list[float] | None = None if frame.elongations is None else [float(frame.elongations[j])]
        self.confirmed = False
        self.start_reason = "movie_start"
        self.parent = -1

    def clone(self) -> _Track:
        """An independent copy (its lists copied; arrays are never modified in place)."""
        out = object.__new__(_Track)
        out.__dict__.update(self.__dict__)
        for name in ("frames", "dets", "costs", "positions", "area_history", "embeddings", "elongations"):
            value = getattr(self, name)
            setattr(out, name, None if value is None else list(value))
        return out

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
        if self.elongations is not None and frame.elongations is not None:
            self.elongations.append(float(frame.elongations[j]))
        else:
            self.elongations = None


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
    # Plain floats, not numpy (two points per call, many calls per frame); the same values as
    # ``fold_into_box`` on the stacked points: unchanged when all four coordinates are inside.
    y0, x0, y1, x1 = _inset(well_box, radius)
    ly, lx = float(positions[-1][0]), float(positions[-1][1])
    vy = vx = 0.0
    if len(frames) >= 2 and frames[-1] - frames[-2] <= params.velocity_horizon:
        dt = frames[-1] - frames[-2]
        vy, vx = (ly - float(positions[-2][0])) / dt, (lx - float(positions[-2][1])) / dt
    d = params.gap_velocity_decay

    def reach(steps: int) -> float:  # 1 + d + ... + d^(steps-1)
        return float(steps) if d == 1.0 else (1 - d**steps) / (1 - d)

    s = t - frames[-1]
    r0, r1 = reach(s), reach(s + 1)
    pts = [ly + vy * r0, lx + vx * r0, ly + vy * r1, lx + vx * r1]
    lo, hi = (y0, x0, y0, x0), (y1, x1, y1, x1)
    mode = params.wall_prediction
    if mode != "none":
        if mode == "clip" or all(a <= p <= b for p, a, b in zip(pts, lo, hi)):
            pts = [min(max(p, a), b) for p, a, b in zip(pts, lo, hi)]
        else:  # triangle wave: reflection off both walls, any distance
            out = []
            for p, a, b in zip(pts, lo, hi):
                span = max(b - a, 1e-9)
                u = (p - a) % (2 * span)
                out.append(a + (2 * span - u if u > span else u))
            pts = out
    return np.array(pts[:2]), np.array(pts[2:])


@dataclass(frozen=True)
class TrackState:
    """What Eq. 7 needs of a track at frame t: position ``now`` and prediction ``pred`` for
    t+1 (float[2], (y, x) px), motion ``scale`` (px), reference ``area`` (px^2),
    ``embedding`` (float[D], unit mean appearance, or None) and reference ``elongations``
    (float[m], the elongations of its last polarized masks, or None)."""

    now: np.ndarray
    pred: np.ndarray
    scale: float
    area: float
    embedding: np.ndarray | None = None
    elongations: np.ndarray | None = None


def track_state(
    frames: list[int], positions: list[np.ndarray], areas: list[float], t: int, well_box: Box,
    params: TrackerParams, radius: float = 0.0, embeddings: list[np.ndarray] | None = None,
    elongations: list[float] | None = None,
) -> TrackState:
    """``TrackState`` at frame t of a track detected at ``frames`` (increasing, last <= t).

    scale: ``motion_scale`` of the per-frame steps between its last ``motion_history + 1``
    detections; area: median of its last ``area_history`` detected areas (robust to one
    odd mask, follows slow changes such as a dying cell shrinking); embedding: normalised
    mean of its last ``appearance_history`` embeddings (None without); elongations: of its
    ``elongation_history`` last detections above ``elongation_split`` (None without masks).
    """
    now, pred = track_kinematics(frames, positions, t, well_box, params, radius)
    m = params.motion_history
    f, pos = frames[-(m + 1):], positions[-(m + 1):]
    steps = []  # per-frame step lengths between the last detections (plain floats: a few per call)
    for i in range(1, len(f)):
        dy, dx = float(pos[i][0]) - float(pos[i - 1][0]), float(pos[i][1]) - float(pos[i - 1][1])
        steps.append(math.sqrt(dy * dy + dx * dx) / max(float(f[i] - f[i - 1]), 1.0))
    emb = None
    if embeddings:
        mean = np.mean(np.asarray(embeddings[-params.appearance_history:], dtype=float), axis=0)
        emb = mean / max(float(np.linalg.norm(mean)), 1e-9)
    elong = None
    if elongations:
        elong = np.array([e for e in elongations if e > params.elongation_split][-params.elongation_history:],
                         dtype=float)
    return TrackState(now, pred, motion_scale(steps, params.min_motion_px),
                      small_median(areas[-params.area_history:]), emb, elong)


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
    elongation = None
    if (params.w_elongation > 0 and frame.elongations is not None and states
            and all(s.elongations is not None for s in states)):
        elongation = elongation_dissimilarity([s.elongations for s in states], frame.elongations, params.elongation_split)
    swap = np.zeros((len(states), frame.n), dtype=bool)
    if radii is not None and len(states) > 1 and params.contact_swap_penalty > 0:
        touch = contact_pairs(now, radii, params.contact_factor)
        # Sides only carry identity for pairs too slow to pass each other in one frame: a
        # conjugate, two targets. Running effectors cross a cell diameter per frame.
        touch &= (scale[:, None] + scale[None, :]) <= params.swap_max_motion_factor * (radii[:, None] + radii[None, :])
        swap = contact_swap_indicator(now, nxt, touch, frame.centroids)
    return link_cost_matrix(now, nxt, frame.centroids, scale, area, shape, swap, params, appearance, elongation)


def _cost_to_frame(
    tracks: list[_Track], t: int, frame: FrameData, well_box: Box, params: TrackerParams, with_contacts: bool
) -> np.ndarray:
    """Eq. 7 cost of every track (at t) to every detection of ``frame`` (t+1),
    float[len(tracks), n], and the tracks' motion scales s_i, float[len(tracks)] (px)."""
    states = [track_state(tr.frames, tr.positions, tr.area_history, t, well_box, params, tr.radius, tr.embeddings,
                          tr.elongations) for tr in tracks]
    crops = np.stack([tr.crop for tr in tracks]) if frame.crops is not None and all(tr.crop is not None for tr in tracks) else None
    radii = np.array([tr.radius for tr in tracks]) if with_contacts else None
    return state_costs(states, crops, frame, params, radii), np.array([st.scale for st in states])


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


@dataclass
class _Hypothesis:
    """One association history of a pass: its confirmed and tentative tracks, and its score
    (the summed Eq. 7 costs of its confirmed tracks' links, plus ``beam_scale_weight`` x
    log of the track's motion scale per link)."""

    confirmed: list[_Track]
    tentative: list[_Track]
    cost: float = 0.0

    def clone(self) -> _Hypothesis:
        """An independent copy (a track's ``parent`` is an index into ``confirmed``, so it holds)."""
        return _Hypothesis([tr.clone() for tr in self.confirmed], [tr.clone() for tr in self.tentative], self.cost)


def _confirm(h: _Hypothesis, counts: np.ndarray, params: TrackerParams) -> None:
    """Tentative tracks of ``h`` that persisted ``min_new_track_frames`` frames become tracks."""
    still: list[_Track] = []
    for tr in h.tentative:
        if len(tr.frames) >= params.min_new_track_frames:
            tr.start_reason, tr.parent = _start_reason(tr, h.confirmed, counts, params)
            tr.confirmed = True
            h.confirmed.append(tr)
        else:
            still.append(tr)
    h.tentative = still


def _extend(h: _Hypothesis, t: int, frame: FrameData, links: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
            well_box: Box, counts: np.ndarray, params: TrackerParams) -> None:
    """Frame t of ``h``: its confirmed tracks take ``links`` (rows, cols, cost matrix; None
    when it has no tracks or the frame no detections), tentative tracks the best of the
    rest (gated), and what is left starts tentative tracks."""
    free = np.ones(frame.n, dtype=bool)
    if links is not None:
        rows, cols, cost = links
        for r, c in zip(rows, cols):
            h.confirmed[r].add(t, c, frame, cost[r, c])
            free[c] = False
    survivors: list[_Track] = []
    idx_free = np.nonzero(free)[0]
    if h.tentative and idx_free.size:
        sub = frame.subset(idx_free)
        cost, _ = _cost_to_frame(h.tentative, t - 1, sub, well_box, params, False)
        gated = np.where(cost <= params.new_track_max_cost, cost, _NO_LINK)
        rows, cols = linear_sum_assignment(gated)
        for r, c in zip(rows, cols):
            if gated[r, c] < _NO_LINK:
                h.tentative[r].add(t, int(idx_free[c]), frame, cost[r, c])
                free[idx_free[c]] = False
                survivors.append(h.tentative[r])
    h.tentative = survivors + [_Track(t, int(j), frame) for j in np.nonzero(free)[0]]
    _confirm(h, counts, params)


def link_pass(frames: list[FrameData], well_box: Box, params: TrackerParams) -> LinkedTracks:
    """One forward pass of step 1 over ``frames`` (pass them reversed for the backward pass).

    With ``params.beam_width`` > 1 it keeps that many association hypotheses: each frame,
    every hypothesis branches into its ``k_best_assignments`` for the confirmed tracks, and
    the cheapest children (summed Eq. 7 cost, within ``beam_margin`` of the best) go on.
    The cheapest hypothesis at the movie end is the pass's result.
    """
    n_frames = len(frames)
    counts = np.array([f.n for f in frames], dtype=int)
    hyps = [_Hypothesis([], [_Track(0, j, frames[0]) for j in range(frames[0].n)] if n_frames else [])]
    _confirm(hyps[0], counts, params)
    for t in range(1, n_frames):
        frame = frames[t]
        children: list[tuple[float, int, tuple[np.ndarray, np.ndarray, np.ndarray] | None]] = []
        for i, h in enumerate(hyps):
            if not (h.confirmed and frame.n):
                children.append((h.cost, i, None))
                continue
            cost, scale = _cost_to_frame(h.confirmed, t - 1, frame, well_box, params, True)
            norm = params.beam_scale_weight * np.log(scale)
            miss = np.array([0.0 if tr.start_reason == "appeared" else params.miss_cost for tr in h.confirmed])
            r0, c0, missed = containment_assignment(cost, miss)
            # Branch on who is who only: the tracks and detections of the cheapest assignment
            # (which tracks miss the frame, which detections are left over) are permuted. A
            # leftover detection costs nothing in the sum, so the beam must not choose it.
            sub = k_best_assignments(cost[np.ix_(r0, c0)], params.beam_width, params.beam_margin)
            options = [(total + missed, r0[rr], c0[cc]) for total, rr, cc in sub]
            for total, rows, cols in options:
                children.append((h.cost + total + float(norm[rows].sum()), i, (rows, cols, cost)))
        children.sort(key=lambda ch: ch[0])
        children = [ch for ch in children if ch[0] <= children[0][0] + params.beam_margin][: params.beam_width]
        uses = np.bincount([i for _, i, _ in children], minlength=len(hyps))
        nxt = []
        for total, i, links in children:
            h = hyps[i] if uses[i] == 1 else hyps[i].clone()  # a parent with several children is copied for each
            h.cost = total
            _extend(h, t, frame, links, well_box, counts, params)
            nxt.append(h)
        hyps = nxt
    best = hyps[0]  # children are sorted: the cheapest comes first
    confirmed, tentative = best.confirmed, best.tentative
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
