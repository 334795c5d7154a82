"""Scale: one chip of N fields through ``lftiming run``, its per-field work units run in
this process, in 1 or 2 local worker processes, or on a Dask LocalCluster (issue 20).

    .venv/bin/python benchmarks/scale.py                                 # 2 and 8 fields x 72 frames
    .venv/bin/python benchmarks/scale.py --fields 2 8 32 --frames 72 --pools workers1 workers2 dask2
    .venv/bin/python benchmarks/scale.py --fields 100 --frames 24 --pools workers2 --out benchmarks/results/scale_full_chip.json
    .venv/bin/python benchmarks/scale.py --fit benchmarks/results/scale.json benchmarks/results/scale_full_chip.json

For each chip (preset ``standard``, seed 500 + N, N fields of 36 wells, ``--frames`` frames,
simulated once into ``--home``/chips) and each pool:

- ``workers1``: ``LFTIMING_WORKERS=1``, every unit in the run's own process (2 torch threads);
- ``workers1t1``: the same with ``OMP_NUM_THREADS=1`` (1 torch thread: one core's worth of work);
- ``workers2``: ``LFTIMING_WORKERS=2``, two spawned worker processes (1 torch thread each);
- ``dask2``: a ``distributed.LocalCluster`` of 2 worker processes x 1 thread started by this
  script, its address given to the run as ``LFTIMING_DASK_SCHEDULER`` (needs the dask extra),

a scratch project (bundled models registered in its own MLflow store, the chip copied into
``data/raw``) runs ``lftiming run --chip`` once. Recorded: the commit the run imported and
whether tracked files differed from it (``code``); wall time of the command; each
step's seconds (the run's step stats in the project's Dagster instance); peak RSS of the run process and
of every worker process (the kernel's high-water mark VmHWM, read once a second over the
process tree, Dask workers by their pids), and by how much each step raised those high-water
marks (``peak_rss_mb.rise_by_step``: which step makes a process's peak); occupied well-frames per second over ``cell_masks`` .. ``cell_deaths``, over
``cell_masks`` alone and over all steps; sha256 of
every chip table, compared across pools (``tables_equal_across_pools``: byte-equal rows; with
bfloat16 LOCSNET, masks and the rows after them may differ between 1 and 2 torch threads
per process).
A least-squares line of wall time against fields is fitted per pool. Writes
``benchmarks/results/scale.json``. ``--fit`` instead fits wall time against occupied
well-frames per pool over the runs of several such files (chips of other frame counts
included) and writes ``benchmarks/results/scale_fit.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dagster_backfill import BIN, chip_tables, copy_chips, machine, make_project, project_env  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
UNIT_STEPS = ("cell_masks", "cell_tracks", "cell_types", "cell_deaths")


def chip_id(fields: int, frames: int) -> str:
    return f"scale-f{fields}-t{frames}"


def simulate(staging: Path, fields: int, frames: int) -> str:
    from lftiming_ml.sim.chip import simulate_chip
    from lftiming_ml.sim.config import preset_config

    chip = chip_id(fields, frames)
    if not (staging / chip / "chip.json").is_file():
        start = time.monotonic()
        simulate_chip(staging / chip, preset_config("standard", seed=500 + fields, n_fields=fields, n_frames=frames),
                      overwrite=True)
        print(f"simulated {chip} in {time.monotonic() - start:.0f} s", flush=True)
    return chip


class PeakRss:
    """Peak RSS (MB) of a process tree and of extra pids: the kernel's high-water mark
    (``VmHWM`` in ``/proc/<pid>/status``), read once a second. (The first version polled
    RSS and command lines with psutil every 0.2 s; the 8-field chip's ``cell_masks`` took
    244 s under it with 2 workers and 163 s in the same run without any poll: the poll is the
    suspected cause, not yet re-measured with this one.)"""

    def __init__(self, root_pid: int, extra_pids: list[int] | None = None, every_s: float = 1.0) -> None:
        self.root, self.extra, self.every = root_pid, list(extra_pids or []), every_s
        self.peak: dict[int, float] = {}
        self.rises: list[tuple[float, int, float]] = []  # (epoch s, pid, new VmHWM MB) each time one rises
        self.names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    @staticmethod
    def _hwm_mb(pid: int) -> float | None:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def _poll(self) -> None:
        while not self._stop.is_set():
            pids = list(self.extra)
            try:
                root = psutil.Process(self.root)
                pids += [self.root, *(c.pid for c in root.children(recursive=True))]
            except psutil.Error:
                pass
            for pid in pids:
                if pid not in self.names:
                    try:
                        self.names[pid] = " ".join(psutil.Process(pid).cmdline())
                    except psutil.Error:
                        continue
                mb = self._hwm_mb(pid)
                if mb is not None and mb > self.peak.get(pid, 0.0):
                    self.peak[pid] = mb
                    self.rises.append((time.time(), pid, mb))
            self._stop.wait(self.every)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def step_times(home: Path, chip: str) -> dict[str, tuple[float, float]]:
    """(start, end) epoch seconds of each step of the chip's last run (the run's step stats in
    the project's instance)."""
    code = ("import json, sys, dagster as dg\n"
            "with dg.DagsterInstance.get() as i:\n"
            "    run = i.get_runs(filters=dg.RunsFilter(tags={'dagster/partition': sys.argv[1]}), limit=1)[0]\n"
            "    print(json.dumps({s.step_key: [s.start_time, s.end_time]\n"
            "                      for s in i.get_run_step_stats(run.run_id) if s.end_time and s.start_time}))\n")
    out = subprocess.run([sys.executable, "-c", code, chip], cwd=home, env=project_env(home), check=True,
                         capture_output=True, text=True).stdout
    return {k: (float(a), float(b)) for k, (a, b) in json.loads(out.strip().splitlines()[-1]).items()}


def hwm_rise_by_step(rises: list[tuple[float, int, float]], times: dict[str, tuple[float, float]],
                     run_pid: int, worker_pids: set[int]) -> dict[str, dict[str, float]]:
    """How much each step raised the run process's and the workers' VmHWM (MB): per step, the
    rise of the run process's high-water mark over the step, and the largest such rise over the
    workers, from the poll's record of each rise within (start, end]. The poll sees a rise up to
    ``every_s`` late, so one made in a step's last poll interval is given to the next step
    (steps here last tens of seconds or more). Steps that raised nothing are left out."""
    def peak_by(pid: int, t: float) -> float:
        return max((mb for ts, p, mb in rises if p == pid and ts <= t), default=0.0)

    out = {}
    for step, (start, end) in sorted(times.items(), key=lambda kv: kv[1][0]):
        run = peak_by(run_pid, end) - peak_by(run_pid, start)
        workers = max((peak_by(w, end) - peak_by(w, start) for w in worker_pids), default=0.0)
        if run >= 1 or workers >= 1:
            out[step] = {"run_process": round(run), "max_worker": round(workers)}
    return out


def occupied_well_frames(data: Path, chip: str) -> int:
    """Well-frames the unit steps process: the occupied (well, frame) rows of ``well_grid``
    (one row per well and frame; a well is occupied in all its frames or none)."""
    import pandas as pd

    grid = pd.read_parquet(data / "tables" / "well_grid" / f"{chip}.parquet", columns=["occupied"])
    return int(grid["occupied"].sum())


def code_version() -> dict:
    """The commit the runs import (the package is installed editable from this checkout) and
    whether tracked files differ from it: a run's numbers belong to that code."""
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def run_once(home: Path, staging: Path, chip: str, pool: str) -> dict:
    code = code_version()
    if home.exists():
        shutil.rmtree(home)
    register_s = make_project(home, 1)
    copy_chips(staging, home / "data" / "raw", [chip])
    env = project_env(home)
    cluster = None
    dask_pids: list[int] = []
    if pool == "workers1":
        env["LFTIMING_WORKERS"] = "1"
    elif pool == "workers1t1":  # one core's worth: the process scaling workers2 adds, without torch's own threads
        env["LFTIMING_WORKERS"] = "1"
        env["OMP_NUM_THREADS"] = "1"
    elif pool == "workers2":
        env["LFTIMING_WORKERS"] = "2"
    elif pool == "dask2":
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                               host="127.0.0.1")
        with Client(cluster) as client:
            dask_pids = list(client.run(lambda: __import__("os").getpid()).values())
        env["LFTIMING_DASK_SCHEDULER"] = cluster.scheduler_address
    else:
        raise ValueError(f"unknown pool {pool!r}")
    try:
        start = time.monotonic()
        proc = subprocess.Popen([str(BIN / "lftiming"), "run", "--chip", chip], cwd=home, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        with PeakRss(proc.pid, dask_pids) as rss:
            out, _ = proc.communicate()
        wall = time.monotonic() - start
    finally:
        if cluster is not None:
            cluster.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{pool}: lftiming run --chip {chip} exited {proc.returncode}:\n{out[-4000:]}")
    times = step_times(home, chip)
    steps = {k: round(b - a, 2) for k, (a, b) in times.items()}
    unit_s = sum(steps.get(s, 0.0) for s in UNIT_STEPS)
    n_wells_frames = occupied_well_frames(home / "data", chip)
    workers = {str(pid): round(mb) for pid, mb in rss.peak.items()
               if pid in dask_pids or "spawn_main" in rss.names.get(pid, "")}
    return {"pool": pool, "code": code, "wall_s": round(wall, 1), "register_models_s": register_s, "steps_s": steps,
            "unit_steps_s": round(unit_s, 1), "occupied_well_frames": n_wells_frames,
            "well_frames_per_s_unit_steps": round(n_wells_frames / unit_s, 1),
            "well_frames_per_s_cell_masks": round(n_wells_frames / steps["cell_masks"], 1),
            "well_frames_per_s_all_steps": round(n_wells_frames / sum(steps.values()), 1),
            "peak_rss_mb": {"run_process": round(rss.peak.get(proc.pid, 0.0)), "workers": workers,
                            "max_worker": max(workers.values(), default=None),
                            "rise_by_step": hwm_rise_by_step(rss.rises, times, proc.pid,
                                                             {int(w) for w in workers})},
            "tables": chip_tables(home / "data", chip)}


def fit_runs(paths: list[Path], out: Path) -> dict:
    """Per pool, wall seconds = intercept + slope x occupied well-frames over every run of ``paths``."""
    runs = [r for path in paths for r in json.loads(path.read_text())["runs"]]
    fits = {}
    for pool in sorted({r["pool"] for r in runs}):
        pts = sorted((r["occupied_well_frames"], r["wall_s"], r["chip"]) for r in runs if r["pool"] == pool)
        if len(pts) < 2:
            continue
        x, y = np.array([p[0] for p in pts], float), np.array([p[1] for p in pts], float)
        slope, intercept = np.polyfit(x, y, 1)
        fits[pool] = {"seconds_per_well_frame": round(float(slope), 5), "well_frames_per_s": round(float(1 / slope), 1),
                      "intercept_s": round(float(intercept), 1),
                      "max_abs_residual_s": round(float(np.abs(y - (slope * x + intercept)).max()), 1),
                      "points": [{"chip": c, "occupied_well_frames": int(n), "wall_s": w} for n, w, c in pts]}
    result = {"sources": [str(p) for p in paths], "wall_vs_occupied_well_frames": fits}
    out.write_text(json.dumps(result, indent=1) + "\n")
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fields", type=int, nargs="+", default=[2, 8])
    p.add_argument("--frames", type=int, default=72)
    p.add_argument("--pools", nargs="+", default=["workers1", "workers2", "dask2"],
                   choices=["workers1", "workers1t1", "workers2", "dask2"])
    p.add_argument("--home", type=Path, default=Path("/tmp/lftiming_scale"))
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scale.json")
    p.add_argument("--fit", type=Path, nargs="+", help="fit wall time vs well-frames over these result files, run nothing")
    args = p.parse_args()
    if args.fit:
        print(json.dumps(fit_runs(args.fit, ROOT / "benchmarks" / "results" / "scale_fit.json"), indent=1))
        return 0
    staging = args.home / "chips"
    staging.mkdir(parents=True, exist_ok=True)
    result: dict = {"machine": machine(), "frames": args.frames, "command": " ".join(sys.argv), "runs": []}
    for fields in args.fields:
        chip = simulate(staging, fields, args.frames)
        digests = {}
        for pool in args.pools:
            r = run_once(args.home / "project", staging, chip, pool)
            r.update({"fields": fields, "chip": chip})
            digests[pool] = r.pop("tables")
            result["runs"].append(r)
            print(f"{chip} {pool}: {r['wall_s']} s wall, unit steps {r['unit_steps_s']} s "
                  f"({r['well_frames_per_s_unit_steps']} well-frames/s), peak RSS run "
                  f"{r['peak_rss_mb']['run_process']} MB, worker max {r['peak_rss_mb']['max_worker']} MB", flush=True)
            args.out.write_text(json.dumps(result, indent=1) + "\n")
        first = next(iter(digests.values()))
        result.setdefault("tables_equal_across_pools", {})[chip] = {
            table: all(d.get(table, {}).get("sha256") == v["sha256"] for d in digests.values())
            for table, v in first.items()}
    fits = {}
    for pool in args.pools:
        pts = [(r["fields"], r["wall_s"]) for r in result["runs"] if r["pool"] == pool]
        if len(pts) >= 2:
            x, y = np.array(pts, float).T
            slope, intercept = np.polyfit(x, y, 1)
            fits[pool] = {"seconds_per_field": round(float(slope), 1), "intercept_s": round(float(intercept), 1),
                          "points": pts}
    result["linear_fit_wall_vs_fields"] = fits
    by = {(r["fields"], r["pool"]): r for r in result["runs"]}
    result["speedup_workers2_vs_workers1"] = {
        f: round(by[(f, "workers1")]["wall_s"] / by[(f, "workers2")]["wall_s"], 2)
        for f in args.fields if (f, "workers1") in by and (f, "workers2") in by}
    result["speedup_workers2_vs_workers1t1"] = {
        f: round(by[(f, "workers1t1")]["wall_s"] / by[(f, "workers2")]["wall_s"], 2)
        for f in args.fields if (f, "workers1t1") in by and (f, "workers2") in by}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("linear_fit_wall_vs_fields", "speedup_workers2_vs_workers1",
                                              "speedup_workers2_vs_workers1t1")}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
