"""Runs that ``lftiming run`` executes in its own process carry the code location's origin, as
runs the UI or the daemon launch do: the UI's job page and Timeline list runs by the
repository label that origin gives (``__repository__@lftiming``), and re-execute from it.

Repro of the finding (issue #23, item 7; before the fix): ``execute_in_process`` made runs with
no origin, so the UI's Timeline showed "No runs" for a chip run from the CLI or the demo."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import RunsFilter
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG
from dagster._core.workspace.load_target import WorkspaceFileTarget

from lftiming_assets.partitions import chips
from lftiming_assets.runs import CODE_LOCATION, code_location_origin, execute_in_code_location
from tests.reliability.harness import ROOT, make_project


def test_the_origin_is_the_one_dagster_reads_from_workspace_yaml() -> None:
    origins = WorkspaceFileTarget(paths=[str(ROOT / "workspace.yaml")]).create_origins()
    assert origins == [code_location_origin()]
    assert origins[0].location_name == CODE_LOCATION


def test_a_run_in_this_process_is_listed_under_its_job_like_a_launched_one(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path / "project")
    for key, value in project.env().items():
        if key.startswith(("DAGSTER", "LFTIMING")):
            monkeypatch.setenv(key, value)
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(chips.name, ["c1"])
    run_id = execute_in_code_location(instance, "summarize_annotations", partition_key="c1", run_config={},
                                      tags={"lftiming/pid": "1"})
    run = instance.get_run_by_id(run_id)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.remote_job_origin is not None and run.remote_job_origin.location_name == CODE_LOCATION
    assert run.tags["dagster/partition"] == "c1" and run.tags["lftiming/pid"] == "1"
    label = f"__repository__@{CODE_LOCATION}"
    assert run.tags_for_storage()[REPOSITORY_LABEL_TAG] == label
    # what the UI's job page and Timeline query: the job's runs with the repository label
    listed = instance.get_runs(RunsFilter(job_name="summarize_annotations", tags={REPOSITORY_LABEL_TAG: label}))
    assert [r.run_id for r in listed] == [run_id]
    materialized = instance.get_latest_materialization_event(dg.AssetKey("annotations"))
    assert materialized is not None and materialized.run_id == run_id


def test_chip_jobs_run_their_steps_in_the_runs_own_process() -> None:
    """A process per step (Dagster's default) re-imports torch and MLflow for every step: a launched
    run of a small chip took 132-153 s for ~40 s of steps (benchmarks/dagster_backfill.py)."""
    from lftiming_assets.definitions import defs

    executors = {job: defs.resolve_job_def(job).executor_def.name
                 for job in ("chip_pipeline", "segment_chips", "__ASSET_JOB", "train_models")}
    assert executors == {"chip_pipeline": "in_process", "segment_chips": "in_process", "__ASSET_JOB": "in_process",
                         "train_models": "multiprocess"}
