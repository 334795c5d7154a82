"""Fixtures of the reliability tests: one small simulated chip and its uninterrupted run
(version-2 fake models) to compare every interrupted or concurrent run with."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lftiming_ml.sim.chip import simulate_chip
from tests.conftest import small_sim_config
from tests.reliability.harness import make_project, run_worker, snapshot

CHIP = "rl-s31"


@pytest.fixture(scope="session")
def raw_chip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate_chip(tmp_path_factory.mktemp("raw") / CHIP, small_sim_config(seed=31, n_frames=4))


@pytest.fixture(scope="session")
def reference(raw_chip: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """The chip run once, alone and uninterrupted, with version-2 models: its snapshot."""
    project = make_project(tmp_path_factory.mktemp("reference"))
    shutil.copytree(raw_chip, project.data / "raw" / CHIP)
    code, out = run_worker(project, CHIP, "--version", "2")
    assert code == 0, out
    return snapshot(project.data, CHIP)
