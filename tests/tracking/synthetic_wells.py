"""Tiny synthetic nanowells for the tracking tests (not a simulator: points and discs).

N cells move fast (20-40 px per frame by default) inside a ~77 px well, bounce off the
walls, pass close to each other (contacts), and their detections can be missed, jittered,
or joined by a false positive; one cell can divide. Truth is kept per cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lftiming_ml.tracking import WellFrameDetections

WELL_PX = 77.0
PAD = 4.0


@dataclass
class SyntheticWell:
    """detections (T frames), well_box (y0, x0, y1, x1), truth (float[T, N, 2], NaN
    where a cell does not exist), truth_det (int[T, N]: index of the cell's detection in
    its frame, -1 if missed), radii (float[N])."""

    detections: list[WellFrameDetections]
    well_box: tuple[float, float, float, float]
    truth: np.ndarray
    truth_det: np.ndarray
    radii: np.ndarray


def disc_masks(centroids: np.ndarray, radii: np.ndarray, size: int) -> np.ndarray:
    """bool[n, size, size] discs at (y, x) px."""
    yy, xx = np.mgrid[0:size, 0:size]
    c = np.asarray(centroids, dtype=float).reshape(-1, 2)
    r = np.asarray(radii, dtype=float).reshape(-1)
    return (yy[None] - c[:, 0, None, None]) ** 2 + (xx[None] - c[:, 1, None, None]) ** 2 <= r[:, None, None] ** 2


def move_cells(
    n_cells: int, n_frames: int, rng: np.random.Generator, speed: tuple[float, float], radii: np.ndarray
) -> np.ndarray:
    """Ballistic cells with a slowly turning heading, reflected off the walls: float[T, N, 2]."""
    lo, hi = PAD + radii, PAD + WELL_PX - radii
    pos = np.empty((n_frames, n_cells, 2))
    pos[0] = rng.uniform(lo[:, None], hi[:, None], size=(n_cells, 2))
    heading = rng.uniform(0, 2 * np.pi, n_cells)
    s = rng.uniform(*speed, n_cells)
    vel = s[:, None] * np.stack([np.sin(heading), np.cos(heading)], axis=1)
    for t in range(1, n_frames):
        turn = rng.normal(0, 0.25, n_cells)
        c, si = np.cos(turn), np.sin(turn)
        vel = np.stack([c * vel[:, 0] + si * vel[:, 1], -si * vel[:, 0] + c * vel[:, 1]], axis=1)
        p = pos[t - 1] + vel
        for d in range(2):  # mirror off the walls until inside
            for _ in range(4):
                below, above = p[:, d] < lo, p[:, d] > hi
                p[below, d] = 2 * lo[below] - p[below, d]
                p[above, d] = 2 * hi[above] - p[above, d]
                vel[below | above, d] *= -1
        pos[t] = p
    return pos


def make_well(
    n_cells: int,
    *,
    n_frames: int = 72,
    speed: tuple[float, float] = (20.0, 40.0),
    miss_rate: float = 0.0,
    jitter_px: float = 0.5,
    false_positive_rate: float = 0.0,
    radius_range: tuple[float, float] = (6.0, 9.0),
    with_masks: bool = False,
    mitosis_frame: int | None = None,
    seed: int = 0,
) -> SyntheticWell:
    """One well; detections are shuffled per frame so their order says nothing."""
    rng = np.random.default_rng(seed)
    n_total = n_cells + (1 if mitosis_frame is not None else 0)
    radii = rng.uniform(*radius_range, n_total)
    truth = np.full((n_frames, n_total, 2), np.nan)
    truth[:, :n_cells] = move_cells(n_cells, n_frames, rng, speed, radii[:n_cells])
    radius_t = np.tile(radii, (n_frames, 1))
    if mitosis_frame is not None:  # cell 0 divides: the daughter starts next to the mother
        radius_t[mitosis_frame:, 0] = radius_t[mitosis_frame:, -1] = radii[0] / np.sqrt(2)
        tail = n_frames - mitosis_frame
        truth[mitosis_frame:, -1] = move_cells(1, tail, rng, speed, radius_t[-1:, -1])[:, 0]
        angle = rng.uniform(0, 2 * np.pi)
        start = truth[mitosis_frame, 0] + 1.6 * radius_t[mitosis_frame, 0] * np.array([np.sin(angle), np.cos(angle)])
        truth[mitosis_frame:, -1] += start - truth[mitosis_frame, -1]
        truth[mitosis_frame:, -1] = np.clip(truth[mitosis_frame:, -1], PAD + 5, PAD + WELL_PX - 5)
    size = int(WELL_PX + 2 * PAD)
    detections, truth_det = [], np.full((n_frames, n_total), -1, dtype=int)
    for t in range(n_frames):
        cells = [i for i in range(n_total) if np.isfinite(truth[t, i, 0]) and rng.random() >= miss_rate]
        cents = [truth[t, i] + rng.normal(0, jitter_px, 2) for i in cells]
        rads = [radius_t[t, i] for i in cells]
        if rng.random() < false_positive_rate:
            cells.append(-1)
            cents.append(rng.uniform(PAD, PAD + WELL_PX, 2))
            rads.append(4.0)
        order = rng.permutation(len(cells))
        cents = np.array(cents, dtype=float).reshape(-1, 2)[order]
        rads = np.array(rads, dtype=float)[order]
        for new, old in enumerate(order):
            if cells[old] >= 0:
                truth_det[t, cells[old]] = new
        detections.append(
            WellFrameDetections(
                centroids=cents,
                areas=np.pi * rads**2,
                masks=disc_masks(cents, rads, size) if with_masks else None,
            )
        )
    box = (PAD, PAD, PAD + WELL_PX, PAD + WELL_PX)
    return SyntheticWell(detections, box, truth, truth_det, radii)


CROSSING_BOX = (4.0, 4.0, 81.0, 81.0)
"""Well box of ``crossing_runners``."""


def crossing_runners(with_embeddings: bool) -> tuple[list[WellFrameDetections], np.ndarray]:
    """Two cells of one size run ~25 px per frame on y = 30 and y = 50; at frame 4 each lands
    2 px from where the other was: position and velocity both say 'swap'. Cell a looks like
    e_a, cell b like e_b (orthogonal unit vectors) in every frame."""
    a_x = [10.0, 35.0, 12.0, 38.0, 62.0, 40.0, 66.0]
    b_x = [70.0, 45.0, 68.0, 42.0, 14.0, 38.0, 12.0]
    a_y = [30.0, 32.0, 30.0, 33.0, 48.0, 30.0, 32.0]
    b_y = [50.0, 48.0, 50.0, 47.0, 32.0, 50.0, 48.0]
    truth = np.stack([np.stack([a_y, a_x], 1), np.stack([b_y, b_x], 1)], 1)  # [T, 2, 2]
    emb = np.eye(2, 8)
    dets = []
    for t in range(len(a_x)):
        order = [1, 0] if t % 2 else [0, 1]
        dets.append(WellFrameDetections(centroids=truth[t, order], areas=np.full(2, np.pi * 36.0),
                                        embeddings=emb[order] if with_embeddings else None))
    return dets, truth


def bouncing_lookalikes(separation: float) -> tuple[list[WellFrameDetections], np.ndarray]:
    """Two cells of one size run head-on at 8 px per frame along y = 38 and y = 42, meet at
    frame 4 and bounce back: the constant-velocity prediction sends each on through the
    other. They look almost alike: cell a's embedding is (1, s) and b's (1, -s), normalised,
    with s = ``separation``; so one frame's appearance says less than the motion does, and
    only several frames of it tell the bounce from a pass-through."""
    a_x = [8, 16, 24, 32, 40, 32, 24, 16, 8, 16, 24, 32]
    b_x = [72, 64, 56, 48, 40, 48, 56, 64, 72, 64, 56, 48]
    truth = np.zeros((len(a_x), 2, 2))
    truth[:, 0, 0], truth[:, 1, 0] = 38.0, 42.0
    truth[:, 0, 1], truth[:, 1, 1] = a_x, b_x
    emb = np.zeros((2, 8))
    emb[:, 0], emb[:, 1] = 1.0, [separation, -separation]
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    dets = []
    for t in range(len(a_x)):
        order = [1, 0] if t % 2 else [0, 1]
        dets.append(WellFrameDetections(centroids=truth[t, order], areas=np.full(2, np.pi * 36.0), embeddings=emb[order]))
    return dets, truth
