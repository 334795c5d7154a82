"""Findings 2 and 3 of issue #23: a run killed (``kill -9``) during a re-run of a complete
chip leaves every asset whole, its old outputs or its new ones, Zarr and tables in step;
the next run finishes or discards what the crash left, marks the dead runs failed, and ends
equal to an uninterrupted run.

Repro of the finding (before the fix): kill -9 3 s into ``cell_masks`` of a complete chip:
Zarr masks rebuilt for 9/29 wells, tracks 0/29, tables still old, ``lftiming evaluate``
failing, staging folders left. Here the chip is re-run with models of another version
(``FakeRegistry`` version 2 after 1) so that old and new outputs can be told apart, and
killed at five points of five stages in turn: while staging well movies, masks and tracks,
half-way through applying the ``cell_masks`` commit, and just before the commit of
``killing_kinetics``. Each run is a subprocess (``chip_worker``) through ``lftiming run``'s
code path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from lftiming_assets.launcher import LocalRunLauncher
from lftiming_assets.runs import chip_runs_in_progress, reap_dead_runs
from lftiming_ml.store.layout import chip_work_dir
from tests.reliability.conftest import CHIP
from tests.reliability.harness import (assert_same, kill_at, leftovers, make_project, run_worker, snapshot,
                                       start_worker, wait_paused)

# one xdist process runs the tests that share the session's uninterrupted reference run
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reliability-reference")]


def _versions(df: pd.DataFrame) -> dict[str, set]:
    return {c: set(df[c].dropna().unique()) for c in df.columns if c.endswith("version")}


def assert_each_asset_whole(data: Path) -> None:
    """Every table holds one model version per version column; the Zarr masks and tracks of
    every well carry the versions of the cell_masks and cell_tracks tables; the store holds
    every well of the grid."""
    tables, arrays = snapshot(data, CHIP)
    for name, df in tables.items():
        assert all(len(v) <= 1 for v in _versions(df).values()), f"{name} mixes versions: {_versions(df)}"
    grid_wells = {f"wells/{f}/r{r}c{c}" for f, r, c in
                  tables["well_grid"][["field_id", "row", "col"]].drop_duplicates().itertuples(index=False)}
    assert {k for k in arrays if k.count("/") == 2} == grid_wells
    masks = {a["lftiming_masks"]["model"] for k, a in arrays.items() if k.endswith("/masks") and k.count("/") == 3}
    if "cell_masks" in tables:
        (version,) = set(tables["cell_masks"]["model_version"]) or {None}
        assert masks == {f"locsnet v{version} (champion)"}, (masks, version)
    tracks = {(a["lftiming_tracks"]["segmenter_version"], a["lftiming_tracks"]["reid_version"])
              for k, a in arrays.items() if k.endswith("/tracks") and k.count("/") == 3}
    if "cell_tracks" in tables:
        t = tables["cell_tracks"]
        assert tracks == set(zip(t["model_version"], t["reid_version"])), tracks


def test_kill_9_at_five_stages_then_rerun_equals_an_uninterrupted_run(raw_chip: Path, reference, tmp_path: Path
                                                                     ) -> None:
    project = make_project(tmp_path)
    shutil.copytree(raw_chip, project.data / "raw" / CHIP)
    code, out = run_worker(project, CHIP, "--version", "1")  # the complete chip, old models
    assert code == 0, out
    old = snapshot(project.data, CHIP)
    assert set(old[0]["cell_masks"]["model_version"]) == {1}

    for point in ("movies:3", "masks:3", "apply:cell_masks:5", "tracks:2", "commit:killing_kinetics"):
        kill_at(project, CHIP, point, "--version", "2")
        work = chip_work_dir(project.data / "zarr" / f"{CHIP}.zarr")
        staged = list((work / "tx").iterdir())
        assert staged, f"{point}: the crash left no staging to clean"
        if point.startswith("apply"):  # killed after the commit point: the journal finishes it
            assert (staged[0] / "journal.json").is_file()
        else:  # before it: every asset old or new, as a whole
            assert_each_asset_whole(project.data)

    tables, _ = snapshot(project.data, CHIP)
    assert set(tables["cell_masks"]["model_version"]) == {2}  # committed by the half-applied journal
    assert set(tables["killing_kinetics"]["celltype_version"]) <= {1}  # its commit never happened
    code, out = run_worker(project, CHIP, "--version", "2")
    assert code == 0, out
    assert "had no live worker (killed?): marked failed" in out
    assert leftovers(project.data) == []
    assert_same(snapshot(project.data, CHIP), reference)
    instance = project.instance()
    statuses = [r.status.value for r in instance.get_runs()]
    assert statuses.count("FAILURE") == 5 and statuses.count("SUCCESS") == 2 and "STARTED" not in statuses


def test_dead_run_is_marked_failed_and_frees_the_chip(raw_chip: Path, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    shutil.copytree(raw_chip, project.data / "raw" / CHIP)
    kill_at(project, CHIP, "step:well_grid")
    instance = project.instance()
    (run,) = chip_runs_in_progress(instance, CHIP)
    assert run.status.value == "STARTED"  # what finding 3 saw: STARTED for ever, holding a queue slot
    launcher = LocalRunLauncher()
    launcher.register_instance(instance)
    health = launcher.check_run_worker_health(run)  # what the daemon's run monitoring asks
    assert health.status.value == "FAILED" and "is gone" in health.msg
    assert reap_dead_runs(instance, CHIP) == [run.run_id]
    assert chip_runs_in_progress(instance, CHIP) == []
    failed = instance.get_run_by_id(run.run_id)
    assert failed.status.value == "FAILURE"
    messages = [e.dagster_event.message for e in instance.all_logs(run.run_id) if e.dagster_event]
    assert any(m and "worker process" in m and "died" in m for m in messages), messages
    # raw_chip committed before the kill; well_grid never started: the chip's row is whole
    assert (project.data / "tables" / "chips" / f"{CHIP}.parquet").is_file()
    assert not (project.data / "tables" / "well_grid").exists()


def test_live_run_is_left_alone(raw_chip: Path, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    shutil.copytree(raw_chip, project.data / "raw" / CHIP)
    proc = start_worker(project, CHIP, "--pause-at", "step:well_grid")
    try:
        wait_paused(project, proc)
        instance = project.instance()
        assert reap_dead_runs(instance, CHIP) == []
        assert [r.status.value for r in chip_runs_in_progress(instance, CHIP)] == ["STARTED"]
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
