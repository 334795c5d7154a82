"""Image formation: Zernike phase contrast in the Fourier plane, binning, illumination, camera.

Everything here works on 2-D arrays in (y, x) order. A pixel ``(i, j)`` of a grid with
pixel size ``pixel_um`` covers ``[i, i+1) * pixel_um`` in y and ``[j, j+1) * pixel_um`` in x
(pixel-area convention: its centre is at ``((i + 0.5) * pixel_um, (j + 0.5) * pixel_um)``),
so binning by ``f`` maps hi-res pixel ``i`` to output pixel ``i // f`` without a shift.

Model of the microscope (coherent, on-axis; the standard simplification in which the
condenser annulus and the phase ring together act as a disc of radius ``ring_width_na``
around the direct light):

1. object field ``t = A * exp(i * 2 pi / lambda * OPD)``; light whose local OPD slope is
   steeper than the objective can collect (``|grad OPD| > NA``, e.g. on the steep PDMS
   rims) is refracted out of the pupil; it is removed in real space (``_escape_factor``),
   which also keeps the field from aliasing on the grid;
2. spectrum ``T = FFT(t)``, times a sub-pixel shift ramp (stage drift);
3. defocus by angular-spectrum propagation, evanescent waves cut;
4. objective pupil cut-off at ``NA / lambda``;
5. phase ring: frequencies within ``ring_width_na / lambda`` of DC (soft edge
   ``ring_edge_na``) are multiplied by ``ring_transmission * exp(-i * ring_phase_rad)``:
   ``ring_phase_rad`` is a phase ADVANCE, and with ``exp(+i k OPD)`` (positive OPD =
   delay) an advance is ``exp(-i phase)``; +pi/2 gives positive (dark-cell) contrast;
6. intensity ``|IFFT(.)|^2 / ring_transmission^2`` (a clear, flat field gives 1.0).

Halos (the low-passed object leaking out of the ring disc) and shade-off (large flat
objects fading to background) emerge from step 5; nothing is painted on.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import fft as sfft

from lftiming_ml.sim.config import OpticsParams

_ESCAPE_POWER = 4  # steepness of the roll-off of light refracted outside the pupil


def phase_contrast_image(
    opd_um: np.ndarray,
    amplitude: np.ndarray | float = 1.0,
    *,
    pixel_um: float,
    optics: OpticsParams,
    defocus_um: float = 0.0,
    shift_px: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Zernike phase-contrast intensity of a thin object.

    opd_um (float32[H, W]): optical path difference relative to clear medium (um).
    amplitude (float32[H, W] or scalar): amplitude transmission of the object (1 = clear).
    pixel_um: pixel size of this grid (um/px).
    defocus_um: propagation distance of the focal plane (um, in the medium; 0 = in focus).
    shift_px: (dy, dx) rigid shift of the image, in px of this grid, applied exactly in
        Fourier space (periodic: an integer shift equals ``np.roll``).
    Returns float32[H, W], normalised so that a clear flat field is 1.0.

    Light on OPD slopes steeper than ``min(NA, lambda / (2 px))`` is dropped (it would
    leave the pupil; see ``_escape_factor``). The canvas is treated as periodic (FFT): pad
    by a margin of >= ~15 um plus the largest drift and crop afterwards.
    """
    opd = np.asarray(opd_um, dtype=np.float32)
    if opd.ndim != 2:
        raise ValueError(f"opd_um must be 2-D (H, W), got shape {opd.shape}")
    amp = np.broadcast_to(np.asarray(amplitude, dtype=np.float32), opd.shape)
    k0 = np.float32(2.0 * np.pi / optics.wavelength_um)

    amp = amp * _escape_factor(opd, pixel_um=pixel_um, optics=optics)
    phase = opd * k0
    field = np.empty(opd.shape, dtype=np.complex64)
    field.real = np.cos(phase)
    field.imag = np.sin(phase)
    field *= amp

    spectrum = sfft.fft2(field, workers=-1, overwrite_x=True)
    spectrum *= _transfer_function(opd.shape, float(pixel_um), optics, float(defocus_um))
    dy, dx = float(shift_px[0]), float(shift_px[1])
    if dy != 0.0 or dx != 0.0:
        ramp_y, ramp_x = _shift_ramps(opd.shape, dy, dx)
        spectrum *= ramp_y[:, None]
        spectrum *= ramp_x[None, :]
    image_field = sfft.ifft2(spectrum, workers=-1, overwrite_x=True)
    intensity = image_field.real**2
    intensity += image_field.imag**2
    intensity *= np.float32(1.0 / optics.ring_transmission**2)
    return intensity.astype(np.float32, copy=False)


def _escape_factor(opd: np.ndarray, *, pixel_um: float, optics: OpticsParams) -> np.ndarray:
    """Fraction of light kept where the OPD is steep (float32[H, W], 1 on gentle slopes).

    A local OPD slope ``s = |grad OPD|`` deflects light to the direction sine ``s``; above
    ``NA`` it misses the objective, and above ``lambda / (2 px)`` the grid cannot carry it.
    Kept fraction ``1 / (1 + (s / s_c)^(2p))``, ``s_c = min(NA, lambda / (2 px))``.
    Central differences, periodic at the borders (like the FFT).
    """
    s_c = min(optics.na, optics.wavelength_um / (2.0 * pixel_um))
    scale = np.float32(1.0 / (2.0 * pixel_um * s_c))  # central difference, in units of s_c
    gy = np.empty_like(opd)
    gy[1:-1] = opd[2:] - opd[:-2]
    gy[0] = opd[1] - opd[-1]
    gy[-1] = opd[0] - opd[-2]
    gx = np.empty_like(opd)
    gx[:, 1:-1] = opd[:, 2:] - opd[:, :-2]
    gx[:, 0] = opd[:, 1] - opd[:, -1]
    gx[:, -1] = opd[:, 0] - opd[:, -2]
    gy *= scale
    gx *= scale
    gy *= gy
    gx *= gx
    gy += gx  # (s / s_c)^2
    q = gy
    for _ in range(_ESCAPE_POWER - 1):
        q = q * gy
    q += np.float32(1.0)
    return np.reciprocal(q, out=q)


@lru_cache(maxsize=8)
def _frequencies(shape: tuple[int, int], pixel_um: float) -> np.ndarray:
    """|f| on the FFT grid (float32[H, W], cycles/um)."""
    fy = sfft.fftfreq(shape[0], d=pixel_um).astype(np.float32)
    fx = sfft.fftfreq(shape[1], d=pixel_um).astype(np.float32)
    return np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)


@lru_cache(maxsize=8)
def _pupil_and_ring(shape: tuple[int, int], pixel_um: float, optics: OpticsParams) -> np.ndarray:
    """Objective pupil times phase ring (complex64[H, W], FFT order)."""
    f = _frequencies(shape, pixel_um)
    pupil = (f <= optics.na / optics.wavelength_um).astype(np.float32)
    ring_f = optics.ring_width_na / optics.wavelength_um
    edge_f = optics.ring_edge_na / optics.wavelength_um
    if edge_f > 0:  # raised-cosine edge from ring_f - edge/2 to ring_f + edge/2
        u = np.clip((f - (ring_f - edge_f / 2)) / edge_f, 0.0, 1.0)
        in_ring = 0.5 * (1.0 + np.cos(np.pi * u))
    else:
        in_ring = (f <= ring_f).astype(np.float32)
    ring = optics.ring_transmission * np.exp(-1j * optics.ring_phase_rad)
    h = pupil * (1.0 + (ring - 1.0) * in_ring)
    return h.astype(np.complex64)


@lru_cache(maxsize=4)
def _transfer_function(
    shape: tuple[int, int], pixel_um: float, optics: OpticsParams, defocus_um: float
) -> np.ndarray:
    """Pupil x ring x defocus (complex64[H, W], FFT order); read-only, cached."""
    h = _pupil_and_ring(shape, pixel_um, optics)
    if defocus_um != 0.0:
        f = _frequencies(shape, pixel_um)
        k_med = optics.n_medium / optics.wavelength_um
        kz2 = np.float32(k_med**2) - f * f
        kz = np.sqrt(np.maximum(kz2, 0.0)) - np.float32(k_med)  # DC keeps phase 0
        phase = np.float32(2.0 * np.pi * defocus_um) * kz
        prop = np.empty(shape, dtype=np.complex64)
        prop.real = np.cos(phase)
        prop.imag = np.sin(phase)
        prop[kz2 < 0] = 0.0  # evanescent
        prop *= h
        h = prop
    else:
        h = h.copy()
    h.flags.writeable = False
    return h


def _shift_ramps(shape: tuple[int, int], dy: float, dx: float) -> tuple[np.ndarray, np.ndarray]:
    """Separable Fourier shift ramps (complex64[H], complex64[W]); out[y] = in[y - dy]."""
    fy = sfft.fftfreq(shape[0])
    fx = sfft.fftfreq(shape[1])
    return (np.exp(-2j * np.pi * fy * dy).astype(np.complex64),
            np.exp(-2j * np.pi * fx * dx).astype(np.complex64))


def bin_image(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor x factor`` blocks.

    image (float[..., H, W]) -> float32[..., H // factor, W // factor]; H and W must be
    divisible by ``factor``.
    """
    image = np.asarray(image)
    if factor < 1:
        raise ValueError(f"bin factor must be >= 1, got {factor}")
    h, w = image.shape[-2:]
    if h % factor or w % factor:
        raise ValueError(f"image shape {image.shape[-2:]} is not divisible by bin factor {factor}")
    if factor == 1:
        return image.astype(np.float32, copy=False)
    lead = image.shape[:-2]
    blocks = image.reshape(*lead, h // factor, factor, w // factor, factor)
    return blocks.mean(axis=(-3, -1), dtype=np.float32)


def illumination_profile(shape: tuple[int, int], vignetting: float) -> np.ndarray:
    """Smooth (quadratic) illumination falloff, float32[H, W].

    1.0 at the geometric centre of the field, ``1 - vignetting`` at the corner pixels.
    """
    h, w = shape
    yy = (np.arange(h, dtype=np.float32) - (h - 1) / 2) / max((h - 1) / 2, 1.0)
    xx = (np.arange(w, dtype=np.float32) - (w - 1) / 2) / max((w - 1) / 2, 1.0)
    r2 = yy[:, None] ** 2 + xx[None, :] ** 2  # 2 at the corners
    return (1.0 - np.float32(vignetting / 2.0) * r2).astype(np.float32)


POISSON_GAUSSIAN_LIMIT_E = 400.0


def camera_counts(
    expected_e: np.ndarray,
    *,
    read_noise_e: float,
    gain_adu_per_e: float,
    offset_adu: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """sCMOS frame: Poisson shot noise + Gaussian read noise, converted to ADU.

    expected_e (float[H, W]): mean photo-electrons per pixel (>= 0).
    Returns uint16[H, W] = clip(round((Poisson(e) + N(0, read_noise_e)) * gain + offset)).
    """
    lam = np.clip(np.asarray(expected_e, dtype=np.float64), 0.0, None)
    if lam.size and lam.min() >= POISSON_GAUSSIAN_LIMIT_E:
        # Bright frames (phase): Poisson(lam) + N(0, r^2) drawn as its Gaussian limit with the
        # same mean and variance; at >= 400 e- the skew (1/sqrt(lam) <= 0.05) is far below
        # one ADU step, and it is ~5x faster than numpy's Poisson sampler.
        sd = np.sqrt(lam + read_noise_e**2).astype(np.float32)
        electrons = lam.astype(np.float32) + sd * rng.standard_normal(lam.shape, dtype=np.float32)
    else:
        electrons = rng.poisson(lam).astype(np.float32)
        if read_noise_e > 0:
            electrons += rng.normal(0.0, read_noise_e, size=lam.shape).astype(np.float32)
    adu = electrons * np.float32(gain_adu_per_e) + np.float32(offset_adu)
    return np.clip(np.rint(adu), 0, np.iinfo(np.uint16).max).astype(np.uint16)
