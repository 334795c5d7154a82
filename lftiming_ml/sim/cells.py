"""Cells and debris as optical-path-difference (OPD) patches.

A cell is a dome of cytoplasm (about as thick as it is wide: round suspension cells) on
an elliptical footprint with a smooth, seeded boundary irregularity; an off-centre
nucleus of higher index; small granules. Apoptosis (``death_progress`` in (0, 1]) shrinks
the cell, grows blebs on its boundary, condenses it (index towards ``n_apoptotic``) and
makes its texture coarser and darker. Everything a cell looks like is a function of its
``CellPose`` alone, so a cell keeps its shape, nucleus and granules from frame to frame.

Patches are in pixel coordinates of the canvas grid at ``pixel_um``: pixel ``(i, j)`` is
sampled at its centre, canvas um ``((i + 0.5) * pixel_um, (j + 0.5) * pixel_um)``, (y, x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lftiming_ml.sim.config import OpticsParams
from lftiming_ml.sim.state import EFFECTOR, CellPose

_N_HARMONICS = 4  # boundary irregularity: cos(k psi), k = 2..5
_N_GRANULES = 10
_N_APOPTOTIC_GRANULES = 14
_N_BLEBS = 6
_HEIGHT_PER_RADIUS = 1.8  # dome height / footprint radius (slightly flattened sphere)
_SHRINK_AT_DEATH = 0.25  # radius lost by a fully apoptotic cell (fraction)


@dataclass(frozen=True)
class CellPatch:
    """One rendered object, to be added into a canvas.

    y0, x0: canvas pixel of the patch's top-left element (may be negative or run past the
        canvas; the caller clips).
    opd_um (float32[h, w]): optical path difference relative to medium (um); add to canvas.
    amplitude (float32[h, w]): amplitude transmission (1 outside); multiply into canvas.
    mask (bool[h, w]): amodal footprint (thickness > 0), blebs included.
    """

    y0: int
    x0: int
    opd_um: np.ndarray
    amplitude: np.ndarray
    mask: np.ndarray


def _patch_axes(centre_um: tuple[float, float], bound_um: float, pixel_um: float
                ) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Pixel window around a centre: (y0, x0, dy_um[h], dx_um[w]) offsets of pixel centres."""
    cy, cx = centre_um
    y0 = math.floor((cy - bound_um) / pixel_um)
    x0 = math.floor((cx - bound_um) / pixel_um)
    y1 = math.ceil((cy + bound_um) / pixel_um)
    x1 = math.ceil((cx + bound_um) / pixel_um)
    dy = (np.arange(y0, y1, dtype=np.float32) + 0.5) * np.float32(pixel_um) - np.float32(cy)
    dx = (np.arange(x0, x1, dtype=np.float32) + 0.5) * np.float32(pixel_um) - np.float32(cx)
    return y0, x0, dy, dx


def _body_frame(dy: np.ndarray, dx: np.ndarray, angle_rad: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate pixel offsets (um) into the body frame: u along the major axis, v across."""
    c, s = np.float32(math.cos(angle_rad)), np.float32(math.sin(angle_rad))
    u = dx[None, :] * c + dy[:, None] * s
    v = dy[:, None] * c - dx[None, :] * s
    return u, v


def _boundary_factor(un: np.ndarray, vn: np.ndarray, amps: np.ndarray, phases: np.ndarray
                     ) -> np.ndarray:
    """Radius factor s(psi) = 1 + sum_k a_k cos(k psi + phi_k), k = 2.., psi = atan2(vn, un)."""
    psi = np.arctan2(vn, un)
    s = np.ones_like(psi)
    for k, (a, ph) in enumerate(zip(amps, phases), start=2):
        s += np.float32(a) * np.cos(np.float32(k) * psi + np.float32(ph))
    return s


def _dome(q2: np.ndarray, height_um: float) -> np.ndarray:
    """Chord thickness of an ellipsoid cap: height * sqrt(1 - q^2), 0 outside (float32)."""
    t = np.float32(1.0) - q2
    np.maximum(t, 0.0, out=t)
    np.sqrt(t, out=t)
    t *= np.float32(height_um)
    return t


def render_cell(pose: CellPose, *, pixel_um: float, optics: OpticsParams) -> CellPatch:
    """Render one cell as an OPD patch with amplitude and amodal mask.

    pose.centre_um is (y, x) in canvas um. Deterministic given ``pose``. The seeded
    features (boundary harmonics, nucleus offset, granules, blebs) are drawn in a fixed
    order from ``shape_seed`` only, so they persist while the pose changes.
    """
    rng = np.random.default_rng(pose.shape_seed)
    harm_amps = rng.uniform(0.008, 0.03, _N_HARMONICS)
    harm_phases = rng.uniform(0.0, 2 * np.pi, _N_HARMONICS)
    nuc_off = rng.uniform(0.08, 0.22)
    nuc_dir = rng.uniform(0.0, 2 * np.pi)
    gran = rng.uniform(-1.0, 1.0, (_N_GRANULES + _N_APOPTOTIC_GRANULES, 2))
    gran_sigma_um = rng.uniform(0.25, 0.55, _N_GRANULES + _N_APOPTOTIC_GRANULES)
    gran_opd_um = rng.uniform(0.006, 0.03, _N_GRANULES + _N_APOPTOTIC_GRANULES)
    bleb_angle = rng.uniform(0.0, 2 * np.pi, _N_BLEBS)
    bleb_size = rng.uniform(0.14, 0.3, _N_BLEBS)  # bleb radius / cell radius
    bleb_onset = np.sort(rng.uniform(0.05, 0.7, _N_BLEBS))  # death_progress at which it appears

    p = float(min(max(pose.death_progress, 0.0), 1.0))
    is_effector = pose.cell_type == EFFECTOR
    radius = pose.radius_um * (1.0 - _SHRINK_AT_DEATH * p)
    elong = 1.0 + (max(pose.elongation, 1.0) - 1.0) * (1.0 - p)  # dying cells round up
    a = radius * math.sqrt(elong)
    b = radius / math.sqrt(elong)
    taper = 0.15 * min(elong - 1.0, 1.0) if is_effector else 0.0  # uropod teardrop
    height = _HEIGHT_PER_RADIUS * radius / math.sqrt(elong)

    bleb_growth = np.clip((p - bleb_onset) / 0.2, 0.0, 1.0)
    bleb_r = bleb_size * pose.radius_um * bleb_growth
    bound = a * (1.0 + harm_amps.sum() + taper) + 2.0 * float(bleb_r.max()) + pixel_um
    y0, x0, dy, dx = _patch_axes(pose.centre_um, bound, pixel_um)
    u, v = _body_frame(dy, dx, pose.angle_rad)

    un = u / np.float32(a)
    vn = v / (np.float32(b) * (np.float32(1.0) + np.float32(taper) * np.clip(un, -1.0, 1.0)))
    s = _boundary_factor(un, vn, harm_amps, harm_phases)
    q2 = (un * un + vn * vn) / (s * s)
    body = _dome(q2, height)

    # Blebs: small spheres centred just inside the (round-ish) boundary; union = max.
    thickness = body
    for ang, rb in zip(bleb_angle, bleb_r):
        if rb <= 0.0:
            continue
        cu, cv = 0.92 * a * math.cos(ang), 0.92 * b * math.sin(ang)
        d2 = ((u - np.float32(cu)) ** 2 + (v - np.float32(cv)) ** 2) / np.float32(rb * rb)
        thickness = np.maximum(thickness, _dome(d2, 2.0 * rb))

    # Nucleus: off-centre inner ellipsoid; pyknotic (smaller, denser) when dying.
    nuc_frac = (0.7 if is_effector else 0.6) * (1.0 - 0.35 * p)
    nu = (un - np.float32(nuc_off * math.cos(nuc_dir))) / np.float32(nuc_frac)
    nv = (vn - np.float32(nuc_off * math.sin(nuc_dir))) / np.float32(nuc_frac)
    nucleus = np.minimum(_dome(nu * nu + nv * nv, nuc_frac * height), np.float32(0.9) * body)

    n_cyto = optics.n_cytoplasm + p * (optics.n_apoptotic - optics.n_cytoplasm)
    dn_nuc = (optics.n_nucleus - optics.n_cytoplasm) * (1.0 + 0.5 * p)
    opd = thickness * np.float32(n_cyto - optics.n_medium) + nucleus * np.float32(dn_nuc)

    # Granules (organelles) in the body frame; more and coarser ones when apoptotic.
    weights = np.concatenate([np.full(_N_GRANULES, 1.0), np.full(_N_APOPTOTIC_GRANULES, 2.5 * p)])
    keep = weights > 0
    g = gran[keep] * 0.75
    gu = (g[:, 0] * a).astype(np.float32)[:, None, None]
    gv = (g[:, 1] * b).astype(np.float32)[:, None, None]
    inv2s2 = (0.5 / (gran_sigma_um[keep] * (1.0 + 0.6 * p)) ** 2).astype(np.float32)[:, None, None]
    amp_g = (gran_opd_um[keep] * weights[keep] * (1.0 + p)).astype(np.float32)[:, None, None]
    texture = (amp_g * np.exp(-((u - gu) ** 2 + (v - gv) ** 2) * inv2s2)).sum(axis=0)
    texture *= np.clip(body / np.float32(0.3 * height), 0.0, 1.0)  # fades out at the edge
    opd += texture

    absorption = optics.absorption_per_um * (1.0 + 2.0 * p)
    amplitude = np.exp(np.float32(-absorption) * thickness).astype(np.float32)
    return CellPatch(y0=y0, x0=x0, opd_um=opd.astype(np.float32, copy=False),
                     amplitude=amplitude, mask=thickness > 0)


def render_debris(
    rng: np.random.Generator,
    *,
    canvas_shape_px: tuple[int, int],
    pixel_um: float,
    n: int,
    optics: OpticsParams,
) -> list[CellPatch]:
    """``n`` debris particles (dust, cell fragments) at random positions on the canvas.

    Each is a flattened, irregular dome 1-4 um across with a high index step
    (0.04-0.15 above medium) and strong absorption; centres uniform over the canvas.
    """
    h_um = canvas_shape_px[0] * pixel_um
    w_um = canvas_shape_px[1] * pixel_um
    patches = []
    for _ in range(n):
        diameter = rng.uniform(1.0, 4.0)
        elong = rng.uniform(1.0, 1.8)
        angle = rng.uniform(0.0, np.pi)
        dn = rng.uniform(0.04, 0.15)
        absorption = rng.uniform(0.05, 0.3)
        amps = rng.uniform(0.02, 0.08, _N_HARMONICS)
        phases = rng.uniform(0.0, 2 * np.pi, _N_HARMONICS)
        centre = (rng.uniform(0.0, h_um), rng.uniform(0.0, w_um))
        a = 0.5 * diameter * math.sqrt(elong)
        b = 0.5 * diameter / math.sqrt(elong)
        y0, x0, dy, dx = _patch_axes(centre, a * (1.0 + amps.sum()) + pixel_um, pixel_um)
        u, v = _body_frame(dy, dx, angle)
        un, vn = u / np.float32(a), v / np.float32(b)
        s = _boundary_factor(un, vn, amps, phases)
        thickness = _dome((un * un + vn * vn) / (s * s), 0.5 * diameter)
        patches.append(CellPatch(
            y0=y0, x0=x0,
            opd_um=(thickness * np.float32(dn)).astype(np.float32),
            amplitude=np.exp(np.float32(-absorption) * thickness).astype(np.float32),
            mask=thickness > 0,
        ))
    return patches
