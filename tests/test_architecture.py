"""The architecture rules of ``[tool.importlinter]`` in pyproject.toml hold, and they bite.

- ``lftiming_assets`` imports ``lftiming_ml``, never the other way; the library is free of
  Dagster;
- the inference path (the modules the chip assets run) never imports ground truth
  (``lftiming_ml.truth``), evaluation or the simulator, not even indirectly;
- no import cycles between the library's packages, or between the modules of a package.

The rules are checked by import-linter (static, indirect imports included), and at run time:
loading the inference modules in a fresh interpreter loads none of the forbidden ones.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")
INFERENCE_ENTRY_POINTS = [
    "lftiming_ml.store", "lftiming_ml.wells.grid", "lftiming_ml.wells.serving", "lftiming_ml.segmentation.serving",
    "lftiming_ml.tracking.chip", "lftiming_ml.reid.serving", "lftiming_ml.classification.serving",
    "lftiming_ml.interactions.pipeline_inputs", "lftiming_ml.interactions.outcomes", "lftiming_ml.sql",
    "lftiming_ml.annotations.exchange", "lftiming_ml.annotations.sources", "lftiming_ml.review.queue",
    "lftiming_ml.review.plots", "lftiming_ml.qa.report",
]
FORBIDDEN_AT_INFERENCE = ("lftiming_ml.truth", "lftiming_ml.evaluation", "lftiming_ml.sim")


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_import_contracts_hold() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def test_contracts_catch_a_back_import_into_the_inference_path(tmp_path: Path) -> None:
    for package in ("lftiming_ml", "lftiming_assets"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    chip = tmp_path / "lftiming_ml" / "tracking" / "chip.py"
    chip.write_text(chip.read_text() + "\nfrom lftiming_ml.truth.files import read_cells  # noqa: E402\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "lftiming_ml.tracking is not allowed to import lftiming_ml.truth" in " ".join(result.stdout.split())
    assets = tmp_path / "lftiming_ml" / "store" / "layout.py"
    chip.write_text(chip.read_text().replace("from lftiming_ml.truth.files import read_cells", ""))
    assets.write_text(assets.read_text() + "\nimport lftiming_assets.resources  # noqa: E402\n")
    result = _lint(tmp_path)
    assert result.returncode != 0 and "BROKEN" in result.stdout  # the library importing the platform


def test_loading_the_inference_path_loads_no_truth_evaluation_or_simulator() -> None:
    code = ("import sys\n" + "".join(f"import {m}\n" for m in INFERENCE_ENTRY_POINTS)
            + f"bad = sorted(m for m in sys.modules if m.startswith({FORBIDDEN_AT_INFERENCE!r}))\n"
            + "print(','.join(bad))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"the inference path loaded {result.stdout.strip()}"
