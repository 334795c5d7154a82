"""Helpers of the reliability tests: a project folder with its own Dagster instance, chip
workers in subprocesses (``chip_worker``), killing them at a point, and snapshots of a
chip's tables and Zarr arrays to compare runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import zarr

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Project:
    """A project folder: ``data/`` and a Dagster instance (``dagster.yaml`` of the repository)."""

    home: Path

    @property
    def data(self) -> Path:
        return self.home / "data"

    def env(self) -> dict[str, str]:
        return {**os.environ, "DAGSTER_HOME": str(self.home), "LFTIMING_DAGSTER_DIR": str(self.home / "dagster"),
                "LFTIMING_DAGSTER_LOGS": str(self.home / "dagster" / "logs"), "LFTIMING_DATA": str(self.data),
                "PYTHONPATH": str(ROOT), "LFTIMING_HOME": str(self.home)}

    def instance(self):
        import dagster as dg

        for k, v in self.env().items():
            if k.startswith(("DAGSTER", "LFTIMING")):
                os.environ[k] = v
        return dg.DagsterInstance.get()


def make_project(home: Path) -> Project:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    return Project(home)


def start_worker(project: Project, chip: str, *args: str) -> subprocess.Popen:
    (project.data / "paused").unlink(missing_ok=True)
    return subprocess.Popen([sys.executable, "-m", "tests.reliability.chip_worker", "--data", str(project.data),
                             "--chip", chip, *args], cwd=ROOT, env=project.env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def run_worker(project: Project, chip: str, *args: str, timeout: float = 900) -> tuple[int, str]:
    proc = start_worker(project, chip, *args)
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def wait_paused(project: Project, proc: subprocess.Popen, timeout: float = 600) -> str:
    """Wait until the worker reached its pause point; returns what it wrote."""
    marker = project.data / "paused"
    deadline = time.time() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"worker ended ({proc.returncode}) before its pause point:\n{proc.stdout.read()}")
        if time.time() > deadline:
            proc.kill()
            raise AssertionError("worker did not reach its pause point")
        time.sleep(0.2)
    return marker.read_text()


def kill_at(project: Project, chip: str, point: str, *args: str) -> None:
    """Start a worker, let it reach ``point`` and ``kill -9`` it there."""
    proc = start_worker(project, chip, "--pause-at", point, *args)
    wait_paused(project, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    (project.data / "paused").unlink(missing_ok=True)


def zarr_arrays(store: Path) -> dict[str, object]:
    """Every array (values) and group (attrs) of a store, by path."""
    out: dict[str, object] = {}
    if not store.exists():
        return out
    for meta in sorted(store.rglob("zarr.json")):
        rel = str(meta.parent.relative_to(store))
        node = zarr.open(str(meta.parent), mode="r", zarr_format=3)
        out[rel] = np.asarray(node[...]) if isinstance(node, zarr.Array) else dict(node.attrs)
    return out


def snapshot(data: Path, chip: str) -> tuple[dict[str, pd.DataFrame], dict[str, object]]:
    """The chip's tables (rows sorted) and its store's arrays and group attributes."""
    tables = {}
    for path in sorted((data / "tables").glob(f"*/{chip}.parquet")):
        df = pd.read_parquet(path)
        tables[path.parent.name] = df.sort_values(list(df.columns)).reset_index(drop=True) if len(df) else df
    return tables, zarr_arrays(data / "zarr" / f"{chip}.zarr")


def assert_same(a: tuple[dict, dict], b: tuple[dict, dict]) -> None:
    tables_a, arrays_a = a
    tables_b, arrays_b = b
    assert sorted(tables_a) == sorted(tables_b)
    for name in tables_a:
        pd.testing.assert_frame_equal(tables_a[name], tables_b[name], check_dtype=False, obj=name)
    assert sorted(arrays_a) == sorted(arrays_b)
    for key, value in arrays_a.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, arrays_b[key], err_msg=key)
        else:
            assert value == arrays_b[key], key


def leftovers(data: Path) -> list[str]:
    """Staging a crash could leave: commit folders, staged files, temporaries."""
    found = [p for p in data.rglob("*") if ".tx-" in p.name or ".tmp-" in p.name or p.name.endswith(".staging")]
    found += [d for d in data.rglob("tx") if d.is_dir() and any(d.iterdir())]
    return sorted(str(p.relative_to(data)) for p in found)
