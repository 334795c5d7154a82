"""A small simulated chip with a chip store and the pipeline's tables (truth standing in for
the models, ``tests.interactions.pipeline_chip``), copied fresh for each test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lftiming_ml.store.layout import ChipStore, DataLayout
from tests.interactions.pipeline_chip import build_pipeline_chip

CHIP_ID = "annot-s3"
N_FRAMES = 10


@pytest.fixture(scope="session")
def built_chip_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("annot-chip")
    build_pipeline_chip(root, CHIP_ID, seed=3, n_frames=N_FRAMES)
    return root


@pytest.fixture
def data_root(built_chip_root: Path, tmp_path: Path) -> Path:
    """A data folder of its own holding the chip (raw, zarr, tables), no annotations yet."""
    root = tmp_path / "data"
    shutil.copytree(built_chip_root, root)
    return root


@pytest.fixture
def chip(data_root: Path) -> ChipStore:
    return DataLayout(data_root).chip(CHIP_ID)


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to show a store is unchanged)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} \
        if folder.exists() else {}
