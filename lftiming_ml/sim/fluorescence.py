"""Fluorescence channels rendered from the same truth as phase: effector dye (PKH67),
target dye (PKH26) and the death marker (Annexin V, a membrane ring from death onset)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import binary_erosion, gaussian_filter

from lftiming_ml.sim.config import ImagingParams
from lftiming_ml.sim.state import EFFECTOR, TARGET, WellHistory


def dye_loading(shape_seed: int, dropout: float) -> float:
    """A cell's relative dye uptake (lognormal around 1; a ``dropout`` share takes up ~10%)."""
    rng = np.random.default_rng([shape_seed, 7])
    level = float(rng.lognormal(0.0, 0.2))
    return level * (0.1 if rng.random() < dropout else 1.0)


@dataclass
class FluorescenceFrame:
    """The cells of one field at one frame, as coverage patches in field output px."""

    items: list[tuple[int, int, np.ndarray, int, bool, float, int]] = field(default_factory=list)

    def add(self, hist: WellHistory, t: int, i: int, coverage: np.ndarray, origin: tuple[int, int]) -> None:
        """``coverage (float32[S, S])`` placed at field px ``origin`` (y, x)."""
        self.items.append((origin[0], origin[1], coverage, int(hist.cell_type[i]), bool(hist.alive[t, i]),
                           float(hist.death_progress[t, i]), int(hist.shape_seed[i])))


def _paste(canvas: np.ndarray, y0: int, x0: int, patch: np.ndarray) -> None:
    H, W = canvas.shape
    ys, xs, ye, xe = max(y0, 0), max(x0, 0), min(y0 + patch.shape[0], H), min(x0 + patch.shape[1], W)
    if ye > ys and xe > xs:
        canvas[ys:ye, xs:xe] += patch[ys - y0:ye - y0, xs - x0:xe - x0]


def render_fluorescence(frame: FluorescenceFrame, shape: tuple[int, int], t: int, img: ImagingParams,
                        illumination: np.ndarray) -> dict[str, np.ndarray]:
    """Expected photo-electrons per px, ``float32[H, W]``, for pkh67, pkh26 and annexin_v."""
    bleach = (1.0 - img.bleach_per_frame) ** t
    chans = {name: np.zeros(shape, np.float32) for name in ("pkh67", "pkh26", "annexin_v")}
    for y0, x0, cov, ctype, alive, progress, seed in frame.items:
        level = dye_loading(seed, img.dye_dropout) * img.fluor_brightness * bleach
        _paste(chans["pkh67" if ctype == EFFECTOR else "pkh26"], y0, x0, cov * level)
        if not alive:
            inside = cov >= 0.5
            ring = inside & ~binary_erosion(inside, iterations=2)
            signal = min(1.0, 0.15 + progress * 1.7) * img.fluor_brightness
            _paste(chans["annexin_v"], y0, x0, (ring * 1.0 + cov * 0.25).astype(np.float32) * signal)
    out = {}
    for name, canvas in chans.items():
        blurred = gaussian_filter(canvas, img.fluor_psf_sigma_px) if canvas.any() else canvas
        out[name] = (blurred + img.fluor_background) * illumination
    return out


__all__ = ["FluorescenceFrame", "render_fluorescence", "dye_loading", "EFFECTOR", "TARGET"]
