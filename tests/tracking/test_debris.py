"""Static debris: small objects that never move are kept out of linking, cells are not."""

from __future__ import annotations

import numpy as np

from lftiming_ml.tracking import TrackerParams, WellFrameDetections, track_well
from lftiming_ml.tracking.debris import static_debris

BOX = (4.0, 4.0, 81.0, 81.0)
T = 72


def _frames(objects: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> list[WellFrameDetections]:
    """objects: (positions float[T, 2], areas float[T], seen bool[T]) each -> per-frame detections
    in the order of ``objects``."""
    out = []
    for t in range(T):
        seen = [(p[t], a[t]) for p, a, s in objects if s[t]]
        out.append(WellFrameDetections(np.array([c for c, _ in seen]).reshape(-1, 2), np.array([a for _, a in seen])))
    return out


def _walker(rng: np.random.Generator, start: tuple[float, float], step: float) -> np.ndarray:
    """A random walk of ``step`` px per frame, kept inside the box."""
    angles = rng.uniform(0, 2 * np.pi, T)
    steps = step * np.stack([np.sin(angles), np.cos(angles)], axis=1)
    return np.clip(np.asarray(start) + np.cumsum(steps, axis=0), 15, 70)


def _dust(rng: np.random.Generator, at: tuple[float, float], area: float = 50.0, share: float = 0.55):
    """A static particle detected in ``share`` of the frames (never at frame 0's neighbours
    only: seen from frame 0) with 0.3 px centroid jitter."""
    seen = rng.random(T) < share
    seen[0] = True
    return np.asarray(at) + rng.normal(0, 0.3, (T, 2)), np.full(T, area) + rng.normal(0, 3, T), seen


def test_static_small_object_is_debris_moving_and_large_cells_are_not() -> None:
    rng = np.random.default_rng(0)
    dust = _dust(rng, (60.0, 25.0))
    cell = (_walker(rng, (40.0, 40.0), 5.0), np.full(T, 150.0), np.ones(T, bool))
    small_cell = (_walker(rng, (30.0, 60.0), 3.0), np.full(T, 60.0), np.ones(T, bool))  # small, but moves
    dead_target = (np.tile([[70.0, 70.0]], (T, 1)) + rng.normal(0, 0.2, (T, 2)), np.full(T, 220.0), np.ones(T, bool))
    dets = _frames([dust, cell, small_cell, dead_target])
    flags, n = static_debris(dets, TrackerParams())
    assert n == 1
    assert all(f[0] for f, s in zip(flags, dust[2]) if s)  # the dust is the first detection where seen
    assert sum(int(f.sum()) for f in flags) == int(dust[2].sum())
    assert not static_debris(dets, TrackerParams(debris_max_area_px=0))[1]  # 0 turns it off


def test_a_cell_that_stops_and_shrinks_in_place_is_not_debris() -> None:
    rng = np.random.default_rng(1)
    path = _walker(rng, (40.0, 40.0), 4.0)
    path[30:] = path[30] + rng.normal(0, 0.2, (T - 30, 2))  # it stops at frame 30 ...
    area = np.where(np.arange(T) < 36, 150.0, 55.0)  # ... and shrinks below the debris area at 36
    dets = _frames([(path, area, np.ones(T, bool))])
    assert static_debris(dets, TrackerParams())[1] == 0
    # the same small static object present from the start is debris
    assert static_debris(_frames([(path[30:31].repeat(T, 0), np.full(T, 55.0), np.ones(T, bool))]), TrackerParams())[1] == 1


def test_nothing_is_debris_in_a_short_movie() -> None:
    rng = np.random.default_rng(2)
    dust = _dust(rng, (60.0, 25.0), share=1.0)
    dets = _frames([dust])[:8]
    assert static_debris(dets, TrackerParams())[1] == 0


def test_track_well_leaves_debris_out_and_indexes_the_original_detections() -> None:
    rng = np.random.default_rng(3)
    dust = _dust(rng, (60.0, 25.0))
    cell = (_walker(rng, (40.0, 40.0), 5.0), np.full(T, 150.0), np.ones(T, bool))
    dets = _frames([dust, cell])  # the dust comes first where seen: the cell's index shifts
    tracks = track_well(dets, BOX)
    assert tracks.n_tracks == 1 and tracks.n_expected == 1 and tracks.n_debris == 1
    expected = np.array([1 if s else 0 for s in dust[2]])
    np.testing.assert_array_equal(tracks.detection_index[:, 0], expected)
    np.testing.assert_allclose(tracks.positions_linked[:, 0], cell[0])
    off = track_well(dets, BOX, TrackerParams(debris_max_area_px=0))
    assert off.n_tracks == 2 and off.n_debris == 0
