"""Soak: N small simulated chips through the Dagster daemon (the ``new_chip_folders`` sensor,
the queue with 2 runs at once and one per chip, run monitoring with ``LocalRunLauncher``,
one retry) while run workers are killed with ``kill -9`` at random moments of the soak's first
part (``--kill-window-s``), one run a chip; then every chip's tables and Zarr arrays are
compared with the same chip run alone.

Reports (``benchmarks/results/soak.json``): chips complete once (exactly one successful
``chip_pipeline`` run each), the kills and what became of the killed runs (marked failed by
the code server or run monitoring, retried), runs left in progress (none), staging left
(none), chips whose outputs differ from a solo run (none), wall time.

    flock /tmp/lftiming_core1.lock taskset -c 1 .venv/bin/python benchmarks/soak.py [--chips 20] [--kills 3] [--kill-window-s S]

``--launch backfill`` starts the chips the way the UI's Backfills page does instead (the path of
``benchmarks/dagster_backfill.py``): ``dagster dev``, the sensor stopped over GraphQL, the chips'
partitions added and one backfill of all of them launched; the kills and checks are the same
(``benchmarks/results/soak_backfill.json``).

Models are the test suite's fakes (``tests/assets/fakes.py``; no MLflow, no training), the
chips 1-field 3x3-well 4-frame simulations, so the run measures the platform, not the models.
The code location (``soak_location.py``, written into the scratch project) runs each job in
process, so killing a run's worker kills the whole run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

LOCATION = '''"""Code location of the soak: the platform's chip assets, sensor and jobs with fake models."""
import hashlib
from pathlib import Path

import dagster as dg
import numpy as np

from lftiming_assets.jobs import CHIP_ASSETS, MODEL_ASSETS
from lftiming_assets.raw.sensors import new_chip_folders
from lftiming_assets.resources import build_resources
from lftiming_ml.chip import read_manifest, read_stack
from lftiming_ml.chip.manifest import ChannelRole
from tests.assets.fakes import FakeRegistry
from tests.truth_detect import truth_detector


def _key(frame):
    return hashlib.sha1(np.ascontiguousarray(frame).tobytes()).hexdigest()


class SoakRegistry(FakeRegistry):
    """FakeRegistry whose well detector finds the chip by its reference frame (any chip of raw/)."""

    def well_detector(self):
        def detect(frames, pixel_size_um=None):
            raw = Path(self.chip_dir)
            for chip in sorted(p for p in raw.iterdir() if (p / "chip.json").is_file()):
                manifest = read_manifest(chip)
                ref = read_stack(chip, manifest, manifest.fields[0].field_id, ChannelRole.phase)[0]
                if _key(ref) == _key(frames[0]):
                    return truth_detector(chip)(frames, pixel_size_um)
            raise ValueError("frame of no known chip")
        return detect, self.resolve("well_detector")


resources = build_resources()
chip_pipeline = dg.define_asset_job("chip_pipeline", selection=dg.AssetSelection.assets(*CHIP_ASSETS),
                                    executor_def=dg.in_process_executor)
defs = dg.Definitions(assets=[*CHIP_ASSETS, *MODEL_ASSETS], jobs=[chip_pipeline],
                      sensors=[new_chip_folders.with_updated_job(chip_pipeline)],
                      resources={**resources, "registry": SoakRegistry(chip_dir=str(Path(resources["storage"].data_dir) / "raw"))})
'''


def project_env(home: Path) -> dict[str, str]:
    return {**os.environ, "DAGSTER_HOME": str(home), "LFTIMING_DAGSTER_DIR": str(home / "dagster"),
            "LFTIMING_DAGSTER_LOGS": str(home / "dagster" / "logs"), "LFTIMING_DATA": str(home / "data"),
            "LFTIMING_HOME": str(home), "PYTHONPATH": f"{home}:{ROOT}"}


def simulate(raw: Path, n: int) -> list[str]:
    from concurrent.futures import ProcessPoolExecutor

    from lftiming_ml.sim.chip import simulate_chip
    from tests.conftest import small_sim_config

    ids = [f"soak-s{100 + i}" for i in range(n)]
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(simulate_chip, [raw / c for c in ids],
                      [small_sim_config(seed=100 + i, n_frames=4) for i in range(n)]))
    return ids


def after_last_step(instance, run_id: str) -> list[str]:
    """What the run's log says after its last step event: who saw the worker die and failed
    the run (the code server or the daemon's run monitoring), shortened."""
    tail = []
    for entry in reversed(instance.all_logs(run_id)):
        if entry.dagster_event is None or entry.dagster_event.is_step_event:
            break
        tail.insert(0, entry.dagster_event.message or "")
    return [m[:160] for m in tail if m and m != "Retrying the run"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chips", type=int, default=20)
    p.add_argument("--kills", type=int, default=3)
    p.add_argument("--home", type=Path, default=Path("/tmp/lftiming_soak"))
    p.add_argument("--timeout-min", type=float, default=90)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kill-window-s", type=float, default=None,
                   help="kill moments are drawn in [20, 20 + this] s (default 8 s a chip, the first ~40%% of a "
                        "soak whose chips take ~20 s each two at a time); a kill whose moment passed with no "
                        "run to kill lands on the next run started")
    p.add_argument("--launch", choices=["sensor", "backfill"], default="sensor",
                   help="sensor: the daemon alone, the new_chip_folders sensor requests a run a chip; backfill: "
                        "`dagster dev` (webserver + daemon), the sensor stopped, one backfill of every chip launched "
                        "over GraphQL as the UI's Backfills page does (benchmarks/dagster_backfill.py's path)")
    p.add_argument("--out", type=Path, default=None, help="default benchmarks/results/soak.json "
                                                          "(soak_backfill.json with --launch backfill)")
    args = p.parse_args()
    args.out = args.out or ROOT / "benchmarks" / "results" / ("soak.json" if args.launch == "sensor" else "soak_backfill.json")
    rng = random.Random(args.seed)
    home = args.home
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    yaml = (ROOT / "dagster.yaml").read_text().replace("poll_interval_seconds: 20", "poll_interval_seconds: 5")
    (home / "dagster.yaml").write_text(yaml)
    (home / "soak_location.py").write_text(LOCATION)
    (home / "workspace.yaml").write_text("load_from:\n  - python_file:\n      relative_path: soak_location.py\n"
                                         "      location_name: soak\n")
    env = project_env(home)
    os.environ.update({k: v for k, v in env.items() if k.startswith(("DAGSTER", "LFTIMING"))})
    staging_raw = home / "to_copy"
    start = time.time()
    chips = simulate(staging_raw, args.chips)
    print(f"simulated {len(chips)} chips in {time.time() - start:.0f} s", flush=True)

    import dagster as dg

    from lftiming_assets.runs import run_worker_pid
    from lftiming_ml.io import pid_alive
    from tests.reliability.harness import assert_same, leftovers, snapshot

    if args.launch == "sensor":
        daemon = subprocess.Popen(["env", "--default-signal=INT,TERM", str(Path(sys.executable).parent / "dagster-daemon"),
                                   "run", "-w", str(home / "workspace.yaml")], cwd=home, env=env,
                                  stdout=open(home / "daemon.log", "w"), stderr=subprocess.STDOUT)
    else:
        import dagster_backfill as bf

        port = bf.free_port()
        daemon = subprocess.Popen(["env", "--default-signal=INT,TERM", str(Path(sys.executable).parent / "dagster"), "dev",
                                   "-h", "127.0.0.1", "-p", str(port), "-w", str(home / "workspace.yaml")], cwd=home,
                                  env=env, stdout=open(home / "daemon.log", "w"), stderr=subprocess.STDOUT,
                                  start_new_session=True)
        gql, repository = bf.GraphQL(port), {"repositoryName": "__repository__", "repositoryLocationName": "soak"}
        bf.wait_for("the webserver", lambda: gql("{ version }")["version"], 300)
        bf.stop_sensor(gql, repository)
    instance = dg.DagsterInstance.get()
    (home / "data" / "raw").mkdir(parents=True)
    for chip in chips:  # the images first, chip.json last, as the raw-chip contract asks
        shutil.copytree(staging_raw / chip, home / "data" / "raw" / chip, ignore=shutil.ignore_patterns("chip.json"))
        shutil.copy(staging_raw / chip / "chip.json", home / "data" / "raw" / chip / "chip.json")
    if args.launch == "backfill":
        partition_set = bf.add_chip_partitions(gql, chips, repository)
        print(f"backfill {bf.launch_backfill(gql, partition_set, chips, repository)} of {len(chips)} chips", flush=True)
    soak_start = time.time()
    kills: list[dict] = []
    window = args.kill_window_s if args.kill_window_s is not None else 8 * args.chips
    kill_after = sorted(rng.uniform(20, 20 + window) for _ in range(args.kills))
    try:
        while time.time() - soak_start < args.timeout_min * 60:
            runs = instance.get_runs()
            done = {r.tags.get("dagster/partition") for r in runs if r.status == dg.DagsterRunStatus.SUCCESS}
            active = [r for r in runs if r.status in (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.QUEUED,
                                                     dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED)]
            if done >= set(chips) and not active:
                break
            # one kill a chip: its retry (run_retries max_retries 1) is left to finish
            killed = {k["chip"] for k in kills}
            started = [r for r in runs if r.status == dg.DagsterRunStatus.STARTED
                       and r.tags.get("dagster/partition") not in killed]
            if kill_after and time.time() - soak_start > kill_after[0] and started:
                run = rng.choice(started)
                pid = run_worker_pid(instance, run)
                if pid and pid_alive(pid):
                    os.kill(pid, signal.SIGKILL)
                    kills.append({"run_id": run.run_id, "chip": run.tags.get("dagster/partition"), "pid": pid,
                                  "at_s": round(time.time() - soak_start, 1)})
                    print(f"kill -9 {pid} (run {run.run_id[:8]}, {kills[-1]['chip']})", flush=True)
                    kill_after.pop(0)
            time.sleep(2)
        soak_s = time.time() - soak_start
    finally:
        if args.launch == "sensor":
            daemon.send_signal(signal.SIGTERM)
        else:
            os.killpg(daemon.pid, signal.SIGINT)
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
    runs = instance.get_runs()
    per_chip = {c: {"success": 0, "failure": 0, "other": 0} for c in chips}
    for r in runs:
        chip = r.tags.get("dagster/partition")
        if chip in per_chip:
            key = {"SUCCESS": "success", "FAILURE": "failure"}.get(r.status.value, "other")
            per_chip[chip][key] += 1
    for k in kills:
        k["status_after"] = instance.get_run_by_id(k["run_id"]).status.value
        k["failed_with"] = after_last_step(instance, k["run_id"])
        retries = [r for r in runs if r.tags.get("dagster/parent_run_id") == k["run_id"]]
        k["retried"] = bool(retries)
        k["retry_status"] = [r.status.value for r in retries]

    print("solo runs for comparison...", flush=True)
    solo_home = home / "solo"
    differ = []
    sys.path.insert(0, str(home))
    for chip in chips:
        (solo_home / "data" / "raw").mkdir(parents=True, exist_ok=True)
        shutil.copytree(staging_raw / chip, solo_home / "data" / "raw" / chip, dirs_exist_ok=True)
    os.environ.update({k: v for k, v in project_env(solo_home).items() if k.startswith(("DAGSTER", "LFTIMING"))})
    (solo_home / "dagster.yaml").write_text(yaml)
    import importlib

    location = importlib.import_module("soak_location")
    solo_instance = dg.DagsterInstance.get()
    for chip in chips:
        solo_instance.add_dynamic_partitions("chips", [chip])
        location.defs.resolve_job_def("chip_pipeline").execute_in_process(partition_key=chip, instance=solo_instance)
        try:
            assert_same(snapshot(home / "data", chip), snapshot(solo_home / "data", chip))
        except AssertionError as e:
            differ.append({"chip": chip, "difference": str(e)[:300]})
    report = {
        "launch": args.launch, "chips": len(chips), "kills": kills, "soak_seconds": round(soak_s, 1),
        "chips_complete_once": sum(v["success"] == 1 for v in per_chip.values()),
        "chips_with_duplicate_success": [c for c, v in per_chip.items() if v["success"] > 1],
        "chips_not_complete": [c for c, v in per_chip.items() if v["success"] == 0],
        "runs_in_progress_left": sum(v["other"] for v in per_chip.values()),
        "failed_runs": sum(v["failure"] for v in per_chip.values()),
        "staging_left": leftovers(home / "data"),
        "chips_differing_from_solo_runs": differ,
        "per_chip": per_chip,
    }
    report["ok"] = (report["chips_complete_once"] == len(chips) and not report["runs_in_progress_left"]
                    and not report["staging_left"] and not differ and len(kills) == args.kills
                    and all(k["status_after"] == "FAILURE" and k["retry_status"] == ["SUCCESS"] for k in kills))
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "per_chip"}, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
