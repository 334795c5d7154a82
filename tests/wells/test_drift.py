"""Stage drift: known sub-pixel shifts, the simulator's true drift under focus drift, checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from scipy.ndimage import fourier_shift

from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.sim.config import ChipLayout, preset_config
from lftiming_ml.wells.config import WellGridParams
from lftiming_ml.wells.drift import drift_problems, estimate_drift


@pytest.fixture(scope="module")
def sim_field(tmp_path_factory) -> tuple[np.ndarray, np.ndarray]:
    """A small simulated field (2x2 wells, 224 px, 6 frames) with strong focus drift and a stage
    jump: (phase uint16[T, H, W], true drift float[T, 2] relative to frame 0)."""
    base = preset_config("standard", seed=11, n_fields=1, n_frames=6)
    cfg = base.model_copy(update={
        "layout": ChipLayout(wells_per_block=2, field_px=224),
        "imaging": base.imaging.model_copy(update={"focus_step_um": 0.4, "drift_step_px": 0.6,
                                                   "drift_jump_prob": 0.3, "drift_jump_px": 3.0}),
    })
    root = simulate_chip(tmp_path_factory.mktemp("drift") / "drift-chip", cfg, workers=1)
    phase = tifffile.imread(root / "f000" / "phase.tif")
    drift = np.array(json.loads((root / "gt" / "truth.json").read_text())["fields"]["f000"]["drift_px"])
    return phase, drift - drift[0]


def test_recovers_a_known_subpixel_shift(sim_field):
    frame = sim_field[0][0].astype(np.float64)
    moved = np.fft.ifft2(fourier_shift(np.fft.fft2(frame), (1.3, -2.7))).real
    drift = estimate_drift(np.stack([frame, moved]))
    assert drift[0] == pytest.approx([0.0, 0.0])
    assert np.abs(drift[1] - [1.3, -2.7]).max() < 0.1


def test_matches_the_simulated_drift_under_focus_drift(sim_field):
    phase, truth = sim_field
    assert np.abs(np.diff(truth, axis=0)).max() > 1.0  # the fixture really moves
    drift = estimate_drift(phase)
    assert np.linalg.norm(drift - truth, axis=1).max() < 0.3


def test_reference_frame_is_zero_and_consistent(sim_field):
    phase, _ = sim_field
    d0 = estimate_drift(phase)
    d2 = estimate_drift(phase, reference=2)
    assert d2[2] == pytest.approx([0.0, 0.0])
    assert np.abs((d0 - d0[2]) - d2).max() < 0.5  # two estimates, each within ~0.2 px of the truth


def test_reference_beats_chaining(sim_field):
    phase, truth = sim_field
    ref = estimate_drift(phase)
    chained = estimate_drift(phase, params=WellGridParams(drift_mode="chained"))
    assert np.abs(ref - truth).mean() <= np.abs(chained - truth).mean() + 0.02


def test_bad_stacks_are_refused():
    with pytest.raises(ValueError, match="T x H x W"):
        estimate_drift(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="reference frame 3"):
        estimate_drift(np.zeros((2, 16, 16)), reference=3)


def test_drift_problems():
    params = WellGridParams(max_drift_px=10, max_step_px=5)
    assert drift_problems(np.zeros((4, 2)), params) == []
    bad = np.array([[0, 0], [6.0, 0], [12.0, 0], [np.nan, 0]])
    msgs = " | ".join(drift_problems(bad, params))
    assert "NaN" in msgs and "exceeds 10" in msgs and "exceeds 5" in msgs
