"""Unit tests of the nanowell biology model (``lftiming_ml.sim.biology``) on small wells."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from lftiming_ml.sim.biology import count_loading, simulate_well
from lftiming_ml.sim.config import BiologyParams
from lftiming_ml.sim.state import EFFECTOR, TARGET, WellHistory

WELL_UM = 50.0
FRAME_MIN = 5.0
CROWDED = BiologyParams(effectors_per_well=2.5, targets_per_well=2.5, max_overlap=0.35)
EVENTFUL = BiologyParams(conjugation_prob=1.0, kill_prob=1.0, death_delay_min=(20.0, 0.5), apoptosis_min=15.0,
                         mitosis_prob=0.5, effector_death_prob=0.3)


def _well(seed: int, params: BiologyParams = BiologyParams(), n_frames: int = 24) -> WellHistory:
    return simulate_well(np.random.default_rng(seed), n_frames=n_frames, frame_interval_min=FRAME_MIN,
                         well_size_um=WELL_UM, params=params)


@lru_cache(maxsize=None)
def _wells(kind: str) -> tuple[WellHistory, ...]:
    if kind == "crowded":
        return tuple(_well(s, CROWDED, n_frames=24) for s in range(50))
    if kind == "eventful":
        return tuple(_well(100 + s, EVENTFUL, n_frames=48) for s in range(40))
    return tuple(_well(200 + s, BiologyParams(), n_frames=72) for s in range(30))


ALL_KINDS = ["crowded", "eventful", "default"]


def _distances(h: WellHistory, t: int, cells: np.ndarray) -> np.ndarray:
    """Centre distances (float[n, n], um) between ``cells`` at frame ``t``."""
    y, x = h.y_um[t, cells], h.x_um[t, cells]
    return np.hypot(y[:, None] - y[None, :], x[:, None] - x[None, :])


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_shapes_and_absent_cells(kind: str) -> None:
    for h in _wells(kind):
        T, N = h.n_frames, h.n_cells
        assert np.array_equal(h.cell_id, np.arange(N))
        for a in (h.present, h.y_um, h.x_um, h.radius_um, h.elongation, h.angle_rad, h.alive,
                  h.death_progress, h.depth, h.conjugated_with):
            assert a.shape == (T, N)
        absent = ~h.present
        assert np.isnan(h.y_um[absent]).all() and np.isfinite(h.y_um[h.present]).all()
        assert not h.alive[absent].any() and (h.conjugated_with[absent] == -1).all()


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_footprint_stays_inside_the_well(kind: str) -> None:
    for h in _wells(kind):
        p = h.present
        reach = h.radius_um[p] * h.elongation[p]
        for c in (h.y_um[p], h.x_um[p]):
            assert (c - reach >= 0).all() and (c + reach <= WELL_UM).all()


def test_overlap_between_live_cells_stays_below_the_limit() -> None:
    """Live footprints overlap (in projection) at most ``max_overlap`` of the smaller radius.

    A live cell wedged between a wall and an immobile dead cell may ride over the dead one.
    """
    worst, overlapping = -np.inf, 0
    for h in _wells("crowded"):
        for t in range(h.n_frames):
            i = np.flatnonzero(h.present[t] & h.alive[t])
            d = _distances(h, t, i)
            ri, rj = h.radius_um[t, i][:, None], h.radius_um[t, i][None, :]
            frac = (ri + rj - d) / np.minimum(ri, rj)
            np.fill_diagonal(frac, -np.inf)
            worst = max(worst, float(frac.max(initial=-np.inf)))
            overlapping += int((frac > 0.05).sum())
    assert worst <= CROWDED.max_overlap + 0.03
    assert overlapping > 0  # cells do overlap in projection sometimes


def test_loading_matches_count_loading_and_types() -> None:
    for s in range(40):
        params = CROWDED if s % 2 else BiologyParams()
        n_e, n_t = count_loading(np.random.default_rng(s), params)
        h = _well(s, params, n_frames=3)
        at_load = h.present[0]
        assert int((at_load & (h.cell_type == EFFECTOR)).sum()) == n_e
        assert int((at_load & (h.cell_type == TARGET)).sum()) == n_t
        assert n_e + n_t <= params.max_cells_per_well
        assert set(np.unique(h.cell_type)) <= {EFFECTOR, TARGET}


def test_loading_is_truncated_and_varied() -> None:
    rng = np.random.default_rng(0)
    counts = [count_loading(rng, BiologyParams()) for _ in range(2000)]
    totals = np.array([e + t for e, t in counts])
    assert totals.max() <= BiologyParams().max_cells_per_well
    assert 0.04 < (totals == 0).mean() < 0.15  # some empty wells
    assert (np.array(counts) == (1, 1)).all(axis=1).mean() > 0.08


def test_mitosis_daughters_replace_their_mother() -> None:
    n_div = 0
    for h in _wells("eventful"):
        for k in np.flatnonzero(h.parent_id >= 0):
            m = h.parent_id[k]
            born = int(np.argmax(h.present[:, k]))
            assert h.cell_type[k] == TARGET and h.cell_type[m] == TARGET
            assert born > 0 and not h.present[:born, k].any() and h.present[born:, k].all()
            assert h.present[born - 1, m] and not h.present[born:, m].any()  # the mother ends
            assert h.alive[born - 1, m] and h.parent_id[m] == -1
            assert h.radius_um[born, k] < h.radius_um[born - 1, m]
            n_div += 1
        births = [int(np.argmax(h.present[:, i])) for i in range(h.n_cells)]
        assert births == sorted(births)  # ids in order of appearance
    assert n_div >= 4 and n_div % 2 == 0


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_death_is_monotone_and_progress_rises(kind: str) -> None:
    for h in _wells(kind):
        for i in range(h.n_cells):
            p = h.present[:, i]
            alive, prog = h.alive[p, i], h.death_progress[p, i]
            assert not (~alive[:-1] & alive[1:]).any()
            assert (prog[alive] == 0).all()
            assert ((prog >= 0) & (prog <= 1)).all() and (np.diff(prog) >= 0).all()


def test_dead_cells_stop_moving() -> None:
    steps = []
    for h in _wells("eventful"):
        gone = (h.death_progress[:-1] >= 1) & (h.death_progress[1:] >= 1)
        steps += list(np.hypot(np.diff(h.y_um, axis=0), np.diff(h.x_um, axis=0))[gone])
    assert len(steps) > 50
    assert np.max(steps) < 0.5


def test_conjugates_are_symmetric_effector_target_pairs() -> None:
    n_conj = 0
    for kind in ALL_KINDS:
        for h in _wells(kind):
            for t, i in zip(*np.nonzero(h.conjugated_with >= 0)):
                j = h.conjugated_with[t, i]
                assert h.conjugated_with[t, j] == i and h.present[t, j]
                assert {int(h.cell_type[i]), int(h.cell_type[j])} == {EFFECTOR, TARGET}
                n_conj += 1
    assert n_conj > 100


def test_killed_targets_were_conjugated_before_death() -> None:
    killed = 0
    for kind in ALL_KINDS:
        for h in _wells(kind):
            for j in np.flatnonzero(h.cell_type == TARGET):
                dead = h.present[:, j] & ~h.alive[:, j]
                if not dead.any():
                    continue
                onset = int(np.argmax(dead))
                assert (h.conjugated_with[:onset, j] >= 0).any()
                killed += 1
    assert killed > 20


def test_depth_puts_effectors_and_live_cells_on_top() -> None:
    checked = 0
    for kind in ALL_KINDS:
        for h in _wells(kind):
            r = h.radius_um * h.elongation
            for t in range(h.n_frames):
                i = np.flatnonzero(h.present[t])
                d = _distances(h, t, i)
                for a, b in zip(*np.nonzero(d < r[t, i][:, None] + r[t, i][None, :])):
                    a, b = i[a], i[b]
                    if a == b:
                        continue
                    assert h.depth[t, a] != h.depth[t, b]
                    if h.alive[t, a] and not h.alive[t, b]:
                        assert h.depth[t, a] > h.depth[t, b]
                    elif h.alive[t, a] == h.alive[t, b] and h.cell_type[a] == EFFECTOR != h.cell_type[b]:
                        assert h.depth[t, a] > h.depth[t, b]
                    checked += 1
                assert (h.depth[t, ~h.present[t]] == 0).all()
    assert checked > 100


def test_shapes_follow_cell_type() -> None:
    for h in _wells("default"):
        p, eff = h.present, (h.cell_type == EFFECTOR)[None, :]
        assert (h.elongation[p & ~eff] <= 1.1).all() and (h.elongation[p] >= 1.0).all()
        assert (h.elongation[p & eff] <= BiologyParams().effector_run_elongation[1] + 1e-9).all()
        assert (h.radius_um[p & eff] <= 4.5).all() and (h.radius_um[p & ~eff] >= 5.0 / 2 ** (1 / 3)).all()
    e = np.concatenate([h.elongation[h.present & (h.cell_type == EFFECTOR)] for h in _wells("default")])
    assert (e > 1.3).mean() > 0.2 and (e < 1.1).mean() > 0.2  # polarized runs and round pauses


def test_effectors_move_much_more_than_targets() -> None:
    step = {EFFECTOR: [], TARGET: []}
    for h in _wells("default"):
        d = np.hypot(np.diff(h.y_um, axis=0), np.diff(h.x_um, axis=0))
        free = h.alive[1:] & h.alive[:-1] & (h.conjugated_with[1:] < 0) & (h.conjugated_with[:-1] < 0)
        for c in step:
            step[c] += list(d[free & (h.cell_type == c)[None, :]])
    assert np.mean(step[EFFECTOR]) > 3 * np.mean(step[TARGET])
    assert np.mean(step[EFFECTOR]) > 8.0  # effectors cross much of a 50 um well per 5-min frame


def test_most_effector_target_pairs_meet() -> None:
    pairs = met = 0
    for h in _wells("default"):
        for i in np.flatnonzero(h.cell_type == EFFECTOR):
            for j in np.flatnonzero(h.cell_type == TARGET):
                both = h.present[:, i] & h.present[:, j]
                if not both[0]:
                    continue
                d = np.hypot(h.y_um[:, i] - h.y_um[:, j], h.x_um[:, i] - h.x_um[:, j])
                pairs += 1
                met += bool((both & (d <= h.radius_um[:, i] + h.radius_um[:, j] + 0.5)).any())
    assert pairs > 15 and met / pairs > 0.8


def test_deterministic_given_the_seed() -> None:
    a, b, c = _well(7, CROWDED), _well(7, CROWDED), _well(8, CROWDED)
    for name in WellHistory.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.n_cells != c.n_cells or not np.array_equal(a.y_um, c.y_um, equal_nan=True)


def test_empty_one_cell_and_one_frame_wells() -> None:
    empty = _well(0, BiologyParams(effectors_per_well=0.0, targets_per_well=0.0), n_frames=10)
    assert empty.n_cells == 0 and empty.present.shape == (10, 0) and empty.depth.shape == (10, 0)
    one = _well(1, BiologyParams(effectors_per_well=20.0, targets_per_well=0.0, max_cells_per_well=1), n_frames=10)
    assert one.n_cells == 1 and one.present.all() and one.cell_type[0] == EFFECTOR
    assert (one.conjugated_with == -1).all() and (one.depth == 0).all()
    single = _well(2, CROWDED, n_frames=1)
    assert single.present.shape[0] == 1 and single.present[0].all() and single.alive[0].all()
