"""Chip-level well grid and movies from detections (here: the truth's boxes as detections)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lftiming_ml.chip import read_manifest
from lftiming_ml.metrics.wells import score_wells
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.wells.config import WellGridParams
from lftiming_ml.wells.grid import chip_well_grid, chip_well_movies
from lftiming_ml.store.movies import list_well_movies, open_well_movie
from lftiming_ml.workers import WorkerPool
from tests.conftest import small_sim_config
from tests.truth_detect import Boxes, truth_detector


@pytest.fixture(scope="module")
def chip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = small_sim_config(seed=12, n_frames=6)
    return simulate_chip(tmp_path_factory.mktemp("grid") / "grid-s12", cfg)


def test_grid_matches_truth_and_movies_hold_occupied_wells(chip: Path, tmp_path: Path) -> None:
    manifest = read_manifest(chip)
    params = WellGridParams()
    grid, problems = chip_well_grid(chip, manifest, truth_detector(chip, drop=1), params=params)
    assert problems == {"f000": []}
    assert len(grid) == 9 * 6 and not grid[["y", "x"]].isna().any().any()
    truth = pd.read_parquet(chip / "gt" / "wells.parquet")
    scores = score_wells(grid, truth, match_px=20)
    assert scores.recall == 1.0 and scores.precision == 1.0
    assert scores.mean_centre_error < 0.5 and scores.n_id_mismatch == 0  # one well placed by the lattice alone
    infos = chip_well_movies(chip, manifest, grid, tmp_path / "grid-s12.zarr", params=params)
    cropped = [i for i in infos if i.cropped]
    assert len(infos) == 9 and len(cropped) == int(grid[grid.frame == 0].occupied.sum())
    movie, info = open_well_movie(tmp_path / "grid-s12.zarr", "f000", cropped[0].row, cropped[0].col)
    assert movie.shape == (6, 4, params.crop_size_px, params.crop_size_px)
    assert len(list_well_movies(tmp_path / "grid-s12.zarr")) == 9


def test_detector_finding_nothing_is_an_error(chip: Path) -> None:
    manifest = read_manifest(chip)

    def nothing(frames, pixel_size_um=None):
        return [Boxes(np.zeros((0, 4)), np.zeros(0), np.zeros(0)) for _ in frames]

    with pytest.raises(ValueError, match="f000") as e:
        chip_well_grid(chip, manifest, nothing, params=WellGridParams())
    # the message says how a lab fixes it: the field's grid by hand, then a fine-tune
    assert f"lftiming label-wells --chip {manifest.chip_id} --fields f000 --corners" in str(e.value)
    assert "lftiming train well_detector --init champion" in str(e.value)


def test_a_field_without_a_lattice_in_a_worker_fails_with_the_same_message(two_field_chip: Path) -> None:
    manifest = read_manifest(two_field_chip)
    detect = truth_detector(two_field_chip)

    def second_field_blank(frames, pixel_size_um=None):
        found = detect(frames, pixel_size_um)
        return [found[0], Boxes(np.zeros((0, 4)), np.zeros(0), np.zeros(0))]

    with WorkerPool(workers=2, threads=1) as pool, pytest.raises(ValueError, match="f001") as e:
        chip_well_grid(two_field_chip, manifest, second_field_blank, params=WellGridParams(), pool=pool)
    assert f"lftiming label-wells --chip {manifest.chip_id} --fields f001 --corners" in str(e.value)
    assert "in well_grid unit f001 of grid-s13" in e.value.__notes__


@pytest.fixture(scope="module")
def two_field_chip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = small_sim_config(seed=13, n_frames=4).model_copy(update={"n_fields": 2})
    return simulate_chip(tmp_path_factory.mktemp("grid2") / "grid-s13", cfg)


def _movies(store: Path) -> dict[str, tuple[dict, np.ndarray | None]]:
    out = {}
    for info in list_well_movies(store):
        movie = open_well_movie(store, info.field_id, info.row, info.col)[0] if info.cropped else None
        out[info.group_path] = (info.model_dump(), movie)
    return out


def test_grid_and_movies_in_two_worker_processes_equal_the_in_process_ones(two_field_chip: Path, tmp_path: Path) -> None:
    manifest = read_manifest(two_field_chip)
    params = WellGridParams()
    grid, problems = chip_well_grid(two_field_chip, manifest, truth_detector(two_field_chip), params=params)
    here = chip_well_movies(two_field_chip, manifest, grid, tmp_path / "a" / "grid-s13.zarr", params=params)
    with WorkerPool(workers=2, threads=1) as pool:
        grid_there, problems_there = chip_well_grid(two_field_chip, manifest, truth_detector(two_field_chip),
                                                    params=params, pool=pool)
        pd.testing.assert_frame_equal(grid, grid_there)
        assert problems == problems_there == {"f000": [], "f001": []}
        there = chip_well_movies(two_field_chip, manifest, grid, tmp_path / "b" / "grid-s13.zarr", params=params,
                                 pool=pool)
        assert pool.last_run == "2 fields run in 2 worker processes x 1 threads"
    assert [i.model_dump() for i in here] == [i.model_dump() for i in there]
    assert {i.field_id for i in there} == {"f000", "f001"}
    a, b = _movies(tmp_path / "a" / "grid-s13.zarr"), _movies(tmp_path / "b" / "grid-s13.zarr")
    assert a.keys() == b.keys() and len(a) == 18
    for key, (info, movie) in a.items():
        assert b[key][0] == info
        assert (movie is None and b[key][1] is None) or np.array_equal(movie, b[key][1])


def test_a_field_that_fails_in_a_worker_is_named_and_the_old_store_stays(two_field_chip: Path, tmp_path: Path) -> None:
    manifest = read_manifest(two_field_chip)
    params = WellGridParams()
    grid, _ = chip_well_grid(two_field_chip, manifest, truth_detector(two_field_chip), params=params)
    store = tmp_path / "grid-s13.zarr"
    chip_well_movies(two_field_chip, manifest, grid, store, params=params)
    before = _movies(store)
    damaged = tmp_path / "grid-s13"  # the same chip, f001's effector dye stack cut short
    shutil.copytree(two_field_chip, damaged)
    tif = damaged / "f001" / "pkh67.tif"
    tif.write_bytes(tif.read_bytes()[:4096])
    with WorkerPool(workers=2, threads=1) as pool, pytest.raises(Exception) as e:
        chip_well_movies(damaged, manifest, grid, store, params=params, pool=pool)
    assert "pkh67.tif" in str(e.value)
    assert "in well_movies unit f001 of grid-s13.zarr" in "\n".join(getattr(e.value, "__notes__", []))
    after = _movies(store)
    assert after.keys() == before.keys()
    assert all(after[k][0] == v[0] and (v[1] is None or np.array_equal(after[k][1], v[1])) for k, v in before.items())
