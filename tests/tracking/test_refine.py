"""Step 3: the Eq. 8 QP keeps centroids in the well and is the same problem when cached."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
from synthetic_wells import make_well

from lftiming_ml.tracking import TrackerParams, WellFrameDetections, track_well
from lftiming_ml.tracking.refine import (
    build_refinement_problem,
    cached_refinement_problem,
    refine_tracks,
    refinement_inputs,
    solve_direct,
    solve_qp,
)


def noisy_outside(seed: int) -> tuple[list[WellFrameDetections], tuple[float, float, float, float]]:
    """Cells hugging the walls with detections jittered up to 6 px outside the well."""
    well = make_well(3, speed=(20.0, 40.0), jitter_px=4.0, radius_range=(1.0, 2.0), seed=seed)
    return well.detections, well.well_box


def test_box_constraints_hold_after_refinement() -> None:
    n_outside = 0
    for seed in range(3):
        dets, box = noisy_outside(seed)
        allc = np.concatenate([d.centroids for d in dets])
        n_outside += int(np.sum((allc < box[0]) | (allc > box[2])))
        for margin in (0.0, 2.0):
            tracks = track_well(dets, box, TrackerParams(wall_margin_px=margin, smoothness=0.5))
            pos = tracks.positions[np.isfinite(tracks.positions[..., 0])]
            assert pos.size
            assert np.all(pos >= np.array(box[:2]) + margin) and np.all(pos <= np.array(box[2:]) - margin)
    assert n_outside > 0  # the input really had centroids outside the well


def test_cached_dpp_problem_matches_a_fresh_solve() -> None:
    dets, box = noisy_outside(4)
    tracks = track_well(dets, box, TrackerParams(refine=False))
    fidelity = np.where(tracks.source == 1, 1.0, 0.1)
    linked = tracks.positions_linked.copy()
    linked[10:13, 0, 0], linked[30:33, 1, 1] = box[0] - 15.0, box[3] + 15.0  # make sure walls are active
    inputs = refinement_inputs(linked, fidelity, box, smoothness=0.5, margin=0.0)
    t, m = inputs.target.shape
    cached_refinement_problem(t, m)
    hits = cached_refinement_problem.cache_info().hits
    cached = solve_qp(inputs, eps=1e-9)
    assert cached_refinement_problem.cache_info().hits == hits + 1
    fresh = solve_qp(inputs, eps=1e-9, problem=build_refinement_problem(t, m))
    np.testing.assert_allclose(cached, fresh, atol=1e-6)
    # an independent solver on an independently written problem (no DPP, no cache)
    x = cp.Variable((t, m))
    d2 = np.diff(np.eye(t), n=2, axis=0)
    fid = cp.sum(cp.multiply(inputs.fidelity, cp.square(x - inputs.target)))
    smooth = cp.sum(cp.multiply(inputs.smoothness, cp.square(d2 @ x)))
    cp.Problem(cp.Minimize(fid + smooth), [x >= inputs.lower, x <= inputs.upper]).solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    present = inputs.present
    np.testing.assert_allclose(cached[present], x.value[present], atol=1e-6)
    assert np.any(np.isclose(cached, inputs.lower) | np.isclose(cached, inputs.upper))  # walls were active


def test_direct_solve_is_the_qp_optimum_when_no_wall_is_active() -> None:
    well = make_well(2, speed=(2.0, 4.0), radius_range=(12.0, 14.0), seed=9)
    tracks = track_well(well.detections, well.well_box, TrackerParams(refine=False))
    fidelity = np.where(tracks.source == 1, 1.0, 0.1)
    direct, used = refine_tracks(tracks.positions_linked, fidelity, well.well_box, smoothness=0.5)
    assert used == "direct"
    qp, used_qp = refine_tracks(tracks.positions_linked, fidelity, well.well_box, smoothness=0.5, method="qp")
    assert used_qp == "qp"
    np.testing.assert_allclose(direct, qp, atol=1e-6)
    inputs = refinement_inputs(tracks.positions_linked, fidelity, well.well_box, 0.5, 0.0)
    assert np.all((solve_direct(inputs) > inputs.lower) & (solve_direct(inputs) < inputs.upper))


def test_refinement_smooths_jitter() -> None:
    well = make_well(1, speed=(3.0, 3.0), jitter_px=2.0, radius_range=(12.0, 12.0), seed=10)
    raw = track_well(well.detections, well.well_box, TrackerParams(refine=False))
    smooth = track_well(well.detections, well.well_box, TrackerParams(smoothness=2.0))
    err_raw = np.linalg.norm(raw.positions - well.truth, axis=-1).mean()
    err_smooth = np.linalg.norm(smooth.positions - well.truth, axis=-1).mean()
    assert err_smooth < err_raw
