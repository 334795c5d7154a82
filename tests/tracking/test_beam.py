"""Multiple-hypothesis linking: k-best assignments and a beam over association histories."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from synthetic_wells import CROSSING_BOX as BOX, bouncing_lookalikes

from lftiming_ml.metrics import mota
from lftiming_ml.tracking import TrackerParams, track_well
from lftiming_ml.tracking.linking import k_best_assignments


def brute_force_totals(cost: np.ndarray) -> list[float]:
    k, n = cost.shape
    if k <= n:
        return sorted(sum(cost[i, p[i]] for i in range(k)) for p in itertools.permutations(range(n), k))
    return sorted(sum(cost[p[j], j] for j in range(n)) for p in itertools.permutations(range(k), n))


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (3, 5), (5, 3), (4, 4), (5, 5)])
def test_k_best_assignments_are_the_cheapest_distinct_ones(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    for _ in range(20):
        cost = rng.uniform(0, 10, shape)
        got = k_best_assignments(cost, 6, margin=1e6)
        want = brute_force_totals(cost)[:6]
        assert [g[0] for g in got] == pytest.approx(want)
        assert all(cost[r, c].sum() == pytest.approx(total) for total, r, c in got)
        assert len({tuple(zip(r.tolist(), c.tolist())) for _, r, c in got}) == len(got)  # distinct
        assert all(r.size == min(shape) for _, r, _ in got)


def test_k_best_assignments_stop_at_the_margin() -> None:
    cost = np.array([[0.0, 1.0, 9.0], [1.0, 0.0, 9.0], [9.0, 9.0, 0.0]])
    got = k_best_assignments(cost, 10, margin=2.5)
    assert [g[0] for g in got] == pytest.approx([0.0, 2.0])  # the next one costs 10


def test_the_beam_keeps_identities_that_one_frame_of_motion_would_swap() -> None:
    dets, truth = bouncing_lookalikes(separation=0.07)
    linker = TrackerParams(reconcile=False, refine=False)
    greedy = linker.model_copy(update={"beam_width": 1})
    assert mota(truth, track_well(dets, BOX, greedy).positions, 3.0).n_id_switches > 0  # the test bites
    assert mota(truth, track_well(dets, BOX, linker).positions, 3.0).n_id_switches == 0
    blind, _ = bouncing_lookalikes(separation=0.0)  # without appearance the pass-through is the cheaper story
    assert mota(truth, track_well(blind, BOX, linker).positions, 3.0).n_id_switches > 0
