"""The second simulated microscope (``other-scope``): a valid raw chip that differs from
``standard`` in the ways the preset says, measurably in its images and truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import zarr
from scipy import ndimage

from lftiming_ml.chip import validate_chip
from lftiming_ml.sim.chip import plan_field, simulate_chip
from lftiming_ml.sim.config import PRESETS, preset_config, preset_differences
from tests.conftest import small_sim_config


@pytest.fixture(scope="module")
def chips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("scopes")
    return {p: simulate_chip(root / f"scope-{p}", small_sim_config(p, seed=3, n_frames=1), workers=1)
            for p in ("standard", "other-scope")}


def halo_profile(chip: Path, *, step_um: float = 0.5, max_um: float = 6.0) -> np.ndarray:
    """Mean phase intensity over the local medium level, minus 1, in rings ``step_um`` wide
    at growing distance (um) outside the cells (frame 0, all cells of a well together)."""
    ps = json.loads((chip / "chip.json").read_text())["pixel_size_um"]
    stack = tifffile.imread(chip / "f000" / "phase.tif").astype(float)
    phase = stack.reshape(-1, *stack.shape[-2:])[0]
    wells = pd.read_parquet(chip / "gt" / "wells.parquet")
    root = zarr.open_group(str(chip / "gt" / "masks.zarr"), mode="r")
    edges = np.arange(0.0, max_um + step_um, step_um)
    sums, counts = np.zeros(len(edges) - 1), np.zeros(len(edges) - 1)
    for w in wells[wells["frame"] == 0].itertuples():
        group = root[f"{w.field_id}/r{w.row}c{w.col}"]
        if "amodal" not in group:
            continue
        cover = np.asarray(group["amodal"][0]).any(0)
        crop = phase[w.crop_y0:w.crop_y0 + w.crop_size, w.crop_x0:w.crop_x0 + w.crop_size]
        medium = np.median(crop[~ndimage.binary_dilation(cover, iterations=int(8 / ps))])
        distance = ndimage.distance_transform_edt(~cover) * ps
        for i in range(len(edges) - 1):
            ring = (distance > edges[i]) & (distance <= edges[i + 1])
            sums[i] += (crop[ring] / medium - 1).sum()
            counts[i] += ring.sum()
    return sums / np.maximum(counts, 1)


def halo_extent_um(profile: np.ndarray, *, step_um: float = 0.5, level: float = 0.1) -> float:
    """Distance (um) from the cell edge at which the halo, past its brightest ring, has
    fallen below ``level`` x the medium."""
    peak = int(np.argmax(profile))
    below = peak + np.flatnonzero(profile[peak:] < level)
    return float((below[0] if below.size else len(profile)) * step_um)


def test_other_scope_presets_are_listed_and_change_every_documented_stage() -> None:
    assert {"other-scope", "other-scope-hard"} <= set(PRESETS)
    diff = {(stage, name): (a, b) for stage, name, a, b in preset_differences("standard", "other-scope")}
    assert diff[("layout", "pixel_size_um")] == (0.65, 0.5)
    assert diff[("optics", "na")] == (0.8, 0.45)
    assert ("optics", "ring_width_na") in diff and ("optics", "n_pdms") in diff
    assert ("imaging", "photons_background") in diff and ("imaging", "focus_trend_um_per_h") in diff
    assert ("biology", "target_diameter_um") in diff and ("biology", "effector_speed_um_min") in diff
    hard = preset_config("other-scope-hard")
    assert hard.layout.pixel_size_um == 0.5 and hard.biology.effectors_per_well == preset_config("hard").biology.effectors_per_well


def test_focus_trend_adds_a_steady_drift_and_draws_nothing() -> None:
    config = preset_config("other-scope", n_frames=73)
    flat = config.model_copy(update={"imaging": config.imaging.model_copy(update={"focus_trend_um_per_h": 0.0})})
    with_trend = plan_field(config, 0, np.random.default_rng(1))
    without = plan_field(flat, 0, np.random.default_rng(1))
    drift = with_trend.focus_um - without.focus_um
    np.testing.assert_allclose(drift[-1], 0.4 * 6.0, rtol=1e-9)  # 0.4 um/h over 72 frames of 5 min
    np.testing.assert_array_equal(with_trend.drift_px, without.drift_px)  # the same random draws


def test_other_scope_chip_is_a_valid_raw_chip_at_its_own_pixel_size(chips: dict[str, Path]) -> None:
    manifest, stacks = validate_chip(chips["other-scope"])
    assert manifest.pixel_size_um == 0.5
    assert {s.role.value for s in stacks} == {"phase", "effector_dye", "target_dye", "death_marker"}


def test_other_scope_cells_are_larger_in_px_and_um(chips: dict[str, Path]) -> None:
    area = {p: pd.read_parquet(c / "gt" / "cells.parquet").groupby("type")["area"].median() for p, c in chips.items()}
    ps = {"standard": 0.65, "other-scope": 0.5}
    for kind in ("effector", "target"):
        assert area["other-scope"][kind] > 1.5 * area["standard"][kind]  # px: smaller pixels, larger cells
        assert area["other-scope"][kind] * ps["other-scope"] ** 2 > area["standard"][kind] * ps["standard"] ** 2


def test_other_scope_halos_reach_further(chips: dict[str, Path]) -> None:
    extent = {p: halo_extent_um(halo_profile(c)) for p, c in chips.items()}
    assert 1.0 <= extent["standard"] <= 3.5, extent  # standard: 3.0 um; other-scope: 4.5 um
    assert extent["other-scope"] >= extent["standard"] + 1.0, extent
