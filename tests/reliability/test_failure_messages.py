"""Findings 4-7 of issue #23, through ``lftiming run``'s code path (``cli.run_chip``) in
process with fake models:

- 4: ``lftiming sql`` reads no file (kept from main; ``tests/test_sql_cli.py`` has the rest);
- 5: a failed run prints each failed step with its cause (not Dagster's wrapper) and the
  path of the whole log; missing models are named all at once with the commands that make
  them; a chip of only empty wells ends with exit code 3 and its failed check named;
- 6: an invalid chip id is refused before it becomes a partition; a chip whose wells cannot
  be found leaves no ``chips`` row and no preview;
- 7: asset checks are partitioned: each evaluation carries the chip.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from lftiming_assets.cli import ChipRun, MissingModelsError, main, run_chip
from lftiming_assets.partitions import chips
from lftiming_ml.models.registry import ModelNotRegisteredError, ModelVersionInfo
from lftiming_ml.sql import SqlError, run_query
from tests.assets.fakes import FakeRegistry
from tests.conftest import write_tiny_chip
from tests.reliability.chip_worker import fake_defs
from tests.reliability.conftest import CHIP
from tests.reliability.harness import make_project
from tests.truth_detect import truth_detector


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    project = make_project(tmp_path / "home")
    for key, value in project.env().items():
        if key.startswith(("DAGSTER", "LFTIMING")):
            monkeypatch.setenv(key, value)
    return project


class MissingModels(FakeRegistry):
    missing: list[str] = []

    def resolve(self, model_name: str) -> ModelVersionInfo:
        if model_name in self.missing:
            raise ModelNotRegisteredError(f"no version of model {model_name!r}")
        return super().resolve(model_name)


@dataclass
class _NoWells:
    boxes: np.ndarray
    scores: np.ndarray
    occupied_prob: np.ndarray


class NoWellsFound(FakeRegistry):
    def well_detector(self):
        return (lambda frames, pixel_size_um=None: [_NoWells(np.zeros((0, 4)), np.zeros(0), np.zeros(0)) for _ in frames],
                self.resolve("well_detector"))


class AllWellsEmpty(FakeRegistry):
    def well_detector(self):
        detect = truth_detector(Path(self.chip_dir))

        def empty(frames, pixel_size_um=None):
            found = detect(frames, pixel_size_um)
            for d in found:
                d.occupied_prob = np.zeros(len(d.scores))
            return found

        return empty, self.resolve("well_detector")


def _run(project, chip: str, registry=None, capsys=None) -> tuple[ChipRun, str]:
    registry = registry or FakeRegistry(chip_dir=str(project.data / "raw" / chip))
    run = run_chip(chip, defs=fake_defs(project.data, chip, registry=registry))
    return run, capsys.readouterr().out if capsys else ""


def test_sql_reads_no_file(project, tmp_path: Path) -> None:
    db = project.data / "lftiming.duckdb"
    import duckdb

    db.parent.mkdir(parents=True)
    duckdb.connect(str(db)).close()
    with pytest.raises(SqlError, match="refused"):
        run_query(db, "SELECT * FROM read_csv('/etc/passwd')")


@pytest.mark.parametrize("bad_id", ["../x", "my chip", "a/b", ".hidden", ""])
def test_invalid_chip_id_is_refused_before_it_becomes_a_partition(project, bad_id: str,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--chip", bad_id]) == 2
    assert "chip id" in capsys.readouterr().err
    with pytest.raises(ValueError, match="chip id"):
        run_chip(bad_id, defs=fake_defs(project.data, "x"))
    assert dg.DagsterInstance.get().get_dynamic_partitions(chips.name) == []


def test_missing_models_are_named_all_at_once_with_the_fix(project, raw_chip: Path) -> None:
    shutil.copytree(raw_chip, project.data / "raw" / CHIP)
    registry = MissingModels(chip_dir=str(project.data / "raw" / CHIP),
                             missing=["well_detector", "reid_embedding", "apoptosis_classifier"])
    with pytest.raises(MissingModelsError) as e:
        run_chip(CHIP, defs=fake_defs(project.data, CHIP, registry=registry))
    message = str(e.value)
    assert "chip_pipeline needs 3 model(s)" in message
    for model in ("well_detector", "reid_embedding", "apoptosis_classifier"):
        assert f"lftiming train {model}\n" in message + "\n"
    assert "make demo" in message
    assert dg.DagsterInstance.get().get_dynamic_partitions(chips.name) == []  # nothing registered, no run
    assert dg.DagsterInstance.get().get_runs() == []


def test_unregistered_model_message_names_the_command() -> None:
    from lftiming_ml.models.registry import resolve_alias

    with pytest.raises(ModelNotRegisteredError, match=r"`lftiming train locsnet` \(or `make demo`"):
        resolve_alias(tracking_uri="sqlite:///:memory:", model_name="locsnet", alias="champion")


def test_chip_whose_wells_cannot_be_found_fails_with_its_cause_and_leaves_no_rows(
        project, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chip = write_tiny_chip(project.data / "raw", "tiny-a")
    run, out = _run(project, chip.name, NoWellsFound(chip_dir=str(chip)), capsys)
    assert run.exit_code == 1
    line = next(line for line in out.splitlines() if "step well_grid FAILED" in line)
    assert "DagsterExecutionStepExecutionError" not in line and "ValueError: field 'f000': only 0 usable well detections" in line, line
    assert f"whole log of run {run.run_id}: {run.log_path}" in out
    assert "in fit_lattice" in run.log_path.read_text()  # the stack trace is in the log
    assert not list((project.data / "tables").glob("*/tiny-a.parquet")), "raw_chip's row stayed"
    assert not (project.data / "reports" / "tiny-a" / "raw_preview.png").exists()


def test_failed_raw_chip_names_the_file_not_the_wrapper(project, capsys: pytest.CaptureFixture[str]) -> None:
    chip = write_tiny_chip(project.data / "raw", "tiny-b")
    (chip / "f000" / "phase.tif").write_bytes((chip / "f000" / "phase.tif").read_bytes()[:500])
    run, out = _run(project, chip.name, capsys=capsys)
    assert run.exit_code == 1
    assert f"step raw_chip FAILED: ChipValidationError: {chip / 'f000' / 'phase.tif'}: truncated TIFF" in out, out
    assert not (project.data / "tables").exists() or not list((project.data / "tables").glob("*/tiny-b.parquet"))


def test_chip_of_only_empty_wells_exits_3_naming_the_check(project, raw_chip: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(raw_chip, project.data / "raw" / CHIP)
    run, out = _run(project, CHIP, AllWellsEmpty(chip_dir=str(project.data / "raw" / CHIP)), capsys)
    assert run.summary.success and run.exit_code == 3, out
    assert "check well_grid:occupied_wells FAILED: no well holds cells" in out
    assert "NaN" in out  # the consequence is said, not discovered in the tables
    # The CLI itself on this project, in a process of its own (the code location's resources are
    # made when it is imported, so in this process they may belong to another project, e.g. the
    # checkout's data/ after `make demo`): the project's registry holds no models, so the run is
    # refused before it starts, naming them, with exit code 2.
    proc = subprocess.run([str(Path(sys.executable).parent / "lftiming"), "run", "--chip", CHIP], cwd=project.home,
                          env=project.env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "chip_pipeline needs 5 model(s)" in proc.stdout + proc.stderr


def test_asset_checks_carry_the_chip_partition(project, raw_chip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(raw_chip, project.data / "raw" / CHIP)
    run, _ = _run(project, CHIP, capsys=capsys)
    assert run.exit_code == 0
    instance = dg.DagsterInstance.get()
    evaluations = [e.dagster_event for e in instance.all_logs(run.run_id)
                   if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert len(evaluations) >= 15
    assert {e.event_specific_data.partition for e in evaluations} == {CHIP}
