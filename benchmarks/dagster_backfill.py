"""End to end through the real Dagster services: `dagster dev` (webserver + daemon) on
127.0.0.1 in a scratch project, two simulated chips dropped into ``data/raw/``, the sensor
registers them as partitions, then a backfill of both chips is launched over GraphQL and
must complete. The job runs every chip asset, so it needs champion models: it uses this
project's MLflow registry (``data/mlflow``, filled by ``make demo``) read-only.

    .venv/bin/python benchmarks/dagster_backfill.py

Writes ``benchmarks/results/dagster_backfill.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.sim.config import preset_config

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PORT = 3333
URL = f"http://127.0.0.1:{PORT}/graphql"
CHIPS = ["bf-s1", "bf-s2"]


def gql(query: str, variables: dict | None = None) -> dict:
    req = urllib.request.Request(URL, data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def wait_for(what: str, fn, timeout_s: float) -> object:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            value = fn()
            if value:
                return value
        except (urllib.error.URLError, ConnectionError, KeyError, TypeError):
            pass
        time.sleep(2)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def partitions() -> list[str]:
    r = gql('{ partitionSetsOrError(repositorySelector: {repositoryName: "__repository__", '
            'repositoryLocationName: "lftiming"}, pipelineName: "chip_pipeline") { ... on PartitionSets '
            '{ results { partitionsOrError { ... on Partitions { results { name } } } } } } }')
    return [p["name"] for p in r["data"]["partitionSetsOrError"]["results"][0]["partitionsOrError"]["results"]]


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="lftiming-backfill-"))
    for name in ("dagster.yaml", "workspace.yaml"):
        shutil.copy(ROOT / name, home / name)
    for i, chip in enumerate(CHIPS, start=1):
        simulate_chip(home / "data" / "raw" / chip, preset_config("standard", seed=i, n_fields=1, n_frames=6))
    env = dict(os.environ, LFTIMING_HOME=str(home), DAGSTER_HOME=str(home), LFTIMING_DATA=str(home / "data"),
               LFTIMING_DAGSTER_DIR=str(home / "data" / "dagster"),
               LFTIMING_DAGSTER_LOGS=str(home / "data" / "dagster" / "logs"),
               MLFLOW_TRACKING_URI=os.environ.get("MLFLOW_TRACKING_URI",
                                                  f"sqlite:///{ROOT / 'data' / 'mlflow' / 'mlflow.db'}"))
    dagster = Path(sys.executable).with_name("dagster")
    log = open(home / "dagster_dev.log", "w")
    proc = subprocess.Popen(["env", "--default-signal=INT,TERM", str(dagster), "dev", "-h", "127.0.0.1",
                             "-p", str(PORT), "-w", "workspace.yaml"], cwd=home, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    result: dict[str, object] = {"benchmark": "dagster_backfill", "chips": CHIPS}
    try:
        start = time.monotonic()
        wait_for("the webserver", lambda: gql("{ version }")["data"]["version"], 120)
        result["webserver_ready_s"] = round(time.monotonic() - start, 1)
        found = wait_for("the sensor to register both chips", lambda: set(CHIPS) <= set(partitions()) and partitions(), 120)
        result["partitions_listed"] = found
        launched = gql("mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) "
                       "{ __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }",
                       {"p": {"partitionNames": CHIPS, "assetSelection": [{"path": ["raw_chip"]}]}})
        backfill_id = launched["data"]["launchPartitionBackfill"]["backfillId"]
        t0 = time.monotonic()

        def done() -> dict | None:
            b = gql("query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill "
                    "{ status runs(limit: 10) { status } } } }", {"id": backfill_id})["data"]["partitionBackfillOrError"]
            return b if b["status"] not in ("REQUESTED",) else None

        final = wait_for("the backfill", done, 300)
        result.update(backfill_status=final["status"], run_statuses=[r["status"] for r in final["runs"]],
                      backfill_s=round(time.monotonic() - t0, 1))
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    ok = result.get("backfill_status") == "COMPLETED_SUCCESS" and result.get("run_statuses") == ["SUCCESS"] * 2
    result["passed"] = ok
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dagster_backfill.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if ok:
        shutil.rmtree(home, ignore_errors=True)
    else:
        print(f"logs kept in {home}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
