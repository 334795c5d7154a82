"""Per-frame rigid stage drift of a field by sub-pixel cross-correlation of its phase frames.

Convention (the simulator's): content at p in the reference frame is at ``p + drift[t]`` in
frame t; ``drift[reference] == 0``.

Each frame is band-passed in Fourier space (high-pass removes vignetting and lamp flicker;
a slight low-pass damps the aliased frequencies of the undersampled rims, which otherwise
pull sub-pixel estimates towards whole pixels), clipped at a few robust sd (bright cell halos
must not outweigh the static well rims) and Hann-windowed (no wrap-around edge). The
cross-power spectrum may be whitened (``|cross| ** drift_whitening``; 1 = phase correlation,
measured less robust to focus drift here). The integer peak is searched only near the
expected shift, since a well lattice is periodic and its correlation repeats one pitch
away; it is refined by an upsampled DFT around it (Guizar-Sicairos et al. 2008, the method
of ``skimage.registration.phase_cross_correlation``), to ``1 / drift_upsample`` px.

Mode ``reference`` (default) registers every frame to the reference frame, so errors do not
accumulate; the search is centred on the previous frame's drift plus the consecutive-frame
shift (neighbouring frames look most alike, so stage jumps and focus changes are followed).
Mode ``chained`` sums consecutive-frame shifts (kept for comparison: its error grows).
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from lftiming_ml.wells.config import WellGridParams


def _spectra(stack: np.ndarray, params: WellGridParams) -> np.ndarray:
    """Prepared half spectra ``complex64[T, H, W // 2 + 1]`` of ``stack (T, H, W)``: band-passed,
    clipped at ``drift_clip_mad`` robust sd (bright cell halos must not outweigh the rims), Hann-windowed."""
    _, h, w = stack.shape
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    fy, fx = sfft.fftfreq(h)[:, None], sfft.rfftfreq(w)[None, :]
    f2 = fy ** 2 + fx ** 2
    band = ((1.0 - np.exp(-2.0 * (np.pi * params.drift_highpass_sigma_px) ** 2 * f2))
            * np.exp(-2.0 * (np.pi * params.drift_lowpass_sigma_px) ** 2 * f2)).astype(np.float32)
    out = np.empty((stack.shape[0], h, w // 2 + 1), dtype=np.complex64)
    for t in range(stack.shape[0]):
        spec = sfft.rfft2(stack[t].astype(np.float32), workers=-1) * band
        if params.drift_clip_mad > 0:
            img = sfft.irfft2(spec, s=(h, w), workers=-1)
            lim = params.drift_clip_mad * 1.4826 * np.median(np.abs(img[::4, ::4]))
            np.clip(img, -lim, lim, out=img)
            spec = sfft.rfft2(img * window, workers=-1)
        else:
            spec = sfft.rfft2(sfft.irfft2(spec, s=(h, w), workers=-1) * window, workers=-1)
        out[t] = spec
    return out


def _register(ref: np.ndarray, mov: np.ndarray, width: int, *, whitening: float, centre: np.ndarray,
              radius: float, upsample: int) -> np.ndarray:
    """Shift (dy, dx) px of ``mov`` relative to ``ref`` (half spectra of real frames ``width`` px wide),
    mov(p + s) = ref(p), searched within ``radius`` px (per axis) of ``centre``."""
    h = ref.shape[0]
    cross = mov * np.conj(ref)
    if whitening > 0:
        cross /= np.maximum(np.abs(cross), np.float32(1e-20)) ** np.float32(whitening)
    corr = sfft.irfft2(cross, s=(h, width), workers=-1)
    m = int(min(radius, h // 2 - 1, width // 2 - 1))
    cy, cx = (int(v) for v in np.rint(centre))
    sy, sx = cy + np.arange(-m, m + 1), cx + np.arange(-m, m + 1)
    sub = corr[np.ix_(sy % h, sx % width)]
    jy, jx = np.unravel_index(np.argmax(sub), sub.shape)
    peak = np.array([sy[jy], sx[jx]], dtype=np.float64)
    if upsample <= 1:
        return peak
    # upsampled DFT of the cross-power spectrum on a +-0.75 px grid around the integer peak; the
    # half spectrum counts twice except its kx = 0 (and Nyquist) column (Hermitian symmetry)
    n = int(np.ceil(0.75 * upsample))
    offs = np.arange(-n, n + 1) / upsample
    kx = sfft.rfftfreq(width)
    weight = np.full(kx.shape, 2.0)
    weight[0] = 1.0
    if width % 2 == 0:
        weight[-1] = 1.0
    ey = np.exp(2j * np.pi * (peak[0] + offs)[:, None] * sfft.fftfreq(h)[None, :]).astype(np.complex64)
    ex = (weight[:, None] * np.exp(2j * np.pi * kx[:, None] * (peak[1] + offs)[None, :])).astype(np.complex64)
    up = (ey @ cross @ ex).real
    jy, jx = np.unravel_index(np.argmax(up), up.shape)
    return peak + np.array([offs[jy], offs[jx]])


def estimate_drift(stack: np.ndarray, *, params: WellGridParams | None = None, reference: int | None = None,
                   upsample: int | None = None) -> np.ndarray:
    """Rigid drift of every frame relative to the reference frame.

    stack (uint16 or float[T, H, W]): one channel of one field, normally phase contrast.
    params: the ``drift_*`` fields and ``max_step_px``; ``reference`` / ``upsample`` override
        ``drift_reference`` / ``drift_upsample``.
    Returns float64[T, 2]: (dy, dx) px; content at p in the reference frame is at
    ``p + drift[t]`` in frame t; precision ``1 / upsample`` px; ``drift[reference] == 0``.
    """
    params = params or WellGridParams()
    ref = params.drift_reference if reference is None else reference
    up = params.drift_upsample if upsample is None else upsample
    stack = np.asarray(stack)
    if stack.ndim != 3:
        raise ValueError(f"expected a T x H x W stack, got shape {stack.shape}")
    n = stack.shape[0]
    if not 0 <= ref < n:
        raise ValueError(f"reference frame {ref} is outside the stack's {n} frames")
    spectra = _spectra(stack, params)
    width = stack.shape[2]
    kw = {"whitening": params.drift_whitening, "upsample": up}

    drift = np.zeros((n, 2), dtype=np.float64)
    zero = np.zeros(2)
    for step in (1, -1):  # forward from the reference, then backward
        for t in range(ref + step, n if step > 0 else -1, step):
            prev = t - step
            # a consecutive-frame registration guides the search: neighbours look most alike
            if params.drift_mode == "chained":
                drift[t] = drift[prev] + _register(spectra[prev], spectra[t], width, centre=zero,
                                                   radius=params.max_step_px, **kw)
            else:
                move = _register(spectra[prev], spectra[t], width, centre=zero, radius=params.max_step_px,
                                 whitening=params.drift_whitening, upsample=1)
                drift[t] = _register(spectra[ref], spectra[t], width, centre=drift[prev] + move,
                                     radius=params.drift_guide_radius_px, **kw)
    return drift


def drift_problems(drift: np.ndarray, params: WellGridParams) -> list[str]:
    """Reasons to distrust ``drift (float[T, 2], px)``: NaN, |drift| above ``max_drift_px`` or a
    frame-to-frame step above ``max_step_px``. Empty when fine (for an asset check)."""
    d = np.asarray(drift, dtype=np.float64)
    problems = []
    if not np.isfinite(d).all():
        problems.append(f"drift is NaN/inf at frames {np.flatnonzero(~np.isfinite(d).all(axis=1)).tolist()}")
    big = np.flatnonzero(np.abs(d).max(axis=1) > params.max_drift_px)
    if big.size:
        problems.append(f"|drift| exceeds {params.max_drift_px} px at frames {big.tolist()}")
    steps = np.flatnonzero(np.abs(np.diff(d, axis=0)).max(axis=1) > params.max_step_px) + 1 if len(d) > 1 else []
    if len(steps):
        problems.append(f"frame-to-frame drift exceeds {params.max_step_px} px at frames {list(map(int, steps))}")
    return problems
