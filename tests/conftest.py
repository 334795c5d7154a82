"""Shared fixtures: tiny raw chips written in the contract, and the small simulated chip config."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lftiming_ml.chip.writer import write_stack
from lftiming_ml.sim.config import SimConfig, preset_config

TINY_T, TINY_H, TINY_W = 3, 24, 32


def small_sim_config(preset: str = "standard", *, seed: int, n_frames: int) -> SimConfig:
    """One 352 px field (at 0.65 um/px; 464 px at other-scope's 0.5 um/px) holding a 3 x 3
    block of wells: the smallest simulated chip the pipeline's tests run on."""
    config = preset_config(preset, seed=seed, n_fields=1, n_frames=n_frames)
    field_px = 352 if config.layout.pixel_size_um == 0.65 else 16 * round(229 / config.layout.pixel_size_um / 16)
    return config.model_copy(update={"layout": config.layout.model_copy(
        update={"wells_per_block": 3, "field_px": field_px})})


def write_tiny_chip(root: Path, chip_id: str = "chip-a", **overrides) -> Path:
    """A valid 1-field, 2-channel, 3-frame chip of random uint16 noise under ``root/chip_id``."""
    chip = root / chip_id
    manifest = {
        "chip_id": chip_id,
        "frame_interval_min": 5.0,
        "pixel_size_um": 0.65,
        "n_frames": TINY_T,
        "field_shape": [TINY_H, TINY_W],
        "channels": [{"name": "phase", "role": "phase"}, {"name": "pkh67", "role": "effector_dye"}],
        "fields": [{"field_id": "f000", "block_row": 0, "block_col": 0,
                    "images": {"phase": "f000/phase.tif", "pkh67": "f000/pkh67.tif"}}],
    }
    manifest.update(overrides)
    rng = np.random.default_rng(0)
    for name in ("phase", "pkh67"):
        write_stack(chip / "f000" / f"{name}.tif", rng.integers(1000, 4000, (TINY_T, TINY_H, TINY_W), dtype=np.uint16),
                    pixel_size_um=0.65)
    (chip / "chip.json").write_text(json.dumps(manifest))  # written last, like a real export
    return chip


@pytest.fixture
def tiny_chip(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``tiny_chip(chip_id="chip-a", root=None, **manifest_overrides)``."""

    def make(chip_id: str = "chip-a", root: Path | None = None, **overrides) -> Path:
        return write_tiny_chip(root or tmp_path, chip_id, **overrides)

    return make
