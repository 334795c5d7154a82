"""The review queue's fluorescence checks run one field per call in the run's worker pool and
give the in-process result, in the wells' order."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lftiming_ml.review.config import ReviewParams
from lftiming_ml.review.fluorescence import COLUMNS, chip_fluorescence_signals
from lftiming_ml.review.queue import occupied_wells
from lftiming_ml.store.keys import WELL_KEYS
from lftiming_ml.store.tables import read_chip_table
from lftiming_ml.workers import WorkerPool
from tests.interactions.pipeline_chip import PipelineChip, build_pipeline_chip


@pytest.fixture(scope="module")
def chip(tmp_path_factory: pytest.TempPathFactory) -> PipelineChip:
    return build_pipeline_chip(tmp_path_factory.mktemp("fluofields"), "ff-s9", seed=9, n_frames=8, n_fields=2)


def test_fluorescence_signals_in_two_workers_equal_the_in_process_ones(chip: PipelineChip, tmp_path: Path) -> None:
    wells = occupied_wells(chip.store_path)
    types = read_chip_table(chip.tables_dir, "cell_types", chip.chip_id)
    deaths = read_chip_table(chip.tables_dir, "cell_deaths", chip.chip_id)
    types.loc[types.index[0], "cell_type"] = {"effector": "target", "target": "effector"}[types.cell_type.iloc[0]]
    here = chip_fluorescence_signals(chip.store_path, wells, types, deaths, ReviewParams())
    with WorkerPool(workers=2, threads=1) as pool:
        there = chip_fluorescence_signals(chip.store_path, wells, types, deaths, ReviewParams(), pool=pool)
        assert pool.last_run == "2 fields run in 2 worker processes x 1 threads"
    assert set(wells.field_id) == {"f000", "f001"}
    assert list(here.columns) == [*WELL_KEYS, *COLUMNS]
    assert here[WELL_KEYS].astype(str).values.tolist() == wells[WELL_KEYS].astype(str).values.tolist()
    pd.testing.assert_frame_equal(here, there)
    assert (here[COLUMNS[0]] > 0).sum() >= 1, "the swapped cell type shows as a dye disagreement"
