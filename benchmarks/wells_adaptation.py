"""Benchmark: fitting the well detector to another microscope from a few hand-given grids.

The shipped well detector finds few or no wells on the ``other-scope`` preset (the stand-in
for a lab's own microscope), so the pipeline stops at ``well_grid`` there. The fix a lab has
is what this measures, through the user's commands in a scratch project (``--home``):

1. ``lftiming register models/well_detector`` (the shipped detector is the champion);
2. ``lftiming label-wells --chip C --from simulator [--fields f000]`` on the labelling chips
   (other-scope:791 and other-scope-hard:792, 2 fields each): the simulated reviewer gives
   what a person gives by hand, three corner-well centres and the empty wells per field.
   The first chip gets f000 first (an annotations version with one field), then every field;
3. ``lftiming train well_detector --init champion --annotations C@VERSION ...
   --annotation-share 0.5 --epochs E --time-budget-min B --alias ARM`` for each arm (default
   6 epochs within 3 minutes; ``--epochs 2 --budget-min 1`` was the first recipe measured):
   ``finetune_1field`` (one labelled field), ``finetune_4fields`` (all four), and
   ``scratch_4fields`` (the same labels and budget, no ``--init``);
4. each alias scored per field on held-out chips of both scopes (their own seeds, 4 fields x
   12 frames): other-scope:793, other-scope-hard:794 and, for what the home scope keeps,
   standard:795 and hard:796: fields whose grid fits, wells found (recall, 95% CI), precision,
   mean centre error (canonical px), occupancy accuracy.

Writes ``benchmarks/results/wells_adaptation.json`` and prints the table. Command::

    flock /tmp/lftiming_heavy.lock .venv/bin/python benchmarks/wells_adaptation.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
LABELLING = ["other-scope:791", "other-scope-hard:792"]
HELD_OUT = ["other-scope:793", "other-scope-hard:794", "standard:795", "hard:796"]
ARMS = {  # alias -> (init, annotation selections: "all" or "one field")
    "finetune_1field": ("champion", "one field"),
    "finetune_4fields": ("champion", "all"),
    "scratch_4fields": (None, "all"),
}


def chip_id(spec: str) -> str:
    preset, seed = spec.split(":")
    return f"wl-{preset}-s{seed}"


def lftiming(home: Path, *args: str) -> str:
    """Run the ``lftiming`` command in the scratch project; its output (exit on failure)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("LFTIMING_", "DAGSTER_", "MLFLOW_"))},
           "LFTIMING_HOME": str(home)}
    p = subprocess.run([sys.executable, "-m", "lftiming_assets.cli", *args], cwd=home, env=env, text=True,
                       capture_output=True)
    if p.returncode != 0:
        sys.exit(f"lftiming {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout


def version_of(output: str) -> str:
    return next(line.split()[-1] for line in output.splitlines() if line.startswith("annotations version "))


def simulate(home: Path, specs: list[str], fields: int, frames: int) -> None:
    from lftiming_ml.sim.chip import simulate_chip
    from lftiming_ml.sim.config import preset_config

    for spec in specs:
        raw = home / "data" / "raw" / chip_id(spec)
        if not (raw / "chip.json").is_file():
            preset, seed = spec.split(":")
            print(f"simulating {raw.name} ({fields} fields x {frames} frames) ...", flush=True)
            simulate_chip(raw, preset_config(preset, seed=int(seed), n_fields=fields, n_frames=frames), overwrite=True)


def score_alias(home: Path, alias: str) -> dict:
    """Per held-out chip: fields whose grid fits and the wells' scores (``metrics.wells``)."""
    from lftiming_ml.chip import read_manifest
    from lftiming_ml.metrics.wells import score_wells
    from lftiming_ml.truth.files import read_wells
    from lftiming_ml.wells.config import WellGridParams
    from lftiming_ml.wells.grid import chip_well_grid
    from lftiming_ml.wells.serving import load_detector

    import pandas as pd

    import mlflow

    uri = f"sqlite:///{home / 'data' / 'mlflow' / 'mlflow.db'}"
    detect, info = load_detector(tracking_uri=uri, alias=alias)
    run = mlflow.MlflowClient(uri).get_run(info.run_id)
    steps = mlflow.MlflowClient(uri).get_metric_history(info.run_id, "steps")
    params, out = WellGridParams(), {"version": info.version, "run_name": run.info.run_name,
                                     "train_seconds": run.data.metrics.get("train_seconds"),
                                     "train_steps": sum(int(m.value) for m in {m.step: m for m in steps}.values())}
    for spec in HELD_OUT:
        raw = home / "data" / "raw" / chip_id(spec)
        manifest = read_manifest(raw)
        grids, failed = [], {}
        for f in manifest.fields:
            one = manifest.model_copy(update={"fields": [f]})
            try:
                grids.append(chip_well_grid(raw, one, detect, params=params)[0])
            except ValueError as e:
                failed[f.field_id] = str(e)[:200]
        truth = read_wells(raw)
        n_true = int(len(truth[truth["frame"] == 0]))
        row: dict[str, object] = {"fields": len(manifest.fields), "fields_fitted": len(grids), "failed": failed,
                                  "n_true": n_true}
        if grids:
            s = score_wells(pd.concat(grids, ignore_index=True), truth, match_px=13.0 / manifest.pixel_size_um,
                            um_per_px=manifest.pixel_size_um, canonical_um_per_px=params.canonical_um_per_px).as_dict()
            row.update({k: s[k] for k in ("n_pred", "n_matched", "precision", "mean_centre_error",
                                          "occupancy_accuracy", "n_id_mismatch")})
            row["recall"] = s["n_matched"] / n_true  # of every true well, fields without a grid included
        else:
            row.update({"n_pred": 0, "n_matched": 0, "recall": 0.0})
        out[chip_id(spec)] = row
        print(f"  {alias} {chip_id(spec)}: {row['fields_fitted']}/{row['fields']} fields, "
              f"{row['n_matched']}/{n_true} wells, centre error {row.get('mean_centre_error', float('nan')):.2f} px",
              flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--home", type=Path, default=Path("/tmp/lftiming-wells-adaptation"))
    p.add_argument("--budget-min", type=float, default=3.0, help="training minutes per arm (--time-budget-min)")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--out", type=Path, default=RESULTS / "wells_adaptation.json")
    args = p.parse_args(argv)
    start = time.perf_counter()
    home = args.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    simulate(home, LABELLING, fields=2, frames=12)
    simulate(home, HELD_OUT, fields=4, frames=12)
    print(lftiming(home, "register", str(ROOT / "models" / "well_detector")).strip(), flush=True)

    first, second = (chip_id(s) for s in LABELLING)
    one_field = version_of(lftiming(home, "label-wells", "--chip", first, "--from", "simulator", "--fields", "f000"))
    all_first = version_of(lftiming(home, "label-wells", "--chip", first, "--from", "simulator"))
    all_second = version_of(lftiming(home, "label-wells", "--chip", second, "--from", "simulator"))
    selections = {"one field": [f"{first}@{one_field}"], "all": [f"{first}@{all_first}", f"{second}@{all_second}"]}

    report: dict[str, object] = {"benchmark": "wells_adaptation", "command": " ".join(["python", *sys.argv]),
                                 "labelling_chips": LABELLING, "held_out": HELD_OUT,
                                 "settings": {"budget_min": args.budget_min, "epochs": args.epochs,
                                              "annotation_share": 0.5},
                                 "selections": selections, "arms": {}}
    report["arms"]["shipped"] = {"init": "bundled", "labels": "none", "scores": score_alias(home, "champion")}
    for alias, (init, which) in ARMS.items():
        cmd = ["train", "well_detector", "--annotations", *selections[which], "--annotation-share", "0.5",
               "--epochs", str(args.epochs), "--time-budget-min", str(args.budget_min), "--alias", alias]
        if init:
            cmd += ["--init", init]
        t0 = time.perf_counter()
        print(f"{alias}: {lftiming(home, *cmd).strip().splitlines()[-1]} ({time.perf_counter() - t0:.0f} s)", flush=True)
        report["arms"][alias] = {"init": init or "scratch", "labels": which, "command": "lftiming " + " ".join(cmd),
                                 "wall_s": time.perf_counter() - t0, "scores": score_alias(home, alias)}
    report.update({"seconds": time.perf_counter() - start, "cpus": os.cpu_count(), "machine": platform.machine()})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print("\n| arm | " + " | ".join(chip_id(s) for s in HELD_OUT) + " |")
    print("|---|" + "---|" * len(HELD_OUT))
    for arm, r in report["arms"].items():
        cells = [f"{s['fields_fitted']}/{s['fields']} fields, {s['n_matched']}/{s['n_true']} wells"
                 + (f", {s['mean_centre_error']:.2f} px" if s.get("mean_centre_error") is not None else "")
                 for s in (r["scores"][chip_id(h)] for h in HELD_OUT)]
        print(f"| {arm} (v{r['scores']['version']}, {r['scores']['train_steps']} steps, "
              f"{r['scores']['train_seconds']:.0f} s) | " + " | ".join(cells) + " |")
    print(f"wrote {args.out} ({report['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
