"""Step 1, last part: compare the forward and backward passes and reconcile them.

``compare_passes`` records, per detection on a forward track, whether the backward pass
gives it the same previous detection; ``reconcile`` swaps forward track tails where the
backward linking is cheaper in the symmetric (forward + backward) Eq. 7 cost, the paper's
"reconciliation of forward and reverse assignments" done locally at each disagreement.
"""

from __future__ import annotations

import numpy as np

from lftiming_ml.tracking.config import TrackerParams
from lftiming_ml.tracking.costs import Box
from lftiming_ml.tracking.linking import FrameData, LinkedTracks, TrackState, state_costs, track_state


def predecessors(det: np.ndarray) -> dict[tuple[int, int], tuple[int, int] | None]:
    """For every detection (t, j) on a track of ``det (int[T, K])``: the track's previous
    detection (t', i), or None at its first detection."""
    out: dict[tuple[int, int], tuple[int, int] | None] = {}
    for k in range(det.shape[1]):
        prev = None
        for t in np.nonzero(det[:, k] >= 0)[0]:
            out[(int(t), int(det[t, k]))] = prev
            prev = (int(t), int(det[t, k]))
    return out


def compare_passes(det_fwd: np.ndarray, det_bwd: np.ndarray) -> np.ndarray:
    """Forward/backward agreement, bool[T, K] over the forward tracks ``det_fwd (int[T, K])``.

    ``det_bwd (int[T, K'])`` are the backward tracks put back in forward time order. A
    detection agrees when both passes give it the same previous detection (or none);
    an interpolated frame takes the value of the track's next detection, and frames
    after the last detection that of the last.
    """
    pf, pb = predecessors(det_fwd), predecessors(det_bwd)
    n_frames, k = det_fwd.shape
    agree = np.zeros((n_frames, k), dtype=bool)
    for kk in range(k):
        obs = np.nonzero(det_fwd[:, kk] >= 0)[0]
        if obs.size == 0:
            continue
        vals = np.array([(int(t), int(det_fwd[t, kk])) in pb and pb[(int(t), int(det_fwd[t, kk]))] == pf[(int(t), int(det_fwd[t, kk]))] for t in obs])
        nxt = np.clip(np.searchsorted(obs, np.arange(n_frames)), 0, obs.size - 1)
        agree[:, kk] = vals[nxt]
    return agree


def _head_tail(det: np.ndarray, k: int, t: int) -> tuple[np.ndarray, np.ndarray]:
    obs = np.nonzero(det[:, k] >= 0)[0]
    return obs[obs < t], obs[obs >= t]


def _boundary_costs(
    det: np.ndarray, pair: tuple[int, int], t: int, frames: list[FrameData], well_box: Box, params: TrackerParams
) -> tuple[np.ndarray, np.ndarray] | None:
    """Eq. 7 costs (2 x 2: heads of ``pair`` before t x tails from t on), forward and
    symmetric (forward + backward), or None when a head or tail is empty."""
    heads, tails = [], []
    for k in pair:
        h, tl = _head_tail(det, k, t)
        if h.size == 0 or tl.size == 0:
            return None
        heads.append(h)
        tails.append(tl)

    def states(obs_list: list[np.ndarray], at: int, reverse: bool) -> tuple[list[TrackState], np.ndarray, list]:
        out, radii, crops, last_elong = [], [], [], []
        have_emb = all(f.embeddings is not None for f in frames if f.n > 0)
        have_elong = all(f.elongations is not None for f in frames if f.n > 0)
        m = params.motion_history + 1
        for obs, k in zip(obs_list, pair):
            seq = obs[:m][::-1] if reverse else obs[-m:]  # tails run backwards: [.., second, first]
            fr = [int(-s) if reverse else int(s) for s in seq]
            pos = [frames[s].centroids[det[s, k]] for s in seq]
            areas = [float(frames[s].areas[det[s, k]]) for s in seq]
            s_last = int(seq[-1])
            radius = float(frames[s_last].radii[det[s_last, k]])
            a = params.appearance_history
            emb = [frames[s].embeddings[det[s, k]] for s in (obs[:a][::-1] if reverse else obs[-a:])] if have_emb else None
            elong = [float(frames[s].elongations[det[s, k]]) for s in (obs[::-1] if reverse else obs)] if have_elong else None
            out.append(track_state(fr, pos, areas, -at if reverse else at, well_box, params, radius, emb, elong))
            radii.append(radius)
            crops.append(None if frames[s_last].crops is None else frames[s_last].crops[det[s_last, k]])
            last_elong.append(None if elong is None else elong[-1])
        return out, np.array(radii), crops, last_elong

    def as_frame(sts: list[TrackState], radii: np.ndarray, crops: list, last_elong: list) -> FrameData:
        """The boundary detections of the pair as a frame (area: the track's reference)."""
        embs = None if any(s.embedding is None for s in sts) else np.stack([s.embedding for s in sts])
        return FrameData(np.array([s.now for s in sts]), np.array([s.area for s in sts]), radii,
                         None if any(c is None for c in crops) else np.stack(crops), embs,
                         None if any(e is None for e in last_elong) else np.array(last_elong))

    hs, hr, hc, he = states(heads, t - 1, reverse=False)  # heads at t-1, predicted to t
    ts, tr, tc, te = states(tails, t, reverse=True)  # tails at t, predicted back to t-1
    head_frame, tail_frame = as_frame(hs, hr, hc, he), as_frame(ts, tr, tc, te)
    fwd = state_costs(hs, head_frame.crops, tail_frame, params, hr)
    bwd = state_costs(ts, tail_frame.crops, head_frame, params, tr)
    return fwd, fwd + bwd.T


def reconcile(
    linked: LinkedTracks, det_bwd: np.ndarray, frames: list[FrameData], well_box: Box, params: TrackerParams
) -> tuple[LinkedTracks, int]:
    """Swap forward track tails where the backward pass links differently and its linking
    is cheaper in the symmetric Eq. 7 cost. Returns the new tracks and the number of swaps."""
    det = linked.det.copy()
    cost = linked.cost.copy()
    pb = predecessors(det_bwd)

    def index(d: np.ndarray) -> tuple[dict, dict]:
        own = {(int(s), int(d[s, k])): k for k in range(d.shape[1]) for s in np.nonzero(d[:, k] >= 0)[0]}
        return predecessors(d), own

    pf, owner = index(det)
    n_swaps = 0
    for t in range(1, det.shape[0]):
        for k in range(det.shape[1]):
            j = int(det[t, k])
            if j < 0 or pb.get((t, j)) is None or pb[(t, j)] == pf[(t, j)]:
                continue
            k_b = owner.get(pb[(t, j)])
            if k_b is None or k_b == k:
                continue
            costs = _boundary_costs(det, (k, k_b), t, frames, well_box, params)
            if costs is None:
                continue
            fwd, sym = costs
            if sym[0, 1] + sym[1, 0] >= sym[0, 0] + sym[1, 1] - 1e-9:
                continue
            det[t:, [k, k_b]] = det[t:, [k_b, k]]
            cost[t:, [k, k_b]] = cost[t:, [k_b, k]]
            for kk, new_cost in ((k, fwd[0, 1]), (k_b, fwd[1, 0])):  # the new links into the swapped tails
                first = np.nonzero(det[t:, kk] >= 0)[0]
                if first.size:
                    cost[t + first[0], kk] = new_cost
            n_swaps += 1
            pf, owner = index(det)
    return LinkedTracks(det=det, cost=cost, start_reason=linked.start_reason, parent=linked.parent), n_swaps
