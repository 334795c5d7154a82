"""A whole simulated chip: it is a valid raw chip, its truth is consistent, and its
fluorescence agrees with the truth it was rendered from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import zarr

from lftiming_ml.chip import validate_chip
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.sim.config import BiologyParams, ChipLayout, preset_config

FIELD_PX = 224


def small_config(seed: int = 5, frames: int = 8):
    base = preset_config("standard", seed=seed, n_fields=1, n_frames=frames)
    return base.model_copy(update={
        "layout": ChipLayout(wells_per_block=2, field_px=FIELD_PX),
        # crowded loading and fast killing so a short movie holds contacts and deaths
        "biology": BiologyParams(effectors_per_well=2.0, targets_per_well=2.0, kill_prob=1.0,
                                 conjugation_prob=1.0, death_delay_min=(10.0, 0.2), apoptosis_min=10.0),
    })


@pytest.fixture(scope="module")
def chip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate_chip(tmp_path_factory.mktemp("sim") / "sim-s5", small_config())


@pytest.fixture(scope="module")
def cells(chip: Path) -> pd.DataFrame:
    return pd.read_parquet(chip / "gt" / "cells.parquet")


def test_simulated_chip_is_a_valid_raw_chip(chip: Path) -> None:
    manifest, stacks = validate_chip(chip)
    assert manifest.chip_id == "sim-s5"
    assert {s.role.value for s in stacks} == {"phase", "effector_dye", "target_dye", "death_marker"}
    assert manifest.field_shape == (FIELD_PX, FIELD_PX) and manifest.n_frames == 8


def test_truth_has_cells_of_both_types_and_a_death(cells: pd.DataFrame) -> None:
    assert set(cells["type"]) == {"effector", "target"}
    assert (~cells["alive"]).any(), "the fast-killing config should kill at least one target"
    assert cells["in_contact"].any()


def test_masks_stay_inside_their_well(chip: Path) -> None:
    wells = pd.read_parquet(chip / "gt" / "wells.parquet")
    root = zarr.open_group(str(chip / "gt" / "masks.zarr"), mode="r")
    checked = 0
    for w in wells.itertuples():
        g = root[f"{w.field_id}/r{w.row}c{w.col}"]
        if "amodal" not in g:
            continue
        m = np.asarray(g["amodal"][w.frame])  # [N, S, S]
        ys, xs = np.nonzero(m.any(axis=0))
        if len(ys) == 0:
            continue
        # interior box in crop coordinates; 1 px tolerance for the pixel grid
        assert ys.min() >= w.y0 - w.crop_y0 - 1 and ys.max() <= w.y1 - w.crop_y0 + 1
        assert xs.min() >= w.x0 - w.crop_x0 - 1 and xs.max() <= w.x1 - w.crop_x0 + 1
        checked += 1
    assert checked > 0


def test_counts_types_and_death_are_consistent(chip: Path, cells: pd.DataFrame) -> None:
    wells = pd.read_parquet(chip / "gt" / "wells.parquet")
    per_frame = cells.groupby(["field_id", "row", "col", "frame"]).size()
    for w in wells.itertuples():
        assert per_frame.get((w.field_id, w.row, w.col, w.frame), 0) == w.n_cells
    per_cell = cells.sort_values("frame").groupby(["field_id", "row", "col", "cell_id"])
    assert (per_cell["type"].nunique() == 1).all()
    for _, track in per_cell:
        alive = track["alive"].to_numpy()
        assert not (~alive[:-1] & alive[1:]).any(), "a dead cell came back to life"
        assert np.all(np.diff(track["death_progress"].to_numpy()) >= 0)
    assert (cells["area"] > 0).all()


def test_fluorescence_agrees_with_types_and_death(chip: Path, cells: pd.DataFrame) -> None:
    stacks = {n: tifffile.imread(chip / "f000" / f"{n}.tif").astype(np.float64)
              for n in ("pkh67", "pkh26", "annexin_v")}
    root = zarr.open_group(str(chip / "gt" / "masks.zarr"), mode="r")
    wells = pd.read_parquet(chip / "gt" / "wells.parquet").set_index(["row", "col", "frame"])
    agree, total, dead_ann, live_ann = 0, 0, [], []
    for c in cells.itertuples():
        g = root[f"{c.field_id}/r{c.row}c{c.col}"]
        idx = list(g.attrs["cell_ids"]).index(c.cell_id)
        vis = np.asarray(g["visible"][c.frame, idx])
        if vis.sum() < 20:
            continue
        w = wells.loc[(c.row, c.col, c.frame)]
        ys, xs = np.nonzero(vis)
        ys, xs = ys + int(w.crop_y0), xs + int(w.crop_x0)
        ok = (ys >= 0) & (xs >= 0) & (ys < FIELD_PX) & (xs < FIELD_PX)
        eff = stacks["pkh67"][c.frame, ys[ok], xs[ok]].mean()
        tgt = stacks["pkh26"][c.frame, ys[ok], xs[ok]].mean()
        agree += (eff > tgt) == (c.type == "effector")
        total += 1
        (live_ann if c.alive else dead_ann).append(stacks["annexin_v"][c.frame, ys[ok], xs[ok]].mean())
    assert total > 10
    assert agree / total >= 0.9, f"dye matches type in only {agree}/{total} cell-frames"
    assert dead_ann and np.median(dead_ann) > 1.5 * np.median(live_ann)


def test_deterministic_by_seed(tmp_path: Path, chip: Path) -> None:
    again = simulate_chip(tmp_path / "sim-s5", small_config())
    other = simulate_chip(tmp_path / "sim-s6", small_config(seed=6))
    a = tifffile.imread(chip / "f000/phase.tif")
    assert np.array_equal(a, tifffile.imread(again / "f000/phase.tif"))
    assert not np.array_equal(a, tifffile.imread(other / "f000/phase.tif"))
    pd.testing.assert_frame_equal(pd.read_parquet(chip / "gt/cells.parquet"),
                                  pd.read_parquet(again / "gt/cells.parquet"))


def test_existing_chip_is_never_half_overwritten(tmp_path: Path) -> None:
    out = simulate_chip(tmp_path / "keep", small_config(frames=2))
    before = (out / "f000/phase.tif").read_bytes()
    with pytest.raises(FileExistsError):
        simulate_chip(out, small_config(seed=9, frames=2))
    assert (out / "f000/phase.tif").read_bytes() == before
    assert not list(tmp_path.glob(".keep.tmp-*"))


def test_parallel_fields_equal_serial(tmp_path: Path) -> None:
    config = small_config(frames=2).model_copy(update={"n_fields": 2})
    serial = simulate_chip(tmp_path / "serial", config, workers=1)
    parallel = simulate_chip(tmp_path / "parallel", config, workers=2)
    for field in ("f000", "f001"):
        assert np.array_equal(tifffile.imread(serial / field / "phase.tif"),
                              tifffile.imread(parallel / field / "phase.tif"))
    assert not np.array_equal(tifffile.imread(serial / "f000/phase.tif"), tifffile.imread(serial / "f001/phase.tif"))
