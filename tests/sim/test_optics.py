"""Phase-contrast image formation: halos, shade-off, ring width, defocus, shift, camera."""

from __future__ import annotations

import numpy as np
import pytest

from lftiming_ml.sim.cells import render_cell
from lftiming_ml.sim.config import OpticsParams
from lftiming_ml.sim.optics import (
    bin_image,
    camera_counts,
    illumination_profile,
    phase_contrast_image,
)
from lftiming_ml.sim.state import EFFECTOR, TARGET, CellPose

PX = 0.325
N = 256
OPTICS = OpticsParams()


def _radius_map(n: int = N, px: float = PX) -> np.ndarray:
    """Distance (um) of each pixel centre from the canvas centre, float[n, n]."""
    c = (np.arange(n) + 0.5 - n / 2) * px
    return np.hypot(c[:, None], c[None, :])


def _dome(radius_um: float, opd_um: float) -> np.ndarray:
    r = _radius_map()
    return (opd_um * np.sqrt(np.clip(1 - (r / radius_um) ** 2, 0, 1))).astype(np.float32)


def _radial_profile(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``image`` in rings of width PX/2 around the centre: (radius_um, mean)."""
    r = _radius_map()
    edges = np.arange(0, r.max(), PX / 2)
    idx = np.digitize(r.ravel(), edges)
    sums = np.bincount(idx, image.ravel(), len(edges) + 1)[1:len(edges)]
    counts = np.bincount(idx, None, len(edges) + 1)[1:len(edges)]
    return edges[:-1] + PX / 4, sums / np.maximum(counts, 1)


def _halo(opd: np.ndarray, radius_um: float, optics: OpticsParams) -> tuple[float, float, float]:
    """Halo of a centred round object: (peak excess, first zero crossing radius from the
    centre (um), integrated excess of the first bright lobe (um^2))."""
    rc, prof = _radial_profile(phase_contrast_image(opd, pixel_um=PX, optics=optics))
    outside = rc > radius_um + PX
    rr, excess = rc[outside], prof[outside] - 1.0
    i_peak = int(np.argmax(excess))
    i_zero = i_peak + int(np.argmax(excess[i_peak:] < 0))
    lobe = slice(0, i_zero)
    energy = float(np.sum(np.clip(excess[lobe], 0, None) * 2 * np.pi * rr[lobe]) * PX / 2)
    return float(excess[i_peak]), float(rr[i_zero]), energy


def test_clear_field_is_one_everywhere() -> None:
    for opd_value in (0.0, 0.37):  # a uniform phase is invisible too
        opd = np.full((N, N), opd_value, dtype=np.float32)
        im = phase_contrast_image(opd, pixel_um=PX, optics=OPTICS, defocus_um=0.8, shift_px=(0.3, -1.7))
        assert im.dtype == np.float32 and im.shape == (N, N)
        assert np.abs(im - 1.0).max() < 1e-4


def test_weak_cell_is_dark_with_bright_halo() -> None:
    radius = 4.0
    opd = _dome(radius, 0.05)
    im = phase_contrast_image(opd, pixel_um=PX, optics=OPTICS)
    r = _radius_map()
    background = np.median(im[r > 30])
    assert abs(background - 1.0) < 0.02
    annulus = im[(r > radius) & (r < radius + 1.5)].mean()
    inside = im[r < radius].mean()
    assert annulus > background + 0.1
    assert inside < background - 0.1


@pytest.mark.parametrize("pose", [
    CellPose((41.6, 41.6), 4.0, 1.0, 0.0, EFFECTOR, 0.0, 1),
    CellPose((41.6, 41.6), 5.5, 1.0, 0.0, TARGET, 0.0, 2),
])
def test_rendered_live_cell_is_darker_than_background_with_halo(pose: CellPose) -> None:
    patch = render_cell(pose, pixel_um=PX, optics=OPTICS)
    opd = np.zeros((N, N), np.float32)
    amp = np.ones((N, N), np.float32)
    sl = np.s_[patch.y0:patch.y0 + patch.mask.shape[0], patch.x0:patch.x0 + patch.mask.shape[1]]
    opd[sl], amp[sl] = patch.opd_um, patch.amplitude
    im = phase_contrast_image(opd, amp, pixel_um=PX, optics=OPTICS)
    r = _radius_map()
    assert im[r < pose.radius_um - 1.0].mean() < 1.0
    assert im[(r > pose.radius_um) & (r < pose.radius_um + 1.5)].mean() > 1.3


def test_halo_extent_scales_inversely_with_ring_width() -> None:
    """Relation asserted: the halo is the object low-passed by the ring disc, so its kernel
    is the Airy/jinc transform of a disc of radius ``ring_width_na / lambda``. For an object
    smaller than that kernel (1 um weak dome), the first zero crossing of the halo excess
    lies at ``0.61 * lambda / ring_width_na`` from the centre (within 20%), i.e. the halo
    gets WIDER as the ring gets NARROWER; halving the ring width about doubles it."""
    opd = _dome(1.0, 0.03)
    zeros = {}
    for width in (0.05, 0.10):
        _, zeros[width], _ = _halo(opd, 1.0, OpticsParams(ring_width_na=width, ring_edge_na=0.01))
        predicted = 0.61 * OPTICS.wavelength_um / width
        assert zeros[width] == pytest.approx(predicted, rel=0.2)
    assert 1.6 < zeros[0.05] / zeros[0.10] < 2.4


def test_halo_strength_vs_ring_width() -> None:
    """Relations asserted (linear theory: halo = (2/T) * object low-passed by the ring disc):
    - an object smaller than the halo kernel (1 um dome): the halo PEAK grows with ring
      width (a wider disc passes more of the object into the shifted, attenuated band);
    - a cell-sized object (4 um dome): the integrated first bright lobe SHRINKS as the ring
      widens (a narrower kernel leaks less of the object's mass outside its edge)."""
    small, cell = _dome(1.0, 0.03), _dome(4.0, 0.03)
    narrow = OpticsParams(ring_width_na=0.05, ring_edge_na=0.01)
    wide = OpticsParams(ring_width_na=0.10, ring_edge_na=0.01)
    assert _halo(small, 1.0, wide)[0] > 1.5 * _halo(small, 1.0, narrow)[0]
    assert _halo(cell, 4.0, wide)[2] < 0.5 * _halo(cell, 4.0, narrow)[2]


def test_shade_off_of_large_flat_object() -> None:
    half = int(15.0 / PX)  # 30 um square of constant OPD
    opd = np.zeros((N, N), np.float32)
    opd[N // 2 - half:N // 2 + half, N // 2 - half:N // 2 + half] = 0.05
    im = phase_contrast_image(opd, pixel_um=PX, optics=OPTICS)
    k = int(1.5 / PX)
    centre = im[N // 2 - k:N // 2 + k, N // 2 - k:N // 2 + k].mean()
    lo, hi = N // 2 - half + 2, N // 2 - half + 2 + int(1.5 / PX)  # 0.65-2 um inside the edge
    near_edge = im[N // 2 - k:N // 2 + k, lo:hi].mean()
    assert centre > near_edge + 0.1
    assert abs(centre - 1.0) < 0.15


def _cell_canvas() -> np.ndarray:
    patch = render_cell(CellPose((40.0, 45.0), 4.5, 1.3, 0.4, EFFECTOR, 0.0, 5), pixel_um=PX, optics=OPTICS)
    opd = np.zeros((N, N), np.float32)
    opd[patch.y0:patch.y0 + patch.mask.shape[0], patch.x0:patch.x0 + patch.mask.shape[1]] = patch.opd_um
    return opd


def test_defocus_changes_image_and_zero_defocus_is_identity() -> None:
    opd = _cell_canvas()
    focused = phase_contrast_image(opd, pixel_um=PX, optics=OPTICS)
    explicit_zero = phase_contrast_image(opd, pixel_um=PX, optics=OPTICS, defocus_um=0.0)
    np.testing.assert_array_equal(focused, explicit_zero)
    defocused = phase_contrast_image(opd, pixel_um=PX, optics=OPTICS, defocus_um=2.0)
    assert np.abs(defocused - focused).max() > 0.1
    assert abs(defocused.mean() - focused.mean()) < 0.01  # light is conserved


def test_integer_shift_equals_roll() -> None:
    opd = _cell_canvas()
    base = phase_contrast_image(opd, pixel_um=PX, optics=OPTICS)
    shifted = phase_contrast_image(opd, pixel_um=PX, optics=OPTICS, shift_px=(3.0, -5.0))
    np.testing.assert_allclose(shifted, np.roll(base, (3, -5), axis=(0, 1)), atol=1e-4)


def test_subpixel_shift_equals_shifted_object() -> None:
    """A band-limited (Gaussian) object: shifting the image by a sub-pixel (dy, dx) equals
    imaging the object moved by (dy, dx) px."""
    c = (np.arange(N) + 0.5 - N / 2) * PX

    def blob(dy_px: float, dx_px: float) -> np.ndarray:
        r2 = (c[:, None] - dy_px * PX) ** 2 + (c[None, :] - dx_px * PX) ** 2
        return (0.3 * np.exp(-r2 / (2 * 1.5**2))).astype(np.float32)

    shifted = phase_contrast_image(blob(0, 0), pixel_um=PX, optics=OPTICS, shift_px=(0.4, -1.25))
    moved = phase_contrast_image(blob(0.4, -1.25), pixel_um=PX, optics=OPTICS)
    unmoved = phase_contrast_image(blob(0, 0), pixel_um=PX, optics=OPTICS)
    assert np.abs(unmoved - moved).max() > 0.5
    np.testing.assert_allclose(shifted, moved, atol=1e-4)


def test_bin_image_means_blocks_and_rejects_bad_sizes() -> None:
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_allclose(bin_image(image, 2), [[2.5, 4.5], [10.5, 12.5]])
    assert bin_image(image, 2).dtype == np.float32
    with pytest.raises(ValueError, match="divisible"):
        bin_image(np.zeros((5, 4)), 2)


def test_illumination_profile_centre_and_corners() -> None:
    prof = illumination_profile((65, 81), 0.2)
    assert prof.dtype == np.float32 and prof.shape == (65, 81)
    assert prof[32, 40] == pytest.approx(1.0)
    for corner in (prof[0, 0], prof[0, -1], prof[-1, 0], prof[-1, -1]):
        assert corner == pytest.approx(0.8, abs=1e-6)
    assert np.all(np.diff(prof[32, :41]) > 0)  # rises smoothly towards the centre


@pytest.mark.parametrize("e", [30.0, 399.0, 400.0, 2500.0])  # exact Poisson below 400 e-, Gaussian limit above
def test_camera_counts_match_poisson_plus_read_noise(e: float) -> None:
    rng = np.random.default_rng(0)
    read, gain, offset = 2.0, 0.46, 100.0
    counts = camera_counts(np.full((512, 512), e), read_noise_e=read, gain_adu_per_e=gain,
                           offset_adu=offset, rng=rng)
    assert counts.dtype == np.uint16
    assert counts.mean() == pytest.approx(e * gain + offset, rel=0.01)
    # rounding to integer ADU adds 1/12 ADU^2
    assert counts.astype(float).var() == pytest.approx(gain**2 * (e + read**2) + 1 / 12, rel=0.03)


def test_camera_counts_clip_to_uint16() -> None:
    rng = np.random.default_rng(1)
    expected = np.array([[0.0, 1e6]])
    counts = camera_counts(expected, read_noise_e=5.0, gain_adu_per_e=1.0, offset_adu=0.0, rng=rng)
    assert counts[0, 1] == 65535
    many = camera_counts(np.zeros((64, 64)), read_noise_e=5.0, gain_adu_per_e=1.0, offset_adu=0.0, rng=rng)
    assert many.min() == 0  # negative read noise clipped, not wrapped
    assert many.max() < 100
