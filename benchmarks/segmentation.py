"""LOCSNET vs Mask R-CNN (cpu profile) on held-out simulated wells (issue 4).

    # evaluate saved weights (default; fails with a clear message if they are missing)
    .venv/bin/python benchmarks/segmentation.py
    # train first (each model ~8-15 min on 2 cores; serialise heavy work with the shared lock)
    flock /tmp/lftiming_train.lock .venv/bin/python benchmarks/segmentation.py --train --kinds locsnet --no-eval
    flock /tmp/lftiming_train.lock .venv/bin/python benchmarks/segmentation.py --train --kinds mask_rcnn --no-eval
    flock /tmp/lftiming_train.lock .venv/bin/python benchmarks/segmentation.py
    # optional: also register the trained models in MLflow (models.registry)
    ... --train --register sqlite:///data/mlflow/mlflow.db
    # compare registered versions (e.g. the champion vs a GPU-trained bundle registered as candidate)
    .venv/bin/python benchmarks/segmentation.py --registered locsnet:champion locsnet:candidate

Training corpus: ``SEGMENTATION_CORPUS`` and ``CorpusSampling`` defaults (10 one-field chips, seeds
20000-20009, standard/hard alternating, 12 frames, every 2nd frame, 96 px well crops),
simulated into ``data/training/segmentation/chips`` when missing; validation chips are
seeds 20010-20011 (frames 0, 6, 11). Both models get the same data, recipe and number of
steps. Weights are plain state_dicts in ``data/models/segmentation/<kind>_cpu.pt`` (+ the
registry config JSON and the training history). Evaluation: held-out chips seed 301
(standard) and 302 (hard), one field of 72 frames each (simulated into ``--cache``, default
the corpus folder, when missing), every ``--frame-step``-th frame;
mIoU per frame (``metrics.segmentation``), per stratum (and overall and >4 cells on frames
0-11 and 12-71 apart, ``by_frames``), 95% bootstrap CIs over wells, AP50,
missed/extra cells and inference speed (well-frames/s, 2 CPU threads, batch 32). Writes
``benchmarks/results/segmentation.json`` (``segmentation_registered.json`` with
``--registered``; or ``--out``) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import pandas as pd
import torch
from mlflow import MlflowClient

from lftiming_ml.sim.corpus import simulate_corpus
from lftiming_ml.metrics.segmentation import summarize_segmentation
from lftiming_ml.models.registry import load_by_alias, log_held_out
from lftiming_ml.segmentation.config import SEGMENTATION_CORPUS, train_config
from lftiming_ml.segmentation.data import load_chip_samples, load_corpus_samples
from lftiming_ml.segmentation.engine import evaluate, load_weights, save_weights, train_segmenter
from lftiming_ml.segmentation.model import registry_config, segmenter_from_registry
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.sim.config import preset_config
from lftiming_ml.truth.files import WELLS, has_truth

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CHIPS = ROOT / "data" / "training" / "segmentation" / "chips"
MODELS = ROOT / "data" / "models" / "segmentation"
HELD_OUT = (("standard", 301), ("hard", 302))
VAL = SEGMENTATION_CORPUS.replace(n_chips=2, first_seed=20_010)
MIOU_TARGET_CPU = 0.85
EARLY_FRAMES = 12
"""Frames 0-11 and 12-71 are also scored apart: the bundled LOCSNET of 2026-12-05 was trained
on 12-frame movies only (``by_frames`` in the results)."""


def held_out_chip(preset: str, seed: int, cache: Path = CHIPS) -> Path:
    path = cache / f"bench-{preset}-s{seed}"
    if not has_truth(path, WELLS):
        simulate_chip(path, preset_config(preset, seed=seed, n_fields=1, n_frames=72), overwrite=True)
    return path


def train(kind: str, args: argparse.Namespace) -> dict:
    corpus = SEGMENTATION_CORPUS
    train_samples = load_corpus_samples(corpus, simulate_corpus(corpus, CHIPS))
    val_samples = [s for d in simulate_corpus(VAL, CHIPS) for s in load_chip_samples(d, frames=(0, 6, 11))]
    config = train_config("cpu", kind=kind, epochs=args.epochs, time_budget_min=args.minutes)
    curve: list[dict] = []
    t0 = time.perf_counter()

    def on_step(step: int, losses: dict) -> None:
        if step % 10 == 0:
            curve.append({"step": step, **{k: round(v, 4) for k, v in losses.items()}})
            print(f"  {kind} step {step}: loss {losses['loss']:.3f}", flush=True)

    model, history = train_segmenter(config, train_samples=train_samples, val_samples=val_samples,
                                     log_fn=lambda e, row: print(f"{kind} epoch {e}: " + json.dumps(
                                         {k: round(v, 4) for k, v in row.items()}), flush=True),
                                     step_fn=on_step)
    seconds = time.perf_counter() - t0
    MODELS.mkdir(parents=True, exist_ok=True)
    save_weights(model, MODELS / f"{kind}_cpu.pt")
    record = {"kind": kind, "train_seconds": seconds, "n_train_samples": len(train_samples),
              "n_val_samples": len(val_samples), "corpus": corpus.model_dump(mode="json"),
              "config": registry_config(config), "history": history, "loss_curve": curve}
    (MODELS / f"{kind}_cpu.json").write_text(json.dumps(record, indent=1, default=float))
    if args.register:
        from lftiming_ml.models.registry import log_and_register

        info = log_and_register(
            tracking_uri=args.register, experiment="segmentation", model_name=kind,
            state_dict=model.state_dict(), config=registry_config(config),
            params={"profile": "cpu", "corpus": corpus.model_dump(mode="json"), "n_train_samples": len(train_samples)},
            metrics={k: v for k, v in history[-1].items() if k.startswith("val_")}, history=history,
            run_name=f"{kind}-cpu-{corpus.n_chips}chips")
        record["registered"] = {"name": info.name, "version": info.version, "run_id": info.run_id}
    return record


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", action="store_true", help="train (and save) the models before evaluating")
    p.add_argument("--kinds", nargs="+", default=["locsnet", "mask_rcnn"], choices=["locsnet", "mask_rcnn"])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--minutes", type=float, default=15.0, help="training time budget per model (stops early)")
    p.add_argument("--frame-step", type=int, default=6, help="evaluate every n-th frame of the 72-frame held-out movies")
    p.add_argument("--no-eval", action="store_true", help="only train")
    p.add_argument("--register", default=None, help="MLflow tracking URI to register trained models in")
    p.add_argument("--registered", nargs="+", default=None, metavar="NAME:ALIAS",
                   help="evaluate registered versions instead of saved weights, e.g. locsnet:champion "
                        "locsnet:candidate (writes segmentation_registered.json)")
    p.add_argument("--no-log-held-out", action="store_true",
                   help="with --registered: do not log the scores on each version's MLflow run (heldout_miou_<group>, "
                        "shown by lftiming compare)")
    p.add_argument("--tracking-uri", default=f"sqlite:///{ROOT / 'data' / 'mlflow' / 'mlflow.db'}",
                   help="MLflow store of --registered")
    p.add_argument("--cache", type=Path, default=CHIPS, help="where the held-out chips are simulated")
    p.add_argument("--out", type=Path, default=None, help="results file (default: benchmarks/results/"
                   "segmentation.json, or segmentation_registered.json with --registered)")
    args = p.parse_args()
    torch.set_num_threads(2)
    if args.train:
        for kind in args.kinds:
            train(kind, args)
    if args.no_eval:
        return
    eval_samples = {preset: load_chip_samples(held_out_chip(preset, seed, args.cache),
                                              frames=range(0, 72, args.frame_step))
                    for preset, seed in HELD_OUT}
    result: dict = {"machine": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
                    "held_out": [f"{p}:{s}" for p, s in HELD_OUT], "frame_step": args.frame_step,
                    "miou_target_cpu": MIOU_TARGET_CPU, "models": {}}
    if args.registered:
        models = {}
        for spec in args.registered:
            name, _, alias = spec.partition(":")
            state_dict, config, info = load_by_alias(tracking_uri=args.tracking_uri, model_name=name,
                                                     alias=alias or "champion")
            model, profile = segmenter_from_registry(state_dict, config)
            run = MlflowClient(tracking_uri=args.tracking_uri).get_run(info.run_id).data
            models[f"{name}:{alias or 'champion'}"] = (model, profile, {
                "version": info.version, "run_id": info.run_id,
                "train_seconds": run.metrics.get("train_seconds"),
                "n_train_samples": int(run.params.get("n_train_well_frames", 0)) or None,
                "train_device": run.params.get("train_device", "cpu (trained before devices were recorded)"),
                "val_miou_corpus": run.metrics.get("val_miou")})
    else:
        models = {}
        for kind in args.kinds:
            weights = MODELS / f"{kind}_cpu.pt"
            if not weights.is_file():
                raise SystemExit(f"{weights} missing: train it first with --train --kinds {kind}")
            record = json.loads((MODELS / f"{kind}_cpu.json").read_text())
            model, profile = segmenter_from_registry(load_weights(weights), record["config"])
            models[kind] = (model, profile, {
                "train_seconds": record["train_seconds"], "n_train_samples": record["n_train_samples"],
                "history": record["history"], "loss_curve": record["loss_curve"]})
    for label, (model, profile, out) in models.items():
        pooled = []
        for preset, samples in eval_samples.items():
            frames, summary = evaluate(model, samples, profile=profile, device="cpu", batch_size=32)
            out[preset] = summary
            pooled.append(frames)
        pooled_frames = pd.concat(pooled, ignore_index=True)
        out["all"] = summarize_segmentation(pooled_frames)
        out["by_frames"] = {  # early frames (crowding, deaths and divisions build up later in a movie)
            name: {g: m for g, m in summarize_segmentation(part).items() if g in ("overall", ">4 cells")}
            for name, part in ((f"frames 0-{EARLY_FRAMES - 1}", pooled_frames[pooled_frames.frame < EARLY_FRAMES]),
                               (f"frames {EARLY_FRAMES}-71", pooled_frames[pooled_frames.frame >= EARLY_FRAMES]))}
        out["all"]["speed"] = {"frames_per_s": sum(len(s) for s in eval_samples.values()) /
                               sum(out[p]["speed"]["seconds"] for p in eval_samples)}
        result["models"][label] = out
        if args.registered and not args.no_log_held_out:  # lftiming compare shows them beside training's
            name = label.split(":")[0]
            log_held_out(tracking_uri=args.tracking_uri, model_name=name, version=out["version"],
                         scores={f"miou_{group}": m["miou_mean"] for group, m in out["all"].items() if group != "speed"})
        trained = (f"trained {out['train_seconds'] / 60:.1f} min on {out['n_train_samples']} well-frames"
                   if out.get("train_seconds") else "training time not recorded")
        print(f"\n{label}: {trained}{'; ' + out['train_device'] if 'train_device' in out else ''}; "
              f"{out['all']['speed']['frames_per_s']:.1f} well-frames/s")
        print(f"  {'group':<14}{'wells':>6}{'frames':>7}{'mIoU':>7}{'sd':>6}  {'95% CI (wells)':<16}{'AP50':>6}"
              f"{'missed':>8}{'extra':>7}")
        for group, m in out["all"].items():
            if group == "speed":
                continue
            print(f"  {group:<14}{m['n_wells']:>6}{m['n_frames_with_cells']:>7}{m['miou_mean']:>7.3f}{m['miou_sd']:>6.2f}"
                  f"  [{m['miou_ci_low']:.3f}, {m['miou_ci_high']:.3f}]  {m['ap50']:>6.3f}{m['n_missed']:>8}{m['n_extra']:>7}")
        for name, groups in out["by_frames"].items():
            print(f"  {name}: " + ", ".join(f"{g} {m['miou_mean']:.3f} [{m['miou_ci_low']:.3f}, {m['miou_ci_high']:.3f}]"
                                           for g, m in groups.items()))
    out_path = args.out or RESULTS / ("segmentation_registered.json" if args.registered else "segmentation.json")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(f"\nwrote {out_path}")


if __name__ == "__main__":
    main()
