"""Per-well crops resampled to the canonical pixel size, and the crop <-> field mapping.

A crop is ``S x S`` canonical px (``WellGridParams.crop_size_px``) centred on the well centre
of its frame (drift included). Crop pixel (i, j) samples field position

    field = origin + (i, j) * scale,    origin = centre - (S - 1) / 2 * scale,

with ``scale = canonical_um_per_px / raw_um_per_px`` (field px per crop px) and every pixel
centred on its index, in both frames. Sampling is bilinear (order 1, exact for linear
intensity ramps, sub-pixel); pixels outside the field get ``params.crop_fill_value``. The
values are those of scipy's ``map_coordinates(order=1, mode="constant")`` into a float32
buffer, rounded (tested pixel for pixel), computed here from four shifted windows of the
frame where the crop lies inside it at unit scale (faster than the call; README). When
downsampling (scale > 1), ``prepare_stacks`` first blurs with sigma = (scale - 1) / 2 px
against aliasing (skimage's ``rescale`` rule).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.ndimage import gaussian_filter

from lftiming_ml.wells.config import WellGridParams


def crop_scale(raw_um_per_px: float, params: WellGridParams) -> float:
    """Field px per crop px: ``canonical_um_per_px / raw_um_per_px``."""
    if raw_um_per_px <= 0:
        raise ValueError(f"raw_um_per_px must be positive, got {raw_um_per_px}")
    return params.canonical_um_per_px / raw_um_per_px


def crop_origins(centres: np.ndarray, *, raw_um_per_px: float, params: WellGridParams) -> np.ndarray:
    """Field position of crop pixel (0, 0): ``centres (float[..., 2], (y, x) field px)`` -> ``float[..., 2]``."""
    scale = crop_scale(raw_um_per_px, params)
    return np.asarray(centres, dtype=np.float64) - (params.crop_size_px - 1) / 2.0 * scale


def crop_to_field(points: np.ndarray, origins: np.ndarray, scale: float) -> np.ndarray:
    """Crop px -> field px. ``points (float[..., 2], (y, x))``, ``origins`` broadcastable to it."""
    return np.asarray(origins, dtype=np.float64) + np.asarray(points, dtype=np.float64) * scale


def field_to_crop(points: np.ndarray, origins: np.ndarray, scale: float) -> np.ndarray:
    """Field px -> crop px (inverse of ``crop_to_field``); same shapes."""
    return (np.asarray(points, dtype=np.float64) - np.asarray(origins, dtype=np.float64)) / scale


def well_box_in_crop(well_size_px: float, *, raw_um_per_px: float,
                     params: WellGridParams) -> tuple[float, float, float, float]:
    """Interior box (y0, x0, y1, x1) of a centred well in crop px (edge positions); ``well_size_px`` in field px."""
    half = well_size_px / crop_scale(raw_um_per_px, params) / 2.0
    mid = (params.crop_size_px - 1) / 2.0
    return (mid - half, mid - half, mid + half, mid + half)


def prepare_stacks(stacks: Mapping[str, np.ndarray], *, raw_um_per_px: float,
                   params: WellGridParams) -> dict[str, np.ndarray]:
    """Anti-alias ``stacks`` (name -> ``[T, H, W]``) before downsampling; unchanged when scale <= 1.

    Returns name -> ``float32[T, H, W]`` (blurred per frame) or the input arrays themselves.
    """
    scale = crop_scale(raw_um_per_px, params)
    if scale <= 1.0 + 1e-9:
        return dict(stacks)
    sigma = (scale - 1.0) / 2.0
    return {k: gaussian_filter(np.asarray(v, dtype=np.float32), sigma=(0, sigma, sigma)) for k, v in stacks.items()}


def _axis_samples(origin: float, scale: float, size: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear sampling of ``size`` positions ``origin + i * scale`` along an axis of ``n`` px:
    the two neighbours (int[size] each), the weight of the second (float[size]) and whether
    the position lies inside [0, n - 1] (outside: the fill value, as ``map_coordinates`` with
    ``mode="constant"`` gives)."""
    pos = origin + np.arange(size, dtype=np.float64) * scale
    inside = (pos >= 0.0) & (pos <= n - 1)
    first = np.clip(np.floor(pos), 0, max(n - 2, 0)).astype(np.intp)
    second = np.minimum(first + 1, n - 1)
    return first, second, np.clip(pos - first, 0.0, 1.0), inside


def well_crop(stacks: Mapping[str, np.ndarray], centres: np.ndarray, *, raw_um_per_px: float,
              params: WellGridParams) -> np.ndarray:
    """Movie of one well.

    stacks: channel name -> ``uint16 (or float) [T, H, W]`` of one field (pass them through
        ``prepare_stacks`` first when raw px are smaller than canonical px).
    centres (float[T, 2]): the well centre per frame, (y, x) field px, drift applied.
    Returns ``uint16[T, C, S, S]``, channels in the order of ``stacks``; crop pixel (i, j) of
    frame t samples field position ``crop_origins(centres)[t] + (i, j) * scale``.
    """
    arrays = list(stacks.values())
    ctr = np.asarray(centres, dtype=np.float64)
    n_t = arrays[0].shape[0]
    if ctr.shape != (n_t, 2):
        raise ValueError(f"centres must be float[T={n_t}, 2], got shape {ctr.shape}")
    if not np.isfinite(ctr).all():
        raise ValueError("well centres contain NaN or inf")
    size, scale = params.crop_size_px, crop_scale(raw_um_per_px, params)
    origins = crop_origins(ctr, raw_um_per_px=raw_um_per_px, params=params)
    height, width = arrays[0].shape[1:]
    out = np.empty((n_t, len(arrays), size, size), dtype=np.uint16)
    fill = float(params.crop_fill_value)
    steps = np.arange(size)
    for t in range(n_t):
        y0, y1, fy, in_y = _axis_samples(origins[t, 0], scale, size, height)
        x0, x1, fx, in_x = _axis_samples(origins[t, 1], scale, size, width)
        # Weights of the four neighbours (float64, as map_coordinates computes; its float32
        # output buffer is mimicked below, so the rounded values are the same).
        w00, w01 = (1.0 - fy)[:, None] * (1.0 - fx)[None, :], (1.0 - fy)[:, None] * fx[None, :]
        w10, w11 = fy[:, None] * (1.0 - fx)[None, :], fy[:, None] * fx[None, :]
        contiguous = (in_y.all() and in_x.all() and np.array_equal(y0, y0[0] + steps)
                      and np.array_equal(x0, x0[0] + steps))
        outside = None if contiguous else ~(in_y[:, None] & in_x[None, :])
        for c, arr in enumerate(arrays):
            frame = arr[t]
            if contiguous:  # unit scale inside the field: the neighbours are two shifted windows
                win = frame[y0[0]:y0[-1] + 2, x0[0]:x0[-1] + 2]
                value = win[:-1, :-1] * w00 + win[:-1, 1:] * w01 + win[1:, :-1] * w10 + win[1:, 1:] * w11
            else:
                value = (frame[np.ix_(y0, x0)] * w00 + frame[np.ix_(y0, x1)] * w01
                         + frame[np.ix_(y1, x0)] * w10 + frame[np.ix_(y1, x1)] * w11)
                value[outside] = fill
            out[t, c] = np.clip(np.rint(value.astype(np.float32)), 0, 65535)
    return out


def well_crops(stacks: Mapping[str, np.ndarray], centres: np.ndarray, *, raw_um_per_px: float,
               params: WellGridParams) -> np.ndarray:
    """Movies of several wells of one field.

    stacks: channel name -> ``uint16[T, H, W]``; centres (float[T, n_wells, 2], (y, x) field px,
    drift applied, e.g. ``WellLattice.centres_over_time(drift)[:, rows, cols]``).
    Returns ``uint16[n_wells, T, C, S, S]`` (channels in the order of ``stacks``). For many
    wells prefer ``prepare_stacks`` once and ``well_crop`` per well (memory: one well at a time).
    """
    ctr = np.asarray(centres, dtype=np.float64)
    if ctr.ndim != 3 or ctr.shape[2] != 2:
        raise ValueError(f"centres must be float[T, n_wells, 2], got shape {ctr.shape}")
    prepared = prepare_stacks(stacks, raw_um_per_px=raw_um_per_px, params=params)
    return np.stack([well_crop(prepared, ctr[:, w], raw_um_per_px=raw_um_per_px, params=params)
                     for w in range(ctr.shape[1])]) if ctr.shape[1] else np.zeros(
        (0, ctr.shape[0], len(stacks), params.crop_size_px, params.crop_size_px), np.uint16)
