"""The CLI's quiet runs: one line per step (time, key figures), failures with their cause,
failed checks, no Dagster DEBUG stream; the whole event log in a file."""


from pathlib import Path

import dagster as dg
import pytest

from lftiming_assets.progress import progress_logger, quiet_run_config
from lftiming_assets.runs import write_run_log


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="cell_masks")])
def cell_masks(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    context.log.info("segmenting")
    return dg.MaterializeResult(metadata={"cells": 1234, "well_frames": 72, "well_frames_per_s": 61.25, "model": "x"},
                                check_results=[dg.AssetCheckResult(check_name="positive", passed=False)])


@dg.asset(deps=[cell_masks])
def cell_tracks() -> None:
    raise ValueError("chip ph-1: well f000/r0c1 has no masks")


def _run(run_config: dict) -> dg.ExecuteInProcessResult:
    defs = dg.Definitions(assets=[cell_masks, cell_tracks], jobs=[dg.define_asset_job("j")],
                          loggers={"console": dg.colored_console_logger, "progress": progress_logger})
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("j").execute_in_process(instance=instance, raise_on_error=False,
                                                              run_config=run_config)
        _run.log = write_run_log(instance, result.run_id, _run.dir)  # type: ignore[attr-defined]
    return result


def test_quiet_run_prints_one_line_per_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run.dir = tmp_path / "logs"  # type: ignore[attr-defined]
    result = _run(quiet_run_config())
    out, err = capsys.readouterr()
    assert not result.success
    lines = out.splitlines()
    assert any(line.split()[0] == "cell_masks" and "cells 1234, well_frames 72, well_frames_per_s 61.2" in line
               for line in lines), out
    assert any("check cell_masks:positive FAILED" in line for line in lines)
    assert any(line.split()[0] == "cell_tracks" and "FAILED" in line and "has no masks" in line for line in lines)
    assert "DEBUG" not in out + err and "STEP_START" not in out + err
    log = _run.log.read_text()  # type: ignore[attr-defined]
    assert "STEP_START" in log and "segmenting" in log and "has no masks" in log


def test_verbose_run_prints_dagsters_stream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run.dir = tmp_path / "logs"  # type: ignore[attr-defined]
    _run(quiet_run_config(verbose=True))
    out, err = capsys.readouterr()
    assert "STEP_START" in out + err
