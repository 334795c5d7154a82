"""Chip-level well grid and movies from detections (here: the truth's boxes as detections)."""

from __future__ import annotations

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
