"""Finding 1 of issue #23: two runs of the same chip at once.

Repro of the finding (before the fix): two ``lftiming run --chip C`` at once; one failed
with ``OSError: [Errno 39] Directory not empty: 'f000'`` in ``well_movies``, the other
"succeeded" leaving cell_tracks 200/636 rows, well_outcomes 10/32, Zarr 12/36 wells (the
atomic writer's stale-temporary cleanup deleted the other run's live temporary store).

Now a second ``lftiming run`` of a chip is refused with a message naming the first (or
waits behind it with ``--wait``), and two runs that bypass that guard (a run launched from
the UI beside one from the CLI) are serialized step by step by the chip's write lock: both
succeed and the chip ends equal to one run alone, with no staging left. (Runs launched by
the daemon queue one per chip: ``tag_concurrency_limits`` in ``dagster.yaml``,
``benchmarks/soak.py``.)"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from tests.reliability.conftest import CHIP
from tests.reliability.harness import (assert_same, leftovers, make_project, run_worker, snapshot, start_worker,
                                       wait_paused)

# one xdist process runs the tests that share the session's uninterrupted reference run
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reliability-reference")]


def _project(raw_chip: Path, tmp_path: Path):
    project = make_project(tmp_path)
    shutil.copytree(raw_chip, project.data / "raw" / CHIP)
    return project


def test_second_lftiming_run_of_a_chip_is_refused_naming_the_first(raw_chip: Path, tmp_path: Path) -> None:
    project = _project(raw_chip, tmp_path)
    first = start_worker(project, CHIP, "--pause-at", "step:well_grid")
    try:
        wait_paused(project, first)
        code, out = run_worker(project, CHIP)
        assert code == 2, out
        assert (f"lftiming run: chip {CHIP} is in use by lftiming run --job chip_pipeline (pid {first.pid} on "
                in out), out
        assert "wait for it to finish, or pass --wait" in out
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        first.stdout.close()


def _run_two_at_once(project, *args: str) -> list[tuple[int, str]]:
    procs = [start_worker(project, CHIP, "--version", "2", *a) for a in args]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=1200)
        results.append((proc.returncode, out))
    return results


def test_second_run_with_wait_queues_behind_the_first(raw_chip: Path, reference, tmp_path: Path) -> None:
    project = _project(raw_chip, tmp_path)
    (a, out_a), (b, out_b) = _run_two_at_once(project, ("--wait",), ("--wait",))
    assert (a, b) == (0, 0), out_a + out_b
    assert "waiting for it to finish" in out_a + out_b
    assert leftovers(project.data) == []
    assert_same(snapshot(project.data, CHIP), reference)


def test_two_unguarded_runs_at_once_lose_nothing(raw_chip: Path, reference, tmp_path: Path) -> None:
    project = _project(raw_chip, tmp_path)
    (a, out_a), (b, out_b) = _run_two_at_once(project, ("--direct",), ("--direct",))
    assert (a, b) == (0, 0), out_a + out_b
    assert "Directory not empty" not in out_a + out_b
    assert leftovers(project.data) == []
    assert_same(snapshot(project.data, CHIP), reference)
