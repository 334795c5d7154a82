"""``LocalRunLauncher``: Dagster's default launcher (each run in its own process beside the
code server) that can also tell the daemon's run monitoring whether a run's worker process
is still alive (``dagster.yaml``: ``run_launcher`` and ``run_monitoring``).

Dagster's ``DefaultRunLauncher`` cannot: its runs whose worker was killed stay STARTED for
ever and hold their queue slot. With this one the monitoring daemon marks them failed
(within ``poll_interval_seconds``), and ``run_retries`` starts them again.
"""

from __future__ import annotations

from dagster import DefaultRunLauncher
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun

from lftiming_assets.runs import run_worker_pid, worker_alive


class LocalRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` plus a worker health check by process id (same host)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        alive = worker_alive(self._instance, run)
        if alive is None:  # no pid recorded on this host: leave the run alone (monitoring fails anything not RUNNING)
            return CheckRunHealthResult(WorkerStatus.RUNNING, "worker pid unknown on this host; assumed alive")
        if alive:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, f"worker process {run_worker_pid(self._instance, run)} "
                                                         "is gone (killed or out of memory)")


__all__ = ["LocalRunLauncher"]
