"""benchmarks/scale.py: which step raised a process's peak memory, from the poll's record of
each rise of VmHWM (runs nothing)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import scale  # noqa: E402


def test_each_rise_goes_to_the_step_that_made_it():
    times = {"well_grid": (100.0, 110.0), "cell_masks": (110.0, 150.0), "cell_tracks": (150.0, 170.0)}
    rises = [(100.5, 1, 900.0),                        # run process: start-up in well_grid
             (105.0, 2, 1000.0), (111.0, 2, 1200.0),  # worker 2: 1,000 in well_grid, +200 seen in cell_masks
             (130.0, 2, 1500.0), (140.0, 3, 1800.0),  # cell_masks: worker 2 +500 in all, worker 3 +1,800
             (150.0, 1, 1400.0)]                        # the run process at cell_masks' last poll
    out = scale.hwm_rise_by_step(rises, times, run_pid=1, worker_pids={2, 3})
    assert out == {"well_grid": {"run_process": 900, "max_worker": 1000},
                   "cell_masks": {"run_process": 500, "max_worker": 1800}}  # cell_tracks raised nothing: left out


def test_a_run_records_the_commit_it_ran():
    code = scale.code_version()
    assert len(code["commit"]) == 40 and isinstance(code["dirty"], bool)
