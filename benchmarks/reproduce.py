"""One command for the README's headline table: every accuracy benchmark on held-out
simulated chips, from the bundled models (issue #19 item 5).

    make bench                                              # = the line below
    .venv/bin/python benchmarks/reproduce.py [--models-dir models] [--cache DIR] [--results DIR]
    .venv/bin/python benchmarks/reproduce.py --tracking-uri sqlite:///data/mlflow/mlflow.db
    .venv/bin/python benchmarks/reproduce.py --record-cards      # also write held-out scores into the cards
    .venv/bin/python benchmarks/reproduce.py --summary-only      # rebuild the table from the last run

Models: ``--models-dir`` (default ``models/``) registers each bundle ``<dir>/<model>/`` with
``lftiming_ml.bundled.register_shipped`` into a fresh temporary MLflow store (deleted at the
end; your registry is never touched); ``--tracking-uri`` uses the champions of an existing
store instead (only read). Then the benchmarks run one after another as subprocesses, each
with that store and its own default held-out chips (72 frames, seeds < 1000, never trained
on), so their numbers compare with the committed JSONs:

    wells             benchmarks/wells.py: champion well detector, grid and crops; chips 1, 2 (standard), 3 (hard), 2 fields
    segmentation      benchmarks/segmentation.py --registered locsnet:champion: chips 301/302, 1 field, every 6th frame
    tracking_gt       benchmarks/tracking.py: true detections of chips 31/32 (2 fields), ours (champion re-ID) vs laptrack
    tracking_locsnet  benchmarks/tracking_pipeline.py: detector + LOCSNET + tracker on chips 41/42 (2 fields) vs laptrack
    classification    benchmarks/classification.py --registered: champion CNN-LSTMs on true tracks of chips 611/612
    kinetics          benchmarks/kinetics.py --inputs models: contacts and kinetics from the tracking_locsnet
                      stage's masks and tracks, types and deaths from the champion classifiers, vs truth

Each writes its JSON into ``<results>/reproduce/`` (the names of ``benchmarks/results/``:
``wells.json``, ``segmentation_registered.json``, ``tracking_gt.json``,
``tracking_locsnet.json``, ``classification.json``, ``kinetics_models.json``) and its output
into ``<results>/reproduce/logs/<stage>.log``; then ``<results>/reproduce.json`` (every figure,
the stages with their exact commands and seconds) and ``<results>/reproduce.md`` (the table:
value, 95% CI, target, met or missed and by how much; ``benchmarks/reproduce_summary.py``).
Simulated chips are cached in ``<cache>/chips`` and the pipeline's grid, movies and LOCSNET
masks in ``<cache>/pipeline-<models key>`` (a hash of the models' weights or registry runs),
so a rerun with the same models simulates and segments nothing again. Measured: see the
README's Benchmarks section. Exit code 1 when a stage fails or writes no JSON (the others
still run; a stage that needs a failed one is skipped).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]  # this checkout's code, as the stages get it (PYTHONPATH)
from reproduce_summary import READERS, Figure, markdown  # noqa: E402  (benchmarks/reproduce_summary.py)

BENCH = ROOT / "benchmarks"
PIPELINE_CHIPS = ("standard:41", "hard:42")
TIME_BUDGET_MIN = 45.0
"""The whole command's target on 2 CPU cores."""


@dataclass(frozen=True)
class Stage:
    name: str
    script: str
    out: str
    args: tuple[str, ...]
    needs: tuple[str, ...] = ()


def stages(uri: str, cache: Path, pipeline: Path, out_dir: Path) -> list[Stage]:
    """The benchmark runs, in order, with their held-out defaults (chips named in the
    module docstring); ``pipeline`` is the model-specific folder of tracking_pipeline.py."""
    chips = cache / "chips"
    raw = chips / "raw"
    trk = [str(raw / f"trkpipe-{spec.replace(':', '-s')}") for spec in PIPELINE_CHIPS]
    return [
        Stage("wells", "wells.py", "wells.json", ("--tracking-uri", uri, "--cache", str(chips))),
        Stage("segmentation", "segmentation.py", "segmentation_registered.json",
              ("--registered", "locsnet:champion", "--tracking-uri", uri, "--cache", str(chips),
               "--no-log-held-out")),  # the store stays read only; held-out scores go into the cards
        Stage("tracking_gt", "tracking.py", "tracking_gt.json", ("--tracking-uri", uri, "--cache", str(chips))),
        Stage("tracking_locsnet", "tracking_pipeline.py", "tracking_locsnet.json",
              ("--chips", *PIPELINE_CHIPS, "--tracking-uri", uri, "--cache", str(pipeline), "--raw", str(raw),
               "--reuse-masks")),
        Stage("classification", "classification.py", "classification.json",
              ("--registered", "--run", "registered", "--tracking-uri", uri, "--cache", str(chips))),
        Stage("kinetics", "kinetics.py", "kinetics_models.json",
              ("--inputs", "models", "--chips", *trk, "--tables", str(pipeline / "tables"),
               "--zarr", str(pipeline / "zarr"), "--cache", str(pipeline / "kinetics"), "--tracking-uri", uri),
              needs=("tracking_locsnet",)),
    ]


STAGE_NAMES = ("wells", "segmentation", "tracking_gt", "tracking_locsnet", "classification", "kinetics")


# --- models ---------------------------------------------------------------------------------

def register_bundles(models_dir: Path, store: Path) -> tuple[str, dict[str, dict]]:
    """Register every pipeline model's bundle of ``models_dir`` (checked: card checksums,
    weights fit) into a new sqlite store in ``store``; (tracking URI, model -> identity)."""
    from lftiming_ml.bundled import PIPELINE_MODELS, register_shipped
    from lftiming_ml.models.card import read_card

    missing = [m for m in PIPELINE_MODELS if not (models_dir / m).is_dir()]
    if missing:
        raise SystemExit(f"{models_dir}: no bundle for {', '.join(missing)} (train them: python -m lftiming_ml.bundled "
                         f"train <model>, or use --tracking-uri)")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    identity = {}
    for model in PIPELINE_MODELS:
        info = register_shipped(models_dir / model, tracking_uri=uri, artifact_location=(store / "artifacts").as_uri())
        card = read_card(models_dir / model)
        identity[model] = {"bundle": str((models_dir / model).resolve()), "version": info.version,
                           "git_commit": card.get("trained", {}).get("git_commit"),
                           "files_sha256": card["files"]}
        print(f"  {model:<22} registered from {models_dir / model}", flush=True)
    return uri, identity


def registry_champions(uri: str) -> dict[str, dict]:
    """The champion of every pipeline model in the store at ``uri`` (read only)."""
    from mlflow import MlflowClient

    from lftiming_ml.bundled import PIPELINE_MODELS

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    out = {}
    for model in PIPELINE_MODELS:
        v = client.get_model_version_by_alias(model, "champion")
        out[model] = {"version": int(v.version), "run_id": v.run_id, "source": v.source}
    return out


def models_key(identity: dict[str, dict]) -> str:
    """A short hash of the models' weights (bundles) or registry runs: names the pipeline cache."""
    blob = json.dumps({m: i.get("files_sha256") or i.get("run_id") for m, i in identity.items()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


# --- running --------------------------------------------------------------------------------

def _children_cpu_seconds() -> float:
    """User + system CPU seconds of the finished subprocesses so far. A stage's share tells
    its size apart from the machine's load: on 2 idle cores its wall time is at most this."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_stage(stage: Stage, out_dir: Path, env: dict[str, str]) -> dict:
    """Run one benchmark as a subprocess (output into ``logs/<stage>.log``); its record."""
    argv = [sys.executable, f"benchmarks/{stage.script}", *stage.args, "--out", str(out_dir / stage.out)]
    log = out_dir / "logs" / f"{stage.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    (out_dir / stage.out).unlink(missing_ok=True)  # a file left by an earlier run is never read as this run's
    print(f"{stage.name}: running benchmarks/{stage.script} (output in {log})", flush=True)
    start, cpu_start = time.perf_counter(), _children_cpu_seconds()
    with open(log, "w") as f:
        rc = subprocess.run(argv, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
    seconds, cpu_seconds = time.perf_counter() - start, _children_cpu_seconds() - cpu_start
    failed = rc != 0 or not (out_dir / stage.out).is_file()
    if failed:
        tail = log.read_text().splitlines()[-15:]
        why = f"exit {rc}" if rc != 0 else f"exit 0 but wrote no {stage.out}"
        print(f"{stage.name}: FAILED ({why}) after {seconds:.0f} s; last lines of {log}:\n  " + "\n  ".join(tail),
              flush=True)
    return {"stage": stage.name, "command": shlex.join(["python", *argv[1:]]),
            "json": str(out_dir / stage.out), "log": str(log), "seconds": seconds, "cpu_seconds": cpu_seconds,
            "returncode": rc, "failed": failed}


def stage_figures(record: dict) -> list[Figure]:
    if record["failed"]:
        return []
    path = Path(record["json"])
    return READERS[record["stage"]](json.loads(path.read_text()))


def headline_line(name: str, figures: list[Figure]) -> str:
    heads = [f for f in figures if f.headline]
    parts = [f"{f.name} {f.value:.3f}"
             + (f" [{f.ci[0]:.3f}, {f.ci[1]:.3f}]" if f.ci else "") + (f" {f.status}" if f.status else "")
             for f in heads[:4]]
    return f"{name}: " + "; ".join(parts) + (f"; ... ({len(heads)} headline figures)" if len(heads) > 4 else "")


def record_cards(models_dir: Path, records: list[dict], figures: list[Figure], command: str) -> list[str]:
    """Each stage's figures about a model into that model's card (``record_held_out``)."""
    from lftiming_ml.bundled import PIPELINE_MODELS
    from lftiming_ml.models.card import record_held_out

    written = []
    for model in PIPELINE_MODELS:
        for rec in records:
            mine = [f for f in figures if f.stage == rec["stage"] and model in f.models]
            if not mine:
                continue
            scores = {f.name: {"value": f.value, "ci95": list(f.ci) if f.ci else None,
                               "target": f.target.text() if f.target else None, "status": f.status or None}
                      for f in mine}
            scores["_source"] = {"json": Path(rec["json"]).name, "benchmark_command": rec["command"]}
            record_held_out(models_dir / model, rec["stage"], scores, command)
            written.append(f"{model}/{rec['stage']}")
    return written


def write_summary(results: Path, report: dict, figures: list[Figure]) -> Path:
    sources = {r["stage"]: f"reproduce/{Path(r['json']).name}" for r in report["stages"]}
    total = report["total_seconds"] / 60
    every_stage = [r["stage"] for r in report["stages"]] == list(STAGE_NAMES)
    verdict = (("met" if total <= TIME_BUDGET_MIN else f"missed by {total - TIME_BUDGET_MIN:.1f} min") if every_stage
               else "not judged: only some stages ran")
    preamble = [
        f"Command: `{report['command']}`", "",
        f"Models: {report['models']['source']}; " + ", ".join(
            f"{m} v{i['version']}" for m, i in report["models"]["identity"].items()) + ".",
        f"Run {report['date']} on {report['machine']} ({report['cpus']} CPUs, load average "
        f"{report['load_average'][0]:.1f} at the start, {report['load_average'][1]:.1f} at the end): "
        f"{total:.1f} min in all (target ≤ {TIME_BUDGET_MIN:.0f} min on 2 cores: "
        f"{verdict}); the stages used "
        f"{sum(r.get('cpu_seconds', 0.0) for r in report['stages']) / 60:.1f} CPU min.",
        "Figures come from the JSONs in `reproduce/` (source column); each stage's exact command is in the last "
        "table. 'CI vs target': clear = the whole 95% CI is on the target's side; straddles = it is not.",
    ]
    failed = [r["stage"] for r in report["stages"] if r["failed"]]
    if failed:
        preamble.append(f"**Failed stages (no figures): {', '.join(failed)}** (see their logs).")
    md = markdown(figures, sources, report["stages"], title="Reproduced benchmarks", preamble=preamble)
    path = results / "reproduce.md"
    path.write_text(md)
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group()
    src.add_argument("--models-dir", type=Path, default=ROOT / "models",
                     help="bundled models, one folder per model (default: models/)")
    src.add_argument("--tracking-uri", default=None, help="use the champions of this MLflow store instead (read only)")
    p.add_argument("--cache", type=Path, default=Path(os.environ.get("LFTIMING_REPRO_CACHE", "/tmp/lftiming_repro_cache")),
                   help="simulated chips and pipeline outputs, reused by later runs")
    p.add_argument("--results", type=Path, default=BENCH / "results",
                   help="writes <results>/reproduce/*.json, <results>/reproduce.json and <results>/reproduce.md")
    p.add_argument("--stages", nargs="+", choices=STAGE_NAMES, default=list(STAGE_NAMES), help="run only these")
    p.add_argument("--record-cards", action="store_true",
                   help="write each model's held-out figures into its card in --models-dir (record_held_out)")
    p.add_argument("--summary-only", action="store_true",
                   help="rebuild reproduce.json's figures and reproduce.md from the last run's JSONs")
    args = p.parse_args()
    argv = sys.argv[1:]
    command = shlex.join(["python", "benchmarks/reproduce.py", *argv])
    results, out_dir = args.results.resolve(), args.results.resolve() / "reproduce"
    if args.record_cards and args.tracking_uri:
        p.error("--record-cards writes into the bundles' cards: it needs --models-dir, not --tracking-uri")

    if args.summary_only:
        if not (results / "reproduce.json").is_file():
            raise SystemExit(f"{results / 'reproduce.json'}: no earlier run to summarise (run without --summary-only)")
        report = json.loads((results / "reproduce.json").read_text())
        figures = [f for r in report["stages"] for f in stage_figures(r)]
        report["figures"] = [f.as_dict() for f in figures]
        (results / "reproduce.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
        print(write_summary(results, report, figures).read_text())
        return 0

    started, load_start = time.perf_counter(), os.getloadavg()[0]
    store = None
    try:
        if args.tracking_uri:
            uri, source = args.tracking_uri, f"champions of {args.tracking_uri}"
            identity = registry_champions(uri)
        else:
            store = Path(tempfile.mkdtemp(prefix="lftiming-reproduce-mlflow-"))
            print(f"registering the bundles of {args.models_dir} in a temporary MLflow store ({store})", flush=True)
            uri, identity = register_bundles(args.models_dir.resolve(), store)
            source = f"bundles of {args.models_dir}"
        key = models_key(identity)
        pipeline = args.cache.resolve() / f"pipeline-{key}"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               "MLFLOW_TRACKING_URI": uri}
        records: list[dict] = []
        figures: list[Figure] = []
        for stage in stages(uri, args.cache.resolve(), pipeline, out_dir):
            if stage.name not in args.stages:
                continue
            blocked = [n for n in stage.needs if any(r["stage"] == n and r["failed"] for r in records)]
            if blocked:
                print(f"{stage.name}: skipped, {', '.join(blocked)} failed", flush=True)
                records.append({"stage": stage.name, "command": "", "json": "", "log": "", "seconds": 0.0,
                                "cpu_seconds": 0.0, "returncode": None, "failed": True,
                                "skipped": f"{', '.join(blocked)} failed"})
                continue
            record = run_stage(stage, out_dir, env)
            records.append(record)
            found = stage_figures(record)
            figures += found
            if not record["failed"]:
                print(f"  {record['seconds']:.0f} s ({record['cpu_seconds']:.0f} CPU s); "
                      + headline_line(stage.name, found), flush=True)
        report = {
            "benchmark": "reproduce", "command": command, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "models": {"source": source, "tracking_uri": None if store else uri, "key": key, "identity": identity},
            "cache": str(args.cache), "pipeline_cache": str(pipeline), "stages": records,
            "total_seconds": time.perf_counter() - started, "time_budget_min": TIME_BUDGET_MIN,
            "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
            "load_average": [load_start, os.getloadavg()[0]], "figures": [f.as_dict() for f in figures],
        }
        if args.record_cards:
            report["cards_written"] = record_cards(args.models_dir, records, figures, command)
    finally:
        if store is not None:
            shutil.rmtree(store, ignore_errors=True)
    results.mkdir(parents=True, exist_ok=True)
    (results / "reproduce.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    md = write_summary(results, report, figures)
    print(md.read_text())
    print("stage seconds (CPU seconds): " + ", ".join(f"{r['stage']} {r['seconds']:.0f} ({r['cpu_seconds']:.0f})"
                                                      for r in records)
          + f"; total {report['total_seconds'] / 60:.1f} min; wrote {results / 'reproduce.json'} and {md}")
    return 1 if any(r["failed"] for r in records) else 0


if __name__ == "__main__":
    raise SystemExit(main())
