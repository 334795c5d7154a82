"""The chip pipeline of this checkout against an earlier commit, on the same chip and models.

For each of ``--base`` and ``--head`` (git refs, default HEAD; each checked out into a
temporary worktree, so the code cannot change under a long run), in alternating rounds: a fresh data folder holding only the raw chip, the
project's MLflow registry (the same champion models for both), and ``chip_pipeline`` run
in a subprocess with that checkout's code (``lftiming_assets.cli.run_chip``). Reports per
step the seconds Dagster recorded (and the process CPU seconds in each step's span), the
summed time of the steps ``cell_masks`` through ``killing_kinetics`` (``MEASURED_STEPS``;
the three interaction assets are one step, ``interactions``, in newer commits; the report
steps ``qa_report`` and ``review_queue`` that newer commits run after them are listed but
not summed), the ratio, and whether every output table of the chip is equal between the
two (rows sorted; same columns and values) and the per-well masks and tracks in Zarr too.

    .venv/bin/python benchmarks/pipeline_speed.py --base 5a8c59f --chip demo-standard-s0 --rounds 2

With ``--models bundled`` each side gets its own fresh registry instead, holding the bundled
models of its own checkout (``models/``, registered by that checkout's code): then a change of
a bundle's inference settings (``bundle.json``) is measured with the code.

Needs the chip under ``data/raw/`` and (without ``--models bundled``) champion models in
``data/mlflow`` (``make demo``).
Writes ``benchmarks/results/pipeline_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import zarr

ROOT = Path(__file__).resolve().parents[1]
MEASURED_STEPS = ("cell_masks", "cell_tracks", "cell_deaths", "cell_types", "contacts", "well_outcomes",
                  "killing_kinetics", "interactions")
"""The steps summed: ``cell_masks`` through ``killing_kinetics`` (issue #21's measure)."""

RUNNER = """
import bisect, json, os, sys, threading, time, dagster as dg
from lftiming_assets.cli import run_chip
samples = []  # (wall, process CPU seconds), every 0.1 s: the CPU time of each step, beside its wall time
def sample():
    while True:
        t = os.times()
        samples.append((time.time(), t.user + t.system))
        time.sleep(0.1)
threading.Thread(target=sample, daemon=True).start()
run = run_chip(sys.argv[1])
ok = getattr(run, "ok", run)  # a ChipRun in newer commits, a bool in older ones
instance = dg.DagsterInstance.get()
run = instance.get_runs(limit=1)[0]
stats = instance.get_run_step_stats(run.run_id)
at = lambda ts: samples[min(bisect.bisect_left([w for w, _ in samples], ts), len(samples) - 1)][1]
print("STEPS " + json.dumps({"ok": ok, "steps": {s.step_key: s.end_time - s.start_time for s in stats},
                             "cpu": {s.step_key: at(s.end_time) - at(s.start_time) for s in stats}}))
"""

REGISTER = """
import sys
from lftiming_ml.bundled import MODELS_DIR, PIPELINE_MODELS, register_shipped
for model in PIPELINE_MODELS:
    register_shipped(MODELS_DIR / model, tracking_uri=sys.argv[1], artifact_location=sys.argv[2])
"""


def bundled_registry(code: Path, where: Path) -> str:
    """A fresh MLflow registry under ``where`` holding the bundled models of the checkout at
    ``code`` as champions, registered by that checkout's code; returns its tracking URI."""
    where.mkdir(parents=True)
    uri = f"sqlite:///{where / 'mlflow.db'}"
    out = subprocess.run([sys.executable, "-c", REGISTER, uri, (where / "artifacts").as_uri()], cwd=code,
                         env={**os.environ, "PYTHONPATH": str(code)}, capture_output=True, text=True, timeout=1800)
    if out.returncode:
        raise RuntimeError(f"{code}: registering its bundled models failed\n{out.stderr[-3000:]}")
    return uri


def run_pipeline(code: Path, chip: Path, work: Path, tracking_uri: str) -> tuple[dict, dict]:
    """``chip_pipeline`` on a copy-free data folder under ``work`` with the code at ``code``:
    per step its wall seconds (Dagster's) and the process CPU seconds in that span."""
    if work.exists():
        shutil.rmtree(work)
    (work / "data" / "raw").mkdir(parents=True)
    (work / "data" / "raw" / chip.name).symlink_to(chip)
    shutil.copy(code / "dagster.yaml", work / "dagster.yaml")
    env = {**os.environ, "PYTHONPATH": str(code), "LFTIMING_HOME": str(work), "DAGSTER_HOME": str(work),
           "LFTIMING_DATA": str(work / "data"), "LFTIMING_DAGSTER_DIR": str(work / "data" / "dagster"),
           "LFTIMING_DAGSTER_LOGS": str(work / "data" / "dagster" / "logs"), "MLFLOW_TRACKING_URI": tracking_uri}
    env.pop("LFTIMING_DUCKDB", None)
    out = subprocess.run([sys.executable, "-c", RUNNER, chip.name], cwd=code, env=env, capture_output=True,
                         text=True, timeout=3600)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("STEPS ")), None)
    if out.returncode or line is None:
        raise RuntimeError(f"{code}: pipeline failed\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    result = json.loads(line[len("STEPS "):])
    if not result["ok"]:
        raise RuntimeError(f"{code}: a step failed\n{out.stdout[-3000:]}")
    return result["steps"], result["cpu"]


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    cols = sorted(df.columns)
    return df[cols].sort_values(cols, kind="stable", ignore_index=True)


def compare_outputs(a: Path, b: Path, chip_id: str) -> dict:
    """Tables (every ``tables/<table>/<chip>.parquet``) and Zarr masks/tracks of two runs."""
    tables = {}
    for path in sorted((a / "tables").glob(f"*/{chip_id}.parquet")):
        other = b / "tables" / path.parent.name / path.name
        if not other.is_file():
            tables[path.parent.name] = "missing in the second run"
            continue
        x, y = _sorted(pd.read_parquet(path)), _sorted(pd.read_parquet(other))
        try:
            pd.testing.assert_frame_equal(x, y, check_dtype=False)
            tables[path.parent.name] = "equal"
        except AssertionError as e:
            tables[path.parent.name] = f"differs: {str(e).splitlines()[0][:200]}"
    arrays = {"equal": 0, "differ": []}
    wells = a / "zarr" / f"{chip_id}.zarr" / "wells"
    for group in sorted(wells.glob("*/*/masks")) + sorted(wells.glob("*/*/tracks")):
        rel = group.relative_to(a / "zarr")
        ga, gb = zarr.open_group(str(group), mode="r"), zarr.open_group(str(b / "zarr" / rel), mode="r")
        same = all(np.array_equal(np.asarray(ga[k][...]), np.asarray(gb[k][...]), equal_nan=ga[k].dtype.kind == "f")
                   for k in ga.array_keys())
        arrays["equal" if same else "differ"] += 1 if same else [str(rel)]
    return {"tables": tables, "zarr_groups": arrays}


def masks_to_kinetics(steps: dict[str, float]) -> float:
    """Seconds of the ``MEASURED_STEPS`` of one run."""
    return sum(v for k, v in steps.items() if k in MEASURED_STEPS)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="git ref of the baseline commit")
    p.add_argument("--head", default="HEAD", help="git ref of the commit compared with it")
    p.add_argument("--chip", default="demo-standard-s0", help="chip id under data/raw/")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--models", choices=["project", "bundled"], default="project",
                   help="project: both sides use data/mlflow's champions; bundled: each side its checkout's models/")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pipeline_speed.json")
    args = p.parse_args()
    chip = ROOT / "data" / "raw" / args.chip
    if not (chip / "chip.json").is_file():
        sys.exit(f"{chip}: no such chip (run make demo first)")
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{ROOT / 'data' / 'mlflow' / 'mlflow.db'}")
    base_sha = subprocess.check_output(["git", "rev-parse", args.base], cwd=ROOT, text=True).strip()
    head_sha = subprocess.check_output(["git", "rev-parse", args.head], cwd=ROOT, text=True).strip()
    with tempfile.TemporaryDirectory(prefix="lftiming-speed-") as tmp:
        tmp = Path(tmp)
        for name, sha in (("base", base_sha), ("head", head_sha)):
            subprocess.run(["git", "worktree", "add", "--detach", str(tmp / f"{name}-code"), sha], cwd=ROOT,
                           check=True, capture_output=True)
        try:
            codes = {"base": tmp / "base-code", "head": tmp / "head-code"}
            uris = ({name: bundled_registry(code, tmp / f"{name}-mlflow") for name, code in codes.items()}
                    if args.models == "bundled" else {"base": tracking_uri, "head": tracking_uri})
            runs: dict[str, list[dict]] = {"base": [], "head": []}
            cpu: dict[str, list[dict]] = {"base": [], "head": []}
            for r in range(args.rounds):
                for name in ("base", "head") if r % 2 == 0 else ("head", "base"):
                    steps, cpu_s = run_pipeline(codes[name], chip, tmp / name, uris[name])
                    runs[name].append(steps)
                    cpu[name].append(cpu_s)
                    print(f"round {r} {name}: {masks_to_kinetics(steps):.1f} s cell_masks..killing_kinetics "
                          f"({json.dumps({k: round(v, 1) for k, v in steps.items()})}; CPU {masks_to_kinetics(cpu_s):.1f} s)",
                          flush=True)
            outputs = compare_outputs(tmp / "base" / "data", tmp / "head" / "data", args.chip)
        finally:
            for name in ("base", "head"):
                subprocess.run(["git", "worktree", "remove", "--force", str(tmp / f"{name}-code")], cwd=ROOT,
                               capture_output=True)
    best = {k: min(masks_to_kinetics(s) for s in v) for k, v in runs.items()}
    result = {
        "chip": args.chip, "base": base_sha, "head": head_sha, "rounds": args.rounds, "models": args.models,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "seconds_masks_to_kinetics": {k: [round(masks_to_kinetics(s), 2) for s in v] for k, v in runs.items()},
        "best_seconds_masks_to_kinetics": {k: round(v, 2) for k, v in best.items()},
        "speedup": round(best["base"] / best["head"], 3),
        "time_saved_fraction": round(1 - best["head"] / best["base"], 3),
        "steps": {k: [{s: round(t, 2) for s, t in steps.items()} for steps in v] for k, v in runs.items()},
        "cpu_seconds_masks_to_kinetics": {k: [round(masks_to_kinetics(s), 2) for s in v] for k, v in cpu.items()},
        "cpu_steps": {k: [{s: round(t, 2) for s, t in steps.items()} for steps in v] for k, v in cpu.items()},
        "outputs": outputs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("best_seconds_masks_to_kinetics", "speedup", "time_saved_fraction")}))
    print(json.dumps(outputs, indent=1))


if __name__ == "__main__":
    main()
