"""Simulate a whole chip: biology per well, optics per field and frame, and the writer.

``simulate_chip(out_dir, config)`` writes a raw chip in the contract of
``lftiming_ml.chip`` plus ground truth in ``gt/`` (see ``truth``), atomically: the chip
folder appears complete or not at all.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from lftiming_ml.chip.manifest import Channel, ChannelRole, ChipManifest, FieldOfView, WellLayout
from lftiming_ml.chip.writer import write_manifest, write_stack
from lftiming_ml.io import atomic_dir
from lftiming_ml.sim.biology import simulate_well
from lftiming_ml.sim.cells import render_cell, render_debris
from lftiming_ml.sim.config import SimConfig
from lftiming_ml.sim.fluorescence import FluorescenceFrame, render_fluorescence
from lftiming_ml.sim.optics import bin_image, camera_counts, illumination_profile, phase_contrast_image
from lftiming_ml.sim.state import WellHistory
from lftiming_ml.sim.truth import FieldTruth, WellFrameMasks, write_truth
from lftiming_ml.sim.walls import wall_opd_um, well_interiors_um
from lftiming_ml.chip.reader import GT_DIR

CHANNELS = (
    Channel(name="phase", role=ChannelRole.phase),
    Channel(name="pkh67", role=ChannelRole.effector_dye),
    Channel(name="pkh26", role=ChannelRole.target_dye),
    Channel(name="annexin_v", role=ChannelRole.death_marker),
)
MARGIN_HI_PX = 48  # canvas border (hi-res px) that absorbs drift and the FFT's wrap-around
CROP_PAD_PX = 3  # ground-truth well crops extend this far beyond the interior (output px)


@dataclass
class FieldPlan:
    """Everything random about one field, drawn up front so the result is seed-deterministic."""

    field_id: str
    block_centre_um: tuple[float, float]  # canvas um
    wells: list[WellHistory]  # row-major, wells_per_block**2
    drift_px: np.ndarray  # float[T, 2] output px, (dy, dx): where chip content appears shifted
    focus_um: np.ndarray  # float[T]
    flicker: np.ndarray  # float[T]
    seeds: dict[str, int] = field(default_factory=dict)


def _random_walk(rng: np.random.Generator, n: int, step: float, start_sd: float = 0.0, dims: int = 1) -> np.ndarray:
    steps = rng.normal(0.0, step, (n, dims))
    steps[0] = rng.normal(0.0, start_sd, dims) if start_sd > 0 else 0.0
    return np.cumsum(steps, axis=0)


def plan_field(config: SimConfig, index: int, rng: np.random.Generator) -> FieldPlan:
    """Draw a field's cell histories, drift, focus drift and lamp flicker."""
    lay, img, T = config.layout, config.imaging, config.n_frames
    hp = lay.pixel_size_um / lay.oversample
    canvas_um = (lay.field_px * lay.oversample + 2 * MARGIN_HI_PX) * hp
    off = rng.uniform(-lay.field_offset_um, lay.field_offset_um, 2)
    wells = [
        simulate_well(rng, n_frames=T, frame_interval_min=config.frame_interval_min,
                      well_size_um=lay.well_size_um, params=config.biology)
        for _ in range(lay.wells_per_block**2)
    ]
    drift = _random_walk(rng, T, img.drift_step_px, dims=2)
    jumps = rng.random(T) < img.drift_jump_prob
    jumps[0] = False
    drift += np.cumsum(jumps[:, None] * rng.normal(0, img.drift_jump_px, (T, 2)), axis=0)
    focus = _random_walk(rng, T, img.focus_step_um, start_sd=img.focus_offset_um)[:, 0]
    focus += img.focus_trend_um_per_h * np.arange(T) * config.frame_interval_min / 60.0  # draws nothing
    flicker = 1.0 + rng.normal(0.0, img.illumination_flicker, T)
    return FieldPlan(
        field_id=f"f{index:03d}",
        block_centre_um=(canvas_um / 2 + off[0], canvas_um / 2 + off[1]),
        wells=wells, drift_px=drift, focus_um=focus, flicker=flicker,
        seeds={"debris": int(rng.integers(2**31)), "noise": int(rng.integers(2**31))},
    )


def _coverage(mask: np.ndarray, y0: int, x0: int, oversample: int) -> tuple[np.ndarray, int, int]:
    """Hi-res bool patch at hi-res (y0, x0) -> fraction covered per output px, and its output origin.

    The origin is expressed in output px of the *canvas* (margin included).
    """
    oy, ox = y0 % oversample, x0 % oversample
    h = -(-(mask.shape[0] + oy) // oversample) * oversample
    w = -(-(mask.shape[1] + ox) // oversample) * oversample
    padded = np.zeros((h, w), np.float32)
    padded[oy:oy + mask.shape[0], ox:ox + mask.shape[1]] = mask
    cov = padded.reshape(h // oversample, oversample, w // oversample, oversample).mean(axis=(1, 3))
    return cov, (y0 - oy) // oversample, (x0 - ox) // oversample


def render_field(config: SimConfig, plan: FieldPlan) -> tuple[dict[str, np.ndarray], FieldTruth]:
    """Render every channel of one field (uint16[T, H, W] each) and collect its truth."""
    lay, opt, img, T = config.layout, config.optics, config.imaging, config.n_frames
    os_, F = lay.oversample, lay.field_px
    hp = lay.pixel_size_um / os_
    n_hi = F * os_ + 2 * MARGIN_HI_PX
    m_out = MARGIN_HI_PX / os_  # canvas margin in output px
    walls = wall_opd_um((n_hi, n_hi), pixel_um=hp, layout=lay, optics=opt, block_centre_um=plan.block_centre_um)
    corners = well_interiors_um(lay, plan.block_centre_um)  # [R, C, 2] canvas um
    debris = render_debris(np.random.default_rng(plan.seeds["debris"]), canvas_shape_px=(n_hi, n_hi),
                           pixel_um=hp, n=img.debris_per_field, optics=opt)
    base_opd = walls.astype(np.float32, copy=True)
    base_amp = np.ones_like(base_opd)
    for p in debris:
        _add_patch(base_opd, base_amp, p.y0, p.x0, p.opd_um, p.amplitude)

    illum = illumination_profile((F, F), img.vignetting)
    noise_rng = np.random.default_rng(plan.seeds["noise"])
    stacks = {c.name: np.empty((T, F, F), np.uint16) for c in CHANNELS}
    R = lay.wells_per_block
    crop = int(np.ceil(lay.well_size_um / lay.pixel_size_um)) + 2 * CROP_PAD_PX
    truth = FieldTruth(field_id=plan.field_id, n_frames=T, rows=R, cols=R, crop_size=crop)

    for t in range(T):
        opd, amp = base_opd.copy(), base_amp.copy()
        fluor = FluorescenceFrame()
        for w, hist in enumerate(plan.wells):
            r, c = divmod(w, R)
            corner = corners[r, c]
            # well interior in field output px at this frame (drift included); pixel (i, j)
            # has its centre at (i, j), so an edge at e um lies at e / pixel_size - 0.5
            y0f = corner[0] / lay.pixel_size_um - 0.5 - m_out + plan.drift_px[t, 0]
            x0f = corner[1] / lay.pixel_size_um - 0.5 - m_out + plan.drift_px[t, 1]
            cy0, cx0 = int(np.floor(y0f)) - CROP_PAD_PX, int(np.floor(x0f)) - CROP_PAD_PX
            masks = WellFrameMasks(row=r, col=c, frame=t, interior=(y0f, x0f, y0f + lay.well_size_um / lay.pixel_size_um,
                                                                     x0f + lay.well_size_um / lay.pixel_size_um),
                                   crop_origin=(cy0, cx0), crop_size=crop)
            for i in np.flatnonzero(hist.present[t]):
                pose = hist.pose(t, int(i), origin_um=(float(corner[0]), float(corner[1])))
                patch = render_cell(pose, pixel_um=hp, optics=opt)
                _add_patch(opd, amp, patch.y0, patch.x0, patch.opd_um, patch.amplitude)
                cov, oy, ox = _coverage(patch.mask, patch.y0, patch.x0, os_)
                # canvas output px -> field output px, plus the stage drift (sub-pixel)
                cov_field = _shift_coverage(cov, oy - m_out + plan.drift_px[t, 0], ox - m_out + plan.drift_px[t, 1],
                                            cy0, cx0, crop)
                masks.add(int(hist.cell_id[i]), cov_field)
                fluor.add(hist, t, int(i), cov_field, (cy0, cx0))
            truth.add(masks, hist)
        intensity = phase_contrast_image(opd, amp, pixel_um=hp, optics=opt, defocus_um=float(plan.focus_um[t]),
                                         shift_px=(float(plan.drift_px[t, 0] * os_), float(plan.drift_px[t, 1] * os_)))
        inner = intensity[MARGIN_HI_PX:MARGIN_HI_PX + F * os_, MARGIN_HI_PX:MARGIN_HI_PX + F * os_]
        expected = bin_image(inner, os_) * illum * (img.photons_background * plan.flicker[t])
        stacks["phase"][t] = camera_counts(expected, read_noise_e=img.read_noise_e,
                                           gain_adu_per_e=img.gain_adu_per_e, offset_adu=img.offset_adu, rng=noise_rng)
        for name, expected_e in render_fluorescence(fluor, (F, F), t, img, illum).items():
            stacks[name][t] = camera_counts(expected_e, read_noise_e=img.read_noise_e,
                                            gain_adu_per_e=img.gain_adu_per_e, offset_adu=img.offset_adu,
                                            rng=noise_rng)
    truth.drift_px = plan.drift_px
    truth.focus_um = plan.focus_um
    return stacks, truth


def _add_patch(opd: np.ndarray, amp: np.ndarray, y0: int, x0: int, p_opd: np.ndarray, p_amp: np.ndarray) -> None:
    """Add an OPD patch and multiply an amplitude patch into the canvas, clipped to it."""
    H, W = opd.shape
    ys, xs = max(y0, 0), max(x0, 0)
    ye, xe = min(y0 + p_opd.shape[0], H), min(x0 + p_opd.shape[1], W)
    if ye <= ys or xe <= xs:
        return
    sl = (slice(ys - y0, ye - y0), slice(xs - x0, xe - x0))
    opd[ys:ye, xs:xe] += p_opd[sl]
    amp[ys:ye, xs:xe] *= p_amp[sl]


def _shift_coverage(cov: np.ndarray, oy: float, ox: float, cy0: int, cx0: int, crop: int) -> np.ndarray:
    """Place a coverage patch whose top-left sits at field px (oy, ox) (sub-pixel) into the
    well crop whose top-left is (cy0, cx0); bilinear, returns float32[crop, crop]."""
    from scipy.ndimage import shift as nd_shift

    iy, ix = int(np.floor(oy)), int(np.floor(ox))
    fy, fx = oy - iy, ox - ix
    padded = np.zeros((cov.shape[0] + 1, cov.shape[1] + 1), np.float32)
    padded[:-1, :-1] = cov
    moved = nd_shift(padded, (fy, fx), order=1, mode="constant", cval=0.0, prefilter=False)
    out = np.zeros((crop, crop), np.float32)
    ys, xs = iy - cy0, ix - cx0
    y_a, x_a = max(ys, 0), max(xs, 0)
    y_b, x_b = min(ys + moved.shape[0], crop), min(xs + moved.shape[1], crop)
    if y_b > y_a and x_b > x_a:
        out[y_a:y_b, x_a:x_b] = moved[y_a - ys:y_b - ys, x_a - xs:x_b - xs]
    return out


def build_manifest(chip_id: str, config: SimConfig, fields: list[tuple[str, int, int]]) -> ChipManifest:
    """The chip's ``chip.json``; ``fields`` are (field_id, block_row, block_col)."""
    lay = config.layout
    return ChipManifest(
        chip_id=chip_id,
        frame_interval_min=config.frame_interval_min,
        pixel_size_um=lay.pixel_size_um,
        n_frames=config.n_frames,
        field_shape=(lay.field_px, lay.field_px),
        channels=list(CHANNELS),
        layout=WellLayout(wells_per_block=lay.wells_per_block, well_size_um=lay.well_size_um, pitch_um=lay.pitch_um),
        fields=[FieldOfView(field_id=fid, block_row=br, block_col=bc,
                            images={c.name: f"{fid}/{c.name}.tif" for c in CHANNELS}) for fid, br, bc in fields],
        condition=f"simulated, preset {config.preset}",
        source={"kind": "lftiming-simulator", "config": json.loads(config.model_dump_json())},
    )


def field_rng(config: SimConfig, index: int) -> np.random.Generator:
    """Independent random stream of field ``index``: fields can be rendered in any order."""
    return np.random.default_rng([config.seed, index])


def _simulate_field(config: SimConfig, index: int, out_dir: Path) -> FieldTruth:
    """Plan, render and write one field's stacks into ``out_dir``; returns its truth."""
    plan = plan_field(config, index, field_rng(config, index))
    stacks, truth = render_field(config, plan)
    for name, stack in stacks.items():
        write_stack(out_dir / plan.field_id / f"{name}.tif", stack, pixel_size_um=config.layout.pixel_size_um)
    return truth


def simulate_chip(out_dir: Path | str, config: SimConfig, *, overwrite: bool = False,
                  workers: int | None = None) -> Path:
    """Simulate and write a chip to ``out_dir`` (its name is the chip id). Returns the path.

    Fields are independent and rendered in up to ``workers`` processes (default: one per
    CPU, at most one per field); the result does not depend on ``workers``.
    """
    out_dir = Path(out_dir)
    workers = max(1, min(workers or os.cpu_count() or 1, config.n_fields))
    ids = [f"f{i:03d}" for i in range(config.n_fields)]
    grid = max(1, int(np.ceil(np.sqrt(config.n_fields))))
    manifest = build_manifest(out_dir.name, config, [(fid, i // grid, i % grid) for i, fid in enumerate(ids)])
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        if workers == 1:
            truths = [_simulate_field(config, i, tmp) for i in range(config.n_fields)]
        else:
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
                truths = list(pool.map(_simulate_field, [config] * config.n_fields, range(config.n_fields),
                                       [tmp] * config.n_fields))
        write_truth(tmp / GT_DIR, truths, config)
        write_manifest(tmp, manifest)
    return out_dir
