"""Step 1: the contact-swap penalty, N from the containment constraint, count changes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from synthetic_wells import make_well

from lftiming_ml.metrics import mota
from lftiming_ml.tracking import TrackerParams, WellFrameDetections, track_well
from lftiming_ml.tracking.linking import containment_assignment, estimate_cell_count

BOX = (4.0, 4.0, 81.0, 81.0)


def bounce_after_contact() -> tuple[list[WellFrameDetections], np.ndarray]:
    """Two equal cells approach along y = 40, touch at frame 2, and back away.

    Constant-velocity prediction alone would send each through the other (an identity
    swap); only the contact term keeps them on their own sides.
    """
    a_x = [10.0, 25.0, 35.0, 20.0, 8.0, 15.0]
    b_x = [72.0, 58.0, 43.0, 58.0, 70.0, 62.0]
    truth = np.stack([np.stack([np.full(6, 40.0), a_x], 1), np.stack([np.full(6, 40.0), b_x], 1)], 1)  # [T, 2, 2]
    dets = []
    for t in range(6):
        order = [1, 0] if t % 2 else [0, 1]
        dets.append(WellFrameDetections(centroids=truth[t, order], areas=np.full(2, np.pi * 36.0)))
    return dets, truth


def test_contact_penalty_prevents_swap_after_contact() -> None:
    dets, truth = bounce_after_contact()
    # The pair moves ~13-15 px per frame, radii 6 px: the swap term must be allowed for
    # pairs that fast (by default it is off for pairs fast enough to pass each other).
    # The greedy linker (beam width 1): the beam alone also keeps this pair apart, as
    # the frames after the contact say more than the one at it.
    linker_only = TrackerParams(reconcile=False, refine=False, swap_max_motion_factor=3.0, beam_width=1)
    with_penalty = track_well(dets, BOX, linker_only)
    without = track_well(dets, BOX, linker_only.model_copy(update={"contact_swap_penalty": 0.0}))
    assert mota(truth, with_penalty.positions, 1.0).n_id_switches == 0
    assert mota(truth, without.positions, 1.0).n_id_switches > 0  # the test bites
    all_steps = TrackerParams(swap_max_motion_factor=3.0)
    assert mota(truth, track_well(dets, BOX, all_steps).positions, 1.0).n_id_switches == 0


def test_swap_term_is_off_for_pairs_that_can_pass_each_other() -> None:
    """By default (factor 1) the same fast pair gets no penalty: its linking equals P = 0."""
    dets, _ = bounce_after_contact()
    linker_only = TrackerParams(reconcile=False, refine=False, beam_width=1)
    a = track_well(dets, BOX, linker_only)
    b = track_well(dets, BOX, linker_only.model_copy(update={"contact_swap_penalty": 0.0}))
    np.testing.assert_array_equal(a.detection_index, b.detection_index)


@pytest.mark.parametrize("n_cells", [1, 2, 3, 4])
def test_n_expected_with_20_percent_missed_detections(n_cells: int) -> None:
    for seed in range(4):
        well = make_well(n_cells, miss_rate=0.2, seed=seed)
        counts = np.array([d.n for d in well.detections])
        assert estimate_cell_count(counts, 0.25) == n_cells
        assert track_well(well.detections, well.well_box).n_expected == n_cells


def test_plain_mode_would_be_biased_low() -> None:
    """Why N is not the plain mode: with 4 cells and 20% misses, 3 wins often."""
    wrong = 0
    for seed in range(8):
        counts = np.array([d.n for d in make_well(4, miss_rate=0.2, seed=seed).detections])
        wrong += int(np.bincount(counts).argmax() != 4)
    assert wrong > 0


def test_missed_detections_are_filled_not_new_tracks() -> None:
    well = make_well(3, miss_rate=0.2, speed=(3.0, 6.0), seed=3)
    tracks = track_well(well.detections, well.well_box)
    assert tracks.n_tracks == 3
    assert set(tracks.start_reason) == {"movie_start"} and set(tracks.end_reason) == {"movie_end"}
    assert np.all(tracks.source != 0)  # every track spans the movie (detected or interpolated)
    assert np.isfinite(tracks.positions).all()


def test_mitosis_starts_a_new_track_with_reason() -> None:
    well = make_well(2, speed=(3.0, 6.0), mitosis_frame=30, seed=1)
    tracks = track_well(well.detections, well.well_box)
    births = [k for k, r in enumerate(tracks.start_reason) if r == "mitosis"]
    assert len(births) == 1
    daughter = births[0]
    first = int(np.nonzero(tracks.source[:, daughter])[0][0])
    assert first == 30
    assert tracks.parent[daughter] >= 0 and tracks.parent[daughter] != daughter
    mother = tracks.parent[daughter]
    dist = np.linalg.norm(tracks.positions[30, mother] - tracks.positions[30, daughter])
    assert dist < 3 * well.radii[0]
    assert tracks.n_tracks == 3 and tracks.end_reason == ["movie_end"] * 3


def test_fragments_of_a_dying_cell_are_recorded() -> None:
    well = make_well(1, speed=(2.0, 3.0), radius_range=(9.0, 9.0), seed=2)
    dets = list(well.detections)
    for t in range(40, 72):  # two small pieces break off next to the cell from frame 40
        c = dets[t].centroids[0]
        pieces = np.array([c, c + [0.0, 11.0], c + [11.0, 0.0]])
        areas = np.array([dets[t].areas[0] * 0.6, 20.0, 20.0])
        dets[t] = WellFrameDetections(centroids=pieces, areas=areas)
    tracks = track_well(dets, well.well_box)
    assert tracks.start_reason.count("fragment") == 2
    assert all(tracks.parent[k] == 0 for k, r in enumerate(tracks.start_reason) if r == "fragment")
    assert tracks.start_reason[0] == "movie_start"


def test_forward_backward_agree_on_an_easy_well() -> None:
    well = make_well(2, speed=(3.0, 6.0), seed=4)
    tracks = track_well(well.detections, well.well_box)
    assert tracks.fb_agree.mean() > 0.95
    assert mota(well.truth, tracks.positions, 5.0).mota == 1.0


def _with_spurious_instance(well, frames: range, at: tuple[float, float]) -> list[WellFrameDetections]:
    """The well's detections plus one small extra instance at ``at`` during ``frames``."""
    dets = list(well.detections)
    for t in frames:
        d = dets[t]
        dets[t] = WellFrameDetections(centroids=np.vstack([d.centroids, at]), areas=np.append(d.areas, 30.0))
    return dets


def test_a_short_lived_extra_instance_does_not_become_a_track() -> None:
    well = make_well(2, speed=(3.0, 6.0), seed=5)
    dets = _with_spurious_instance(well, range(20, 26), (12.0, 12.0))  # 6 frames of 72: coverage 6/52
    kept = track_well(dets, well.well_box)
    assert kept.n_tracks == 2 and set(kept.start_reason) == {"movie_start"}
    assert track_well(dets, well.well_box, TrackerParams(surplus_max_coverage=0.0)).n_tracks == 3


def test_a_cell_detected_in_most_frames_is_not_dropped_as_surplus() -> None:
    # 3 real cells, the third missed in 40% of frames: N is 3, nothing is surplus
    well = make_well(3, speed=(3.0, 6.0), seed=6)
    rng = np.random.default_rng(0)
    dets = []
    for t, d in enumerate(well.detections):
        keep = np.ones(d.n, dtype=bool)
        j = well.truth_det[t, 2]
        if j >= 0 and rng.random() < 0.4:
            keep[j] = False
        dets.append(WellFrameDetections(centroids=d.centroids[keep], areas=d.areas[keep]))
    assert track_well(dets, well.well_box).n_tracks == 3


def _birth_beside(mother_areas: tuple[float, float], new_area: float) -> list[WellFrameDetections]:
    """A static cell (area ``mother_areas[0]`` before frame 30, ``[1]`` from it on) and, from
    frame 30, a new cell 16 px away: the count rises next to it."""
    mother, new = np.array([40.0, 40.0]), np.array([40.0, 56.0])
    return [WellFrameDetections(centroids=np.array([mother] if t < 30 else [mother, new]),
                                areas=np.array([mother_areas[0]] if t < 30 else [mother_areas[1], new_area]))
            for t in range(72)]


def test_a_cell_unlike_its_would_be_sibling_appears_rather_than_being_born() -> None:
    # the big cell halves at frame 30 (as at a division) but the new cell is far bigger than it
    dets = _birth_beside((254.0, 127.0), 200.0)
    tracks = track_well(dets, BOX)
    assert tracks.n_tracks == 2 and tracks.start_reason[1] == "appeared" and tracks.parent[1] == -1
    lenient = track_well(dets, BOX, TrackerParams(sibling_area_ratio=3.0))
    assert lenient.start_reason[1] == "mitosis" and lenient.parent[1] == 0


def test_no_mitosis_when_the_mother_does_not_shrink() -> None:
    # a cell like the first appears beside it, but the first keeps its size: nothing divided
    dets = _birth_beside((130.0, 130.0), 125.0)
    tracks = track_well(dets, BOX)
    assert tracks.n_tracks == 2 and tracks.start_reason[1] == "appeared"
    assert track_well(_birth_beside((254.0, 130.0), 125.0), BOX).start_reason[1] == "mitosis"
    assert track_well(dets, BOX, TrackerParams(mitosis_area_drop=1.5)).start_reason[1] == "mitosis"


def test_containment_assignment_is_the_cheapest_with_miss_costs() -> None:
    rng = np.random.default_rng(3)
    for k, n in [(3, 2), (4, 1), (5, 3), (2, 2), (2, 4)]:
        for _ in range(10):
            cost, miss = rng.uniform(0, 10, (k, n)), rng.uniform(0, 10, k)
            rows, cols, missed = containment_assignment(cost, miss)
            assert rows.size == min(k, n) and len(set(cols.tolist())) == cols.size  # every detection taken
            if k > n:  # brute force: which track takes each detection, the rest pay their miss cost
                best = min(sum(cost[p[j], j] for j in range(n)) + miss.sum() - miss[list(p)].sum()
                           for p in itertools.permutations(range(k), n))
                assert cost[rows, cols].sum() + missed == pytest.approx(best)
                assert missed == pytest.approx(miss.sum() - miss[rows].sum())
            else:
                assert missed == 0.0


def _duplicate_then_gone() -> list[WellFrameDetections]:
    """Two static cells; from frame 20 to 35 a duplicate instance 10 px beside cell A; from
    frame 36 A's one detection lies 6 px from A and 4 px from where the duplicate was."""
    a, dup, b = np.array([40.0, 30.0]), np.array([40.0, 40.0]), np.array([70.0, 70.0])
    dets = []
    for t in range(72):
        pts = [a, b] if t < 20 else [a, b, dup] if t <= 35 else [np.array([40.0, 36.0]), b]
        dets.append(WellFrameDetections(centroids=np.array(pts), areas=np.full(len(pts), 110.0)))
    return dets


def test_a_late_extra_track_does_not_take_over_a_cell() -> None:
    dets = _duplicate_then_gone()
    tracks = track_well(dets, BOX)
    # the duplicate's track is surplus (coverage 16 / 52) and A's track keeps A's detection
    assert tracks.n_tracks == 2
    a = int(np.flatnonzero(tracks.detection_index[0] == 0)[0])
    assert (tracks.detection_index[36:, a] == 0).all() and (tracks.source[36:, a] == 1).all()
    free = track_well(dets, BOX, TrackerParams(miss_cost=0.0))  # the closer, younger track takes it
    a = int(np.flatnonzero(free.detection_index[0] == 0)[0])
    assert (free.detection_index[36:, a] == -1).all()


def test_the_trackers_small_medians_and_motion_scale_are_numpys_floats() -> None:
    """``small_median`` and ``motion_scale`` replace numpy calls in the linking loop: the same
    floats (bit for bit), so tracks do not change."""
    from lftiming_ml.tracking.costs import motion_scale, small_median

    rng = np.random.default_rng(0)
    for n in range(1, 13):
        values = list(rng.normal(300.0, 40.0, n))
        assert small_median(values) == float(np.median(values))
        steps = rng.exponential(5.0, n)
        assert motion_scale(steps, 3.0) == float(max(3.0, np.sqrt(np.mean(steps ** 2))))
    assert motion_scale([], 3.0) == 3.0 and motion_scale([np.nan, 4.0], 3.0) == 4.0


def test_track_kinematics_in_plain_floats_gives_the_numpy_fold_bit_for_bit() -> None:
    """``track_kinematics`` computes its two points without numpy; the reference here is the
    numpy form it replaced (``costs.fold_into_box`` on the stacked points)."""
    from lftiming_ml.tracking.costs import fold_into_box
    from lftiming_ml.tracking.linking import _inset, track_kinematics

    def reference(frames, positions, t, box, params, radius):
        box = _inset(box, radius)
        last = np.asarray(positions[-1], dtype=float)
        v = np.zeros(2)
        if len(frames) >= 2 and frames[-1] - frames[-2] <= params.velocity_horizon:
            v = (last - positions[-2]) / (frames[-1] - frames[-2])
        d = params.gap_velocity_decay
        reach = lambda n: float(n) if d == 1.0 else (1 - d**n) / (1 - d)  # noqa: E731
        s = t - frames[-1]
        both = fold_into_box(np.stack([last + v * reach(s), last + v * reach(s + 1)]), box, params.wall_prediction)
        return both[0], both[1]

    rng = np.random.default_rng(3)
    box = (2.0, 3.0, 60.0, 70.0)
    for mode in ("reflect", "clip", "none"):
        params = TrackerParams(wall_prediction=mode)
        for _ in range(300):
            frames = sorted(rng.choice(20, size=int(rng.integers(1, 4)), replace=False).tolist())
            positions = [rng.uniform(-10, 80, 2) for _ in frames]
            t = frames[-1] + int(rng.integers(0, 3))
            radius = float(rng.uniform(0, 8))
            got = track_kinematics(frames, positions, t, box, params, radius)
            want = reference(frames, positions, t, box, params, radius)
            assert got[0].tolist() == want[0].tolist() and got[1].tolist() == want[1].tolist()
