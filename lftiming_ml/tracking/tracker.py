"""``track_well``: the three steps of paper section 2.3 for one nanowell movie.

0. Static debris (``debris``): small objects that never move are kept out of linking.
1. Link (``linking``): N from the containment constraint (debris not counted), best-N Hungarian linking on the
   Eq. 7 cost forward and backward, count changes as explicit births, reconciliation.
2. Fill (``gaps``): a missed cell hidden in a neighbour's merged mask at that mask, the
   other missed detections inside a track's span by minimum velocity.
3. Refine (``refine``): Eq. 8 smoothness + fidelity with the well walls as a box.

A track spans the movie from its start (frame 0 for ``movie_start``, its first detection
for births) to the end, unless its detections stop more than ``max_tail_gap`` frames before
the end: then it ends at its last detection with a reason ("merged" when it was touching
another track there, "fragment" for a fragment, else "lost"). At a mitosis the mother's track continues on
one daughter (the simulator's ground truth ends the mother and starts two daughters; MOTA
does not count that as a switch); the other daughter's track starts with reason "mitosis"
and ``parent`` set.
"""

from __future__ import annotations

import time

import numpy as np

from lftiming_ml.tracking.config import TrackerParams
from lftiming_ml.tracking.costs import Box, area_change_noise, contact_pairs
from lftiming_ml.tracking.debris import static_debris, without
from lftiming_ml.tracking.gaps import fill_gaps, hidden_in_merged
from lftiming_ml.tracking.linking import estimate_cell_count, link_pass, prepare_frames
from lftiming_ml.tracking.reconcile import compare_passes, reconcile
from lftiming_ml.tracking.refine import refine_tracks
from lftiming_ml.tracking.types import ABSENT, DETECTED, INTERPOLATED, WellFrameDetections, WellTracks


def _spans_and_end_reasons(
    det: np.ndarray, observed: np.ndarray, radii: np.ndarray, start_reason: list[str], params: TrackerParams
) -> tuple[np.ndarray, list[str]]:
    """span (bool[T, K]) where each track exists, and its end reason."""
    n_frames, k = det.shape
    span = np.zeros((n_frames, k), dtype=bool)
    reasons = []
    seen = det >= 0
    first = np.where(seen.any(0), seen.argmax(0), 0)
    last = np.where(seen.any(0), n_frames - 1 - seen[::-1].argmax(0), -1)
    provisional = fill_gaps(observed, (np.arange(n_frames)[:, None] >= first) & (np.arange(n_frames)[:, None] <= last))
    for kk in range(k):
        start = 0 if start_reason[kk] == "movie_start" else int(first[kk])
        if n_frames - 1 - last[kk] <= params.max_tail_gap:
            span[start:, kk] = True
            reasons.append("movie_end")
            continue
        span[start : last[kk] + 1, kk] = True
        t = int(last[kk])
        touch = contact_pairs(provisional[t], np.nan_to_num(radii[t]), params.contact_factor)[kk]
        if touch.any():
            reasons.append("merged")
        elif start_reason[kk] == "fragment":
            reasons.append("fragment")
        else:
            reasons.append("lost")
    return span, reasons


def area_weighted_params(frames: list, params: TrackerParams) -> TrackerParams:
    """``params`` with w_area and w_elongation scaled down by ``area_noise_reference /
    area_change_noise`` when this well's masks change area more than the reference (see
    ``TrackerParams``): noisier masks make weaker evidence of size and of shape."""
    if params.area_noise_reference is None or params.w_area == 0:
        return params
    noise = area_change_noise([f.centroids for f in frames], [f.areas for f in frames], [f.radii for f in frames])
    if not np.isfinite(noise) or noise <= params.area_noise_reference:
        return params
    scale = params.area_noise_reference / noise
    return params.model_copy(update={"w_area": params.w_area * scale, "w_elongation": params.w_elongation * scale})


def _empty_tracks(n_frames: int, n_expected: int, step_ms: dict[str, float], n_debris: int = 0) -> WellTracks:
    return WellTracks(
        positions=np.full((n_frames, 0, 2), np.nan),
        positions_linked=np.full((n_frames, 0, 2), np.nan),
        source=np.zeros((n_frames, 0), dtype=np.int8),
        detection_index=np.full((n_frames, 0), -1, dtype=int),
        areas=np.full((n_frames, 0), np.nan),
        link_cost=np.full((n_frames, 0), np.nan),
        fb_agree=np.zeros((n_frames, 0), dtype=bool),
        start_reason=[],
        end_reason=[],
        parent=np.zeros(0, dtype=int),
        n_expected=n_expected,
        step_ms=step_ms,
        n_debris=n_debris,
    )


def track_well(
    detections: list[WellFrameDetections], well_box: Box, params: TrackerParams | None = None
) -> WellTracks:
    """Track the cells of one nanowell.

    detections: one ``WellFrameDetections`` per frame (T entries, may be empty frames);
        centroids (float[n, 2], (y, x) px of the well crop), areas (float[n], px^2),
        optional masks (bool[n, H, W]) used for the shape term of Eq. 7.
    well_box: (y0, x0, y1, x1), the well interior in the same px; refined centroids stay
        inside it (minus ``params.wall_margin_px``).
    Returns ``WellTracks`` with K tracks over T frames (``detection_index`` into
    ``detections``; detections of static debris, ``n_debris`` objects, are in no track);
    ``step_ms`` holds the time of "link" (debris, both passes + reconciliation), "fill" and
    "refine".
    """
    p = params or TrackerParams()
    box = tuple(float(v) for v in well_box)
    if not (box[2] > box[0] and box[3] > box[1]):
        raise ValueError(f"well_box must be (y0, x0, y1, x1) with y1 > y0 and x1 > x0, got {well_box}")
    n_frames = len(detections)
    step_ms: dict[str, float] = {}
    t0 = time.perf_counter()
    debris, n_debris = static_debris(detections, p)
    kept = [without(d, f) for d, f in zip(detections, debris)]
    frames = prepare_frames([d for d, _ in kept])
    counts = np.array([f.n for f in frames], dtype=int)
    n_expected = estimate_cell_count(counts, p.count_support_fraction)
    p = area_weighted_params(frames, p)
    forward = link_pass(frames, box, p)
    backward = link_pass(frames[::-1], box, p)
    det_bwd = backward.det[::-1]
    if p.reconcile and forward.n_tracks > 1:
        forward, _ = reconcile(forward, det_bwd, frames, box, p)
    fb_agree = compare_passes(forward.det, det_bwd)
    step_ms["link"] = 1e3 * (time.perf_counter() - t0)
    k = forward.n_tracks
    if k == 0:
        return _empty_tracks(n_frames, n_expected, {**step_ms, "fill": 0.0, "refine": 0.0}, n_debris)

    t1 = time.perf_counter()
    det = forward.det
    seen = det >= 0
    observed = np.full((n_frames, k, 2), np.nan)
    areas = np.full((n_frames, k), np.nan)
    radii = np.full((n_frames, k), np.nan)
    for t, kk in zip(*np.nonzero(seen)):
        observed[t, kk] = frames[t].centroids[det[t, kk]]
        areas[t, kk] = frames[t].areas[det[t, kk]]
        radii[t, kk] = frames[t].radii[det[t, kk]]
    span, end_reason = _spans_and_end_reasons(det, observed, radii, forward.start_reason, p)
    anchors = observed
    if p.merged_area_ratio > 0:
        hidden = hidden_in_merged(observed, areas, span, p.merged_area_ratio, p.merged_reach_factor, p.min_motion_px)
        anchors = np.where(np.isfinite(hidden), hidden, observed)
    filled = fill_gaps(anchors, span)
    step_ms["fill"] = 1e3 * (time.perf_counter() - t1)

    t2 = time.perf_counter()
    if p.refine:
        fidelity = np.where(seen, 1.0, p.interpolated_fidelity)
        refined, _ = refine_tracks(filled, fidelity, box, smoothness=p.smoothness, margin=p.wall_margin_px, eps=p.solver_eps)
    else:
        m = p.wall_margin_px
        refined = np.clip(filled, [box[0] + m, box[1] + m], [box[2] - m, box[3] - m])
    step_ms["refine"] = 1e3 * (time.perf_counter() - t2)

    source = np.full((n_frames, k), ABSENT, dtype=np.int8)
    source[span] = INTERPOLATED
    source[seen & span] = DETECTED
    original = np.full((n_frames, k), -1, dtype=int)  # indices into ``detections``, debris included
    for t, kk in zip(*np.nonzero(seen & span)):
        original[t, kk] = kept[t][1][det[t, kk]]
    return WellTracks(
        positions=refined,
        positions_linked=filled,
        source=source,
        detection_index=original,
        areas=areas,
        link_cost=np.where(seen & span, forward.cost, np.nan),
        fb_agree=fb_agree & span,
        start_reason=list(forward.start_reason),
        end_reason=end_reason,
        parent=forward.parent.copy(),
        n_expected=n_expected,
        step_ms=step_ms,
        n_debris=n_debris,
    )
