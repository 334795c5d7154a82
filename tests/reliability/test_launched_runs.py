"""Runs launched through the run launcher (the daemon's queue, the UI), not by ``lftiming run``:
their worker is the process the code server starts, known only from the run's event log.

Repro of the finding (before the fix): ``run_worker_pid`` read the pid from the log entry's
``user_message``, which Dagster leaves empty for the launcher's "Started process for run
(pid: N)." event (the text is on ``dagster_event.message``). So no launched run had a known
worker: ``LocalRunLauncher`` told run monitoring every such worker was alive, and
``benchmarks/soak.py`` never found a worker to kill (``"kills": []``)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import dagster as dg
import psutil
import pytest
from dagster._core.launcher.base import WorkerStatus
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import PythonFileTarget

from lftiming_assets.launcher import LocalRunLauncher
from lftiming_assets.runs import run_worker_pid, worker_alive
from lftiming_ml.io import pid_alive
from tests.reliability.harness import ROOT, make_project
from tests.reliability.waiting_job import waiting_job

pytestmark = pytest.mark.slow


def _wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_worker_of_a_launched_run_is_found_and_its_death_seen(tmp_path: Path) -> None:
    instance = make_project(tmp_path / "project").instance()
    launcher = instance.run_launcher
    assert isinstance(launcher, LocalRunLauncher)  # what dagster.yaml configures for the daemon
    pid_file = tmp_path / "worker.pid"
    target = PythonFileTarget(python_file=str(ROOT / "tests" / "reliability" / "waiting_job.py"), attribute=None,
                              working_directory=str(ROOT), location_name="waiting")
    with WorkspaceProcessContext(instance, target) as process_context:
        workspace = process_context.create_request_context()
        remote_job = workspace.get_code_location("waiting").get_repository("__repository__").get_full_job("waiting_job")
        run = instance.create_run_for_job(
            job_def=waiting_job, remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            run_config={"ops": {"write_pid_and_wait": {"config": {"pid_file": str(pid_file)}}}})
        instance.launch_run(run.run_id, workspace)
        _wait_for(lambda: pid_file.is_file() and pid_file.read_text(), "the op to start")
        worker = int(pid_file.read_text())
        try:
            run = instance.get_run_by_id(run.run_id)
            assert run.status == dg.DagsterRunStatus.STARTED

            assert run_worker_pid(instance, run) == worker  # before the fix: None
            assert worker_alive(instance, run) is True
            assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING

            os.kill(worker, signal.SIGKILL)
            _wait_for(lambda: not pid_alive(worker), "the code server to reap the killed worker")
            health = launcher.check_run_worker_health(run)  # what the daemon's run monitoring asks
            assert health.status == WorkerStatus.FAILED and f"worker process {worker} is gone" in health.msg
        finally:
            if pid_alive(worker):
                os.kill(worker, signal.SIGKILL)
    # the code server outlives the context (one was still running 18 min after a suite had
    # ended, orphaned, ignoring SIGTERM): kill it here
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if "waiting_job.py" in " ".join(proc.cmdline()):
                proc.kill()
