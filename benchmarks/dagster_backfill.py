"""A backfill of the whole ``chip_pipeline`` job through the real Dagster services, as the UI's
Backfills page launches it, on N small simulated chips with ``max_concurrent_runs`` C.

For each (N, C) a fresh scratch project: ``dagster dev`` (webserver + daemon) on 127.0.0.1,
``dagster.yaml`` the repository's with ``max_concurrent_runs: C``, the bundled models
(``models/``) registered in the project's own MLflow store (what ``make demo`` does on a fresh
clone). Over GraphQL: ``stopSensor`` on ``new_chip_folders`` (so nothing but the backfill
runs), then the chips are copied into ``data/raw/``, registered with ``addDynamicPartition``
and ``launchPartitionBackfill`` runs the job's partition set (``chip_pipeline_partition_set``,
every partition named: one ``chip_pipeline`` run a chip, every chip asset). Recorded: each
chip's run status, queue time and per-step times (the run's ``stepStats``), the wall time from
launch to the last run's end, and that no run outside the backfill was launched. Then the same
backfill is launched again and must re-materialize every table with unchanged row counts.

The outputs are compared with ``lftiming run --chip X`` on the same chips (same seeds) in a
separate scratch project: per table of each chip, the row count and a sha256 of its rows
(sorted). The chips are ``bf-s1 .. bf-sN`` (seed i, ``standard`` preset, ``--fields`` fields
(default 1) x 6 frames).

    flock /tmp/lftiming_core1.lock taskset -c 1 .venv/bin/python benchmarks/dagster_backfill.py \\
        [--chips 2 8] [--concurrency 1 2]

Writes ``benchmarks/results/dagster_backfill.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
REPOSITORY = {"repositoryName": "__repository__", "repositoryLocationName": "lftiming"}
JOB, SENSOR, PARTITIONS_DEF = "chip_pipeline", "new_chip_folders", "chips"
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def chip_ids(n: int) -> list[str]:
    """``bf-s1 .. bf-sN``; chip ``bf-si`` is simulated with seed i."""
    return [f"bf-s{i}" for i in range(1, n + 1)]


def simulate(staging: Path, n: int, fields: int = 1) -> list[str]:
    from lftiming_ml.sim.chip import simulate_chip
    from lftiming_ml.sim.config import preset_config

    for i, chip in enumerate(chip_ids(n), start=1):
        simulate_chip(staging / chip, preset_config("standard", seed=i, n_fields=fields, n_frames=6))
    return chip_ids(n)


def copy_chips(staging: Path, raw: Path, chips: list[str]) -> None:
    """Images first, ``chip.json`` last, as the raw-chip contract asks."""
    for chip in chips:
        shutil.copytree(staging / chip, raw / chip, ignore=shutil.ignore_patterns("chip.json"))
        shutil.copy(staging / chip / "chip.json", raw / chip / "chip.json")


def instance_yaml(max_concurrent_runs: int) -> str:
    """The repository's ``dagster.yaml`` with ``max_concurrent_runs`` changed."""
    text = (ROOT / "dagster.yaml").read_text()
    old = "max_concurrent_runs: 2"
    if text.count(old) != 1:
        raise ValueError(f"dagster.yaml: expected one '{old}' line to change")
    return text.replace(old, f"max_concurrent_runs: {max_concurrent_runs}")


def project_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DAGSTER_", "LFTIMING_"))}
    return {**env, "DAGSTER_HOME": str(home), "LFTIMING_HOME": str(home), "LFTIMING_DATA": str(home / "data"),
            "LFTIMING_DAGSTER_DIR": str(home / "data" / "dagster"),
            "LFTIMING_DAGSTER_LOGS": str(home / "data" / "dagster" / "logs"), "PYTHONPATH": str(ROOT),
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def make_project(home: Path, max_concurrent_runs: int) -> float:
    """A scratch project with the bundled models registered in its own MLflow store (under
    ``data/mlflow``); returns the seconds the registration took."""
    from lftiming_ml.bundled import MODELS_DIR, PIPELINE_MODELS

    (home / "data" / "raw").mkdir(parents=True)
    (home / "dagster.yaml").write_text(instance_yaml(max_concurrent_runs))
    shutil.copy(ROOT / "workspace.yaml", home / "workspace.yaml")
    start = time.monotonic()
    for model in PIPELINE_MODELS:
        subprocess.run([str(BIN / "lftiming"), "register", str(MODELS_DIR / model)], cwd=home, env=project_env(home),
                       check=True, stdout=subprocess.DEVNULL)
    return round(time.monotonic() - start, 1)


def frame_sha256(df: pd.DataFrame) -> str:
    """sha256 of a table's column names, dtypes and rows, rows sorted (row order is not content)."""
    if len(df):
        df = df.sort_values(list(df.columns), kind="stable").reset_index(drop=True)
    digest = hashlib.sha256(json.dumps([[c, str(t)] for c, t in df.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def chip_tables(data: Path, chip: str) -> dict[str, dict[str, object]]:
    """Each Parquet table of the chip (``tables/<table>/<chip>.parquet``): rows and sha256."""
    out = {}
    for path in sorted((data / "tables").glob(f"*/{chip}.parquet")):
        df = pd.read_parquet(path)
        out[path.parent.name] = {"rows": len(df), "sha256": frame_sha256(df)}
    return out


def differing_columns(a: Path, b: Path) -> list[str]:
    """Columns whose values differ between two Parquet files of one table (rows sorted by the
    columns they share); every column when the row counts differ."""
    da, db = pd.read_parquet(a), pd.read_parquet(b)
    if len(da) != len(db) or list(da.columns) != list(db.columns):
        return sorted(set(da.columns) | set(db.columns))
    cols = list(da.columns)
    da = da.sort_values(cols).reset_index(drop=True) if len(da) else da
    db = db.sort_values(cols).reset_index(drop=True) if len(db) else db
    return [c for c in cols if not da[c].equals(db[c])]


def compare(data: Path, reference: Path, chips: list[str], digests: dict, ref_digests: dict) -> dict[str, object]:
    """Chips whose tables (names, row counts, sha256) differ from the reference, with the columns that differ."""
    differ = {}
    for chip in chips:
        if digests[chip] == ref_digests[chip]:
            continue
        tables = sorted(set(digests[chip]) | set(ref_digests[chip]))
        differ[chip] = {t: {"rows": (digests[chip].get(t, {}).get("rows"), ref_digests[chip].get(t, {}).get("rows")),
                            "columns": differing_columns(data / "tables" / t / f"{chip}.parquet",
                                                         reference / "tables" / t / f"{chip}.parquet")
                            if t in digests[chip] and t in ref_digests[chip] else "table missing on one side"}
                        for t in tables if digests[chip].get(t) != ref_digests[chip].get(t)}
    return {"chips_compared": len(chips), "tables_compared": sum(len(ref_digests[c]) for c in chips),
            "chips_differing": differ, "equal": not differ}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GraphQL:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/graphql"

    def __call__(self, query: str, variables: dict | None = None) -> dict:
        req = urllib.request.Request(self.url, data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            body = json.load(resp)
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]


def wait_for(what: str, fn, timeout_s: float, every_s: float = 2.0):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            value = fn()
            if value:
                return value
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(every_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def expect(payload: dict, typename: str) -> dict:
    if payload["__typename"] != typename:
        raise RuntimeError(f"expected {typename}, got {payload}")
    return payload


SENSOR_Q = """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { __typename
  ... on Sensor { id sensorState { status } } ... on PythonError { message } } }"""
STOP_SENSOR = """mutation($id: String!) { stopSensor(id: $id) { __typename
  ... on StopSensorMutationResult { instigationState { status } } ... on PythonError { message } } }"""
PARTITION_SETS = """query($r: RepositorySelector!, $job: String!) { partitionSetsOrError(repositorySelector: $r,
  pipelineName: $job) { __typename ... on PartitionSets { results { name } } ... on PythonError { message } } }"""
ADD_PARTITION = """mutation($r: RepositorySelector!, $def: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $r, partitionsDefName: $def, partitionKey: $key) { __typename
  ... on AddDynamicPartitionSuccess { partitionKey } ... on PythonError { message } } }"""
LAUNCH = """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) { __typename
  ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
  ... on PartitionSetNotFoundError { message } } }"""
BACKFILL = """query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
  ... on PartitionBackfill { status } ... on PythonError { message } } }"""
RUNS = """query($f: RunsFilter) { runsOrError(filter: $f) { __typename ... on Runs { results {
  runId status jobName creationTime startTime endTime tags { key value } } } ... on PythonError { message } } }"""
RUN = """query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { runId status
  assetSelection { path } stepStats { stepKey status startTime endTime }
  assetMaterializations { assetKey { path } partition } } ... on PythonError { message } } }"""


def stop_sensor(gql: GraphQL, repository: dict = REPOSITORY) -> dict[str, str]:
    """Stop the ``new_chip_folders`` sensor (so nothing but the backfill runs): its status before and after."""
    selector = {**repository, "sensorName": SENSOR}
    sensor = expect(wait_for("the sensor", lambda: gql(SENSOR_Q, {"s": selector})["sensorOrError"], 120), "Sensor")
    stopped = expect(gql(STOP_SENSOR, {"id": sensor["id"]})["stopSensor"], "StopSensorMutationResult")
    return {"before": sensor["sensorState"]["status"], "after_stop": stopped["instigationState"]["status"]}


def sensor_status(gql: GraphQL, repository: dict = REPOSITORY) -> str:
    return gql(SENSOR_Q, {"s": {**repository, "sensorName": SENSOR}})["sensorOrError"]["sensorState"]["status"]


def add_chip_partitions(gql: GraphQL, chips: list[str], repository: dict = REPOSITORY) -> str:
    """Register the chips as partitions; returns the name of the job's partition set."""
    for chip in chips:
        expect(gql(ADD_PARTITION, {"r": repository, "def": PARTITIONS_DEF, "key": chip})["addDynamicPartition"],
               "AddDynamicPartitionSuccess")
    sets = [s["name"] for s in expect(gql(PARTITION_SETS, {"r": repository, "job": JOB})["partitionSetsOrError"],
                                      "PartitionSets")["results"]]
    if len(sets) != 1:
        raise RuntimeError(f"{JOB}: expected one partition set, found {sets}")
    return sets[0]


def launch_backfill(gql: GraphQL, partition_set: str, chips: list[str], repository: dict = REPOSITORY) -> str:
    """Launch one backfill of the job's partition set for ``chips`` (what the UI's Backfills page does); its id."""
    launched = gql(LAUNCH, {"p": {"selector": {"partitionSetName": partition_set, "repositorySelector": repository},
                                  "partitionNames": chips}})["launchPartitionBackfill"]
    return expect(launched, "LaunchBackfillSuccess")["backfillId"]


def runs(gql: GraphQL, backfill_id: str | None = None) -> list[dict]:
    f = {"tags": [{"key": "dagster/backfill", "value": backfill_id}]} if backfill_id else None
    return expect(gql(RUNS, {"f": f})["runsOrError"], "Runs")["results"]


def run_report(gql: GraphQL, run: dict, launched_at: float, chip_steps: list[str], chip_assets: list[str]) -> dict:
    """One backfill run: chip, status, when it started and ended (seconds from the launch), its
    seconds running and inside steps (from STEP_START to the step's end: the rest is starting
    the run worker and one subprocess per step), every step's status and seconds, and whether
    it ran every step and materialized every chip asset of its chip."""
    tags = {t["key"]: t["value"] for t in run["tags"]}
    detail = expect(gql(RUN, {"id": run["runId"]})["runOrError"], "Run")
    steps = {s["stepKey"]: {"status": s["status"],
                            "s": round(s["endTime"] - s["startTime"], 1) if s["startTime"] and s["endTime"] else None}
             for s in detail["stepStats"]}
    materialized = sorted({"/".join(m["assetKey"]["path"]) for m in detail["assetMaterializations"]})
    intervals = sorted((s["startTime"], s["endTime"]) for s in detail["stepStats"] if s["startTime"] and s["endTime"])
    in_steps, reach = 0.0, float("-inf")  # the union of the steps' intervals (two steps may run at once)
    for begin, end in intervals:
        in_steps += max(0.0, end - max(begin, reach))
        reach = max(reach, end)
    return {"chip": tags.get("dagster/partition"), "run_id": run["runId"], "status": run["status"],
            "retry_of": tags.get("dagster/parent_run_id"),
            "started_after_launch_s": round(run["startTime"] - launched_at, 1) if run["startTime"] else None,
            "run_s": round(run["endTime"] - run["startTime"], 1) if run["startTime"] and run["endTime"] else None,
            "ended_after_launch_s": round(run["endTime"] - launched_at, 1) if run["endTime"] else None,
            "in_steps_s": round(in_steps, 1),
            "steps": steps,
            "every_step_succeeded": sorted(steps) == sorted(chip_steps)
            and all(s["status"] == "SUCCESS" for s in steps.values()),
            "every_asset_materialized": materialized == sorted(chip_assets),
            "partitions_materialized": sorted({m["partition"] for m in detail["assetMaterializations"]})}


def backfill(gql: GraphQL, partition_set: str, chips: list[str], chip_steps: list[str], chip_assets: list[str],
             timeout_s: float) -> dict:
    """Launch the job backfill of ``chips`` and wait until its runs and the backfill are done."""
    launched_at = time.time()
    backfill_id = launch_backfill(gql, partition_set, chips)
    t0 = time.monotonic()
    seen: dict[str, float] = {}

    def done() -> bool:
        status = gql(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]["status"]
        found = runs(gql, backfill_id)
        if len(found) >= len(chips) and all(r["status"] in FINISHED for r in found):
            seen.setdefault("runs_finished_seen_s", time.monotonic() - t0)
        return status not in ("REQUESTED", "CANCELING", "FAILING") and "runs_finished_seen_s" in seen

    wait_for(f"backfill {backfill_id}", done, timeout_s, every_s=3.0)
    status = gql(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]["status"]
    found = runs(gql, backfill_id)
    per_run = sorted((run_report(gql, r, launched_at, chip_steps, chip_assets) for r in found),
                     key=lambda r: (chips.index(r["chip"]) if r["chip"] in chips else len(chips), r["run_id"]))
    last_end = max(r["endTime"] for r in found)
    return {"backfill_id": backfill_id, "backfill_status": status, "runs": len(found),
            "wall_s": round(last_end - launched_at, 1),
            "backfill_marked_done_s": round(time.monotonic() - t0, 1),
            "per_run": per_run}


def step_summary(per_run: list[dict]) -> dict[str, dict[str, float]]:
    """Mean and max seconds of each step over the runs."""
    out: dict[str, dict[str, float]] = {}
    for key in per_run[0]["steps"]:
        values = [r["steps"][key]["s"] for r in per_run if r["steps"].get(key, {}).get("s") is not None]
        if values:
            out[key] = {"mean_s": round(sum(values) / len(values), 1), "max_s": round(max(values), 1)}
    return out


def run_combination(home: Path, staging: Path, chips: list[str], concurrency: int, reference: Path,
                    ref_digests: dict, timeout_s: float, chip_steps: list[str], chip_assets: list[str]) -> dict:
    result: dict[str, object] = {"chips": len(chips), "max_concurrent_runs": concurrency,
                                 "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    result["register_models_s"] = make_project(home, concurrency)
    port = free_port()
    gql = GraphQL(port)
    log = open(home / "dagster_dev.log", "w")
    proc = subprocess.Popen(["env", "--default-signal=INT,TERM", str(BIN / "dagster"), "dev", "-h", "127.0.0.1",
                             "-p", str(port), "-w", "workspace.yaml"], cwd=home, env=project_env(home), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        start = time.monotonic()
        wait_for("the webserver", lambda: gql("{ version }")["version"], 300)
        result["webserver_ready_s"] = round(time.monotonic() - start, 1)
        result["sensor"] = stop_sensor(gql)
        copy_chips(staging, home / "data" / "raw", chips)  # after the sensor is stopped: it never sees them
        result["partition_set"] = partition_set = add_chip_partitions(gql, chips)

        first = backfill(gql, partition_set, chips, chip_steps, chip_assets, timeout_s)
        digests = {c: chip_tables(home / "data", c) for c in chips}
        first["equal_to_lftiming_run"] = compare(home / "data", reference, chips, digests, ref_digests)
        first["steps"] = step_summary(first["per_run"])
        result["backfill"] = first

        again = backfill(gql, partition_set, chips, chip_steps, chip_assets, timeout_s)
        again_digests = {c: chip_tables(home / "data", c) for c in chips}
        rows = {c: {t: v["rows"] for t, v in d.items()} for c, d in digests.items()}
        again_rows = {c: {t: v["rows"] for t, v in d.items()} for c, d in again_digests.items()}
        again["row_counts_unchanged"] = rows == again_rows
        again["tables_identical"] = digests == again_digests
        again["steps"] = step_summary(again["per_run"])
        result["relaunch"] = again

        all_runs = runs(gql)
        ours = {first["backfill_id"], again["backfill_id"]}
        result["runs_outside_the_backfills"] = [
            r["runId"] for r in all_runs if {t["key"]: t["value"] for t in r["tags"]}.get("dagster/backfill") not in ours]
        result["sensor"]["at_end"] = sensor_status(gql)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    ok_runs = lambda b: (b["backfill_status"] == "COMPLETED_SUCCESS" and b["runs"] == len(chips)  # noqa: E731
                         and sorted(r["chip"] for r in b["per_run"]) == sorted(chips)
                         and all(r["status"] == "SUCCESS" and r["every_step_succeeded"]
                                 and r["every_asset_materialized"] and r["partitions_materialized"] == [r["chip"]]
                                 for r in b["per_run"]))
    result["ok"] = (ok_runs(first) and ok_runs(again) and first["equal_to_lftiming_run"]["equal"]
                    and again["row_counts_unchanged"] and not result["runs_outside_the_backfills"]
                    and result["sensor"]["after_stop"] == result["sensor"]["at_end"] == "STOPPED")
    return result


def reference_runs(home: Path, staging: Path, chips: list[str]) -> dict:
    """``lftiming run --chip X`` for every chip in a scratch project of its own."""
    register_s = make_project(home, 2)
    copy_chips(staging, home / "data" / "raw", chips)
    per_chip = {}
    for chip in chips:
        start = time.monotonic()
        proc = subprocess.run([str(BIN / "lftiming"), "run", "--chip", chip], cwd=home, env=project_env(home),
                              capture_output=True, text=True)
        per_chip[chip] = {"exit_code": proc.returncode, "s": round(time.monotonic() - start, 1)}
        if proc.returncode != 0:
            raise RuntimeError(f"lftiming run --chip {chip} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        print(f"reference: lftiming run --chip {chip}: {per_chip[chip]['s']} s", flush=True)
    return {"register_models_s": register_s, "per_chip": per_chip,
            "digests": {c: chip_tables(home / "data", c) for c in chips}}


def machine() -> dict[str, object]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"host": platform.node(), "cpu": model, "cpus": os.cpu_count(),
            "cpus_this_process_may_use": sorted(os.sched_getaffinity(0)), "python": platform.python_version()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chips", type=int, nargs="+", default=[2, 8], help="chip counts N (default 2 8)")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 2],
                   help="max_concurrent_runs values C (default 1 2); every (N, C) is run")
    p.add_argument("--fields", type=int, default=1, help="fields per chip (2+: the launched runs' steps run their "
                   "per-field work units in worker processes)")
    p.add_argument("--home", type=Path, default=Path("/tmp/lftiming_backfill"), help="scratch folder (emptied first)")
    p.add_argument("--timeout-min", type=float, default=90, help="per backfill")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "dagster_backfill.json")
    args = p.parse_args()
    from lftiming_assets.jobs import CHIP_ASSETS

    chip_steps = sorted(a.op.name for a in CHIP_ASSETS)
    chip_assets = sorted(k.to_user_string() for a in CHIP_ASSETS for k in a.keys)
    started = time.monotonic()
    report: dict[str, object] = {"benchmark": "dagster_backfill", "machine": machine(),
                                 "loadavg_start": [round(x, 2) for x in os.getloadavg()],
                                 "chip": f"standard preset, {args.fields} field(s) x 6 frames, chip bf-si simulated with seed i",
                                 "chip_steps": chip_steps, "chip_assets": chip_assets}
    shutil.rmtree(args.home, ignore_errors=True)
    staging = args.home / "chips"
    chips = simulate(staging, max(args.chips), args.fields)
    print(f"simulated {len(chips)} chips", flush=True)
    reference = reference_runs(args.home / "lftiming_run", staging, chips)
    ref_digests = reference.pop("digests")
    report["lftiming_run"] = {**reference, "tables": {c: {t: v["rows"] for t, v in d.items()} for c, d in ref_digests.items()}}
    combos = []
    for n in args.chips:
        for c in args.concurrency:
            print(f"backfill of {n} chips, max_concurrent_runs {c}...", flush=True)
            result = run_combination(args.home / f"backfill-n{n}-c{c}", staging, chips[:n], c,
                                     args.home / "lftiming_run" / "data", ref_digests, args.timeout_min * 60,
                                     chip_steps, chip_assets)
            combos.append(result)
            print(json.dumps({k: result[k] for k in ("chips", "max_concurrent_runs", "ok")}
                             | {"wall_s": result.get("backfill", {}).get("wall_s"),
                                "relaunch_wall_s": result.get("relaunch", {}).get("wall_s")}), flush=True)
    report["combinations"] = combos
    report["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    report["whole_command_s"] = round(time.monotonic() - started, 1)
    report["ok"] = all(r["ok"] for r in combos)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps([{k: r[k] for k in ("chips", "max_concurrent_runs", "ok")}
                      | {"wall_s": r["backfill"]["wall_s"], "relaunch_wall_s": r["relaunch"]["wall_s"]}
                      for r in combos], indent=2))
    print(f"wrote {args.out}; scratch projects kept in {args.home}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
