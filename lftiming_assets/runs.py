"""Runs of a chip in the Dagster instance: which are alive, which died, and what a finished
run says (failed steps with their cause, failed checks, the whole event log as a file).

A run's worker is the process that executes it: ``lftiming run`` itself (tagged
``lftiming/pid`` and ``lftiming/host``) or the ``dagster api execute_run`` process the run
launcher started (its "Started process for run (pid: N)" event). A run in progress whose
worker is gone (``kill -9``, out of memory, a closed laptop lid) is marked failed by
``reap_dead_runs`` (called by ``lftiming run``) and by the daemon's run monitoring through
``launcher.LocalRunLauncher``, so it neither stays STARTED for ever nor holds a queue slot.
"""

from __future__ import annotations

import logging
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster._core.errors import DagsterInvalidPropertyError
from dagster._core.events import DagsterEventType
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES, DagsterRun, RunsFilter

from lftiming_ml.io import pid_alive

PID_TAG = "lftiming/pid"
HOST_TAG = "lftiming/host"
PARTITION_TAG = "dagster/partition"
_STARTED = re.compile(r"Started process for run \(pid: (\d+)\)")


def get_instance() -> dg.DagsterInstance:
    """The Dagster instance of ``$DAGSTER_HOME``. The first use of a home creates its sqlite
    storage, and two processes doing that at once fail ("table snapshots already exists"), so
    the instance is opened holding a lock in that folder."""
    import fcntl
    import os

    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return dg.DagsterInstance.get()
    Path(home).mkdir(parents=True, exist_ok=True)
    with open(Path(home) / ".instance.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return dg.DagsterInstance.get()


def step_label(context: dg.AssetExecutionContext, step: str) -> str:
    """Who holds a chip's write lock during a step: ``"run 1a2b3c4d (cell_masks)"``
    (``"run direct (...)"`` for an asset invoked directly, as in tests)."""
    try:
        run_id = context.run.run_id[:8]
    except DagsterInvalidPropertyError:
        run_id = "direct"
    return f"run {run_id} ({step})"


def worker_tags() -> dict[str, str]:
    """Tags naming this process as the worker of a run it executes in process."""
    import os

    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


CODE_LOCATION = "lftiming"
"""The code location's name (``workspace.yaml``), which the UI groups runs by."""
DEFINITIONS_MODULE = "lftiming_assets.definitions"


def code_location_origin():
    """The origin of the code location ``workspace.yaml`` loads (module
    ``lftiming_assets.definitions``, location ``lftiming``), built without starting its code
    server (tests/test_runs_origin.py checks it equals the one Dagster reads from the file)."""
    from dagster._core.remote_origin import ManagedGrpcPythonEnvCodeLocationOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    return ManagedGrpcPythonEnvCodeLocationOrigin(LoadableTargetOrigin(module_name=DEFINITIONS_MODULE),
                                                  location_name=CODE_LOCATION)


def execute_in_code_location(instance: dg.DagsterInstance, job_name: str, *, partition_key: str,
                             run_config: dict, tags: dict[str, str]) -> str:
    """Run ``job_name`` on one partition in this process as a run of the code location, and
    return its run id. Unlike ``JobDefinition.execute_in_process``, the run records where its
    job comes from (the code location's origin, as a run the UI or the daemon launches does),
    so the UI lists it on the job's page and Timeline and can re-execute it."""
    import os

    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.execution.api import execute_run
    from dagster._core.remote_origin import RemoteRepositoryOrigin

    repository = ReconstructableRepository.for_module(DEFINITIONS_MODULE, "defs", working_directory=os.getcwd())
    job = repository.get_reconstructable_job(job_name)
    job_def = job.get_definition()
    run = instance.create_run_for_job(
        job_def=job_def, run_config=run_config, tags={**tags, PARTITION_TAG: partition_key},
        remote_job_origin=RemoteRepositoryOrigin(code_location_origin(), "__repository__").get_job_origin(job_name),
        job_code_origin=job.get_python_origin())
    execute_run(job, run, instance, raise_on_error=False)
    return run.run_id


def run_worker_pid(instance: dg.DagsterInstance, run: DagsterRun) -> int | None:
    """The pid of the run's worker on this host, or None when unknown or on another host."""
    if PID_TAG in run.tags:
        return int(run.tags[PID_TAG]) if run.tags.get(HOST_TAG) == socket.gethostname() else None
    for entry in reversed(instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT)):
        # the launcher's event keeps its text on the event; the entry's user_message is empty
        message = (entry.dagster_event.message if entry.dagster_event else None) or entry.user_message
        found = _STARTED.search(message or "")
        if found:
            return int(found.group(1))
    return None


def worker_alive(instance: dg.DagsterInstance, run: DagsterRun) -> bool | None:
    """Whether the run's worker process still exists (None: cannot tell)."""
    pid = run_worker_pid(instance, run)
    return None if pid is None else pid_alive(pid)


def chip_runs_in_progress(instance: dg.DagsterInstance, chip_id: str) -> list[DagsterRun]:
    """Runs of partition ``chip_id`` queued, starting or started."""
    return list(instance.get_runs(RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES, tags={PARTITION_TAG: chip_id})))


def reap_dead_runs(instance: dg.DagsterInstance, chip_id: str | None = None) -> list[str]:
    """Mark failed every started run (of ``chip_id``, or all) whose worker process is gone;
    returns their run ids."""
    tags = {PARTITION_TAG: chip_id} if chip_id else None
    started = instance.get_runs(RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING],
                                           tags=tags))
    reaped = []
    for run in started:
        if worker_alive(instance, run) is False:
            instance.report_run_failed(run, f"the run's worker process (pid {run_worker_pid(instance, run)}) died "
                                            "without finishing the run (killed, or out of memory); its outputs "
                                            "were not committed: re-run the chip")
            reaped.append(run.run_id)
    return reaped


@dataclass
class RunSummary:
    """What a finished run says: ``failed_steps`` (step, cause), ``failed_checks``
    (asset, check, hint)."""

    run_id: str
    success: bool
    failed_steps: list[tuple[str, str]] = field(default_factory=list)
    failed_checks: list[tuple[str, str, str]] = field(default_factory=list)


def root_cause(error) -> str:
    """The innermost error of a Dagster step failure, ``"ValueError: ..."`` (the user code's
    exception, not Dagster's wrapper)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    text = re.sub(rf"^[\w.]*\b{re.escape(error.cls_name or '')}: ", "", (error.message or "").strip())
    return f"{error.cls_name}: {text}"


def run_summary(instance: dg.DagsterInstance, run_id: str) -> RunSummary:
    """Failed steps with their root cause and failed asset checks with their hint."""
    run = instance.get_run_by_id(run_id)
    summary = RunSummary(run_id, run is not None and run.status == dg.DagsterRunStatus.SUCCESS)
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.STEP_FAILURE:
            summary.failed_steps.append((event.step_key or "?", root_cause(event.event_specific_data.error)))
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION and not event.event_specific_data.passed:
            data = event.event_specific_data
            md = {k: getattr(v, "value", v) for k, v in (data.metadata or {}).items()}
            hint = md.pop("hint", None) or ", ".join(f"{k} {v}" for k, v in md.items())
            summary.failed_checks.append((data.asset_key.to_user_string(), data.check_name, str(hint)))
        elif event.event_type == DagsterEventType.RUN_FAILURE and not summary.failed_steps:
            error = getattr(event.event_specific_data, "error", None)
            summary.failed_steps.append(("run", root_cause(error) if error else event.message or entry.user_message))
    return summary


def write_run_log(instance: dg.DagsterInstance, run_id: str, logs_dir: Path) -> Path:
    """The run's whole event log (every level, errors with tracebacks) as text,
    ``<logs_dir>/<run_id>.log``."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    path = logs_dir / f"{run_id}.log"
    with open(path, "w") as f:
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            kind = event.event_type_value if event else "LOG"
            f.write(f"{entry.timestamp:.3f} {logging.getLevelName(entry.level)} {entry.step_key or '-'} {kind} "
                    f"{entry.user_message}\n")
            error = getattr(event.event_specific_data, "error", None) if event else None
            if error is not None:
                f.write(error.to_string() + "\n")
    return path


__all__ = ["HOST_TAG", "PID_TAG", "RunSummary", "chip_runs_in_progress", "get_instance", "reap_dead_runs", "root_cause",
           "run_summary", "step_label", "run_worker_pid", "worker_alive", "worker_tags", "write_run_log"]
