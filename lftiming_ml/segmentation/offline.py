"""Train a segmenter into a training bundle, with neither MLflow nor Dagster: for a GPU machine.

The ``locsnet`` asset (``lftiming train locsnet``) trains where MLflow is. A lab with a GPU
elsewhere trains there and registers the result here::

    # on the GPU machine (torch, torchvision, scipy, scikit-image, pandas, pyarrow, tifffile,
    # zarr and pydantic are all it needs)
    python -m lftiming_ml.segmentation.offline --kind locsnet --profile cpu --n-chips 50 \
        --time-budget-min 5.5 --lr-schedule time --epochs 200 --batch-size 16 --workers 14 \
        --loader-workers 6 --device cuda --corpus-root /tmp/corpus --out /tmp/locsnet-bundle
    # back where MLflow is
    lftiming register /tmp/locsnet-bundle

``train_bundle`` is also what ``training.train_and_register`` runs before it logs the bundle,
so a bundle holds exactly what a local training run registers (params, per-epoch history,
final metrics, the validation overlay), plus the device it trained on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from torchvision.models.detection import MaskRCNN

from lftiming_ml.corpus import CorpusConfig, split_by_chip
from lftiming_ml.sim.corpus import simulate_corpus
from lftiming_ml.models.bundle import TrainingBundle, write_bundle
from lftiming_ml.models.training import device_description
from lftiming_ml.segmentation.config import (MODEL_NAMES, OVERLAY_ARTIFACT, SEGMENTATION_CORPUS, CorpusSampling,
                                             SegmenterKind, SegmenterProfile, train_config)
from lftiming_ml.segmentation.data import SegmentationSample, load_corpus_samples
from lftiming_ml.segmentation.engine import LogFn, train_segmenter
from lftiming_ml.segmentation.infer import segment_crops
from lftiming_ml.segmentation.model import registry_config
from lftiming_ml.viz import instance_overlay_png

"""Run artifact of every training run: validation crops, true (green) vs predicted (magenta) contours."""


def validation_overlay(model: MaskRCNN, profile: SegmenterProfile, samples: Sequence[SegmentationSample], *,
                       n_crops: int = 8) -> bytes:
    """PNG of up to ``n_crops`` validation crops with cells (spread evenly over ``samples``)
    segmented by ``model``: true (green) vs predicted (magenta) amodal contours."""
    with_cells = [s for s in samples if len(s.masks)]
    if not with_cells:
        raise ValueError("no validation crop with cells to preview")
    picked = [with_cells[i] for i in np.unique(np.linspace(0, len(with_cells) - 1, n_crops).round().astype(int))]
    device = next(model.parameters()).device
    found = segment_crops(model, [s.image for s in picked], profile=profile, device=device, batch_size=len(picked))
    return instance_overlay_png([s.image for s in picked], [s.masks for s in picked], [f.masks for f in found])


def train_bundle(
    *, kind: SegmenterKind, corpus: CorpusConfig, corpus_root: Path, profile: str = "cpu",
    overrides: Mapping[str, object] | None = None, log_fn: LogFn | None = None, workers: int = 1,
    sampling: CorpusSampling = CorpusSampling(),
) -> TrainingBundle:
    """Simulate the corpus once (cached under ``corpus_root``, ``workers`` chips at a time),
    split it by chip (``corpus.split_by_chip``), cut its samples as ``sampling`` says,
    train ``kind`` with the ``profile`` recipe (``overrides`` win) and
    return the run as a bundle: weights, the config that rebuilds the model, params (recipe,
    corpus, sizes, device), per-epoch history, final metrics with ``train_seconds``
    (simulation excluded) and the ``OVERLAY_ARTIFACT`` preview."""
    model_name = MODEL_NAMES[kind]
    config = train_config(profile, kind=kind, **dict(overrides or {}))
    train_dirs, val_dirs = split_by_chip(simulate_corpus(corpus, corpus_root, workers=workers))
    train_samples = load_corpus_samples(corpus, train_dirs, sampling=sampling, seed=config.seed)
    val_samples = load_corpus_samples(corpus, val_dirs, sampling=sampling, seed=config.seed + len(train_dirs))
    start = time.perf_counter()
    model, history = train_segmenter(config, train_samples=train_samples, val_samples=val_samples, log_fn=log_fn)
    seconds = time.perf_counter() - start
    final = {k: float(v) for k, v in history[-1].items()}
    final["train_seconds"] = seconds
    return TrainingBundle(
        model_name=model_name, state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
        config=registry_config(config),
        params={"train": config.model_dump(mode="json"), "corpus": corpus.model_dump(mode="json"),
                "sampling": sampling.model_dump(mode="json"),
                "n_chips": corpus.n_chips, "n_train_chips": len(train_dirs), "n_val_chips": len(val_dirs),
                "n_well_frames": len(train_samples) + len(val_samples),
                "n_train_well_frames": len(train_samples), "n_val_well_frames": len(val_samples),
                "train_device": device_description(next(model.parameters()).device)},
        metrics=final, history=history,
        artifacts={OVERLAY_ARTIFACT: validation_overlay(model, config.profile, val_samples)},
        run_name=f"{model_name}-{config.profile.name}-{corpus.n_chips}chips")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lftiming_ml.segmentation.offline",
                                description="Train LOCSNET or Mask R-CNN on simulated chips into a bundle folder "
                                            "(register it with `lftiming register <bundle>`).")
    p.add_argument("--kind", choices=sorted(MODEL_NAMES), default="locsnet")
    p.add_argument("--profile", choices=["cpu", "paper"], default="cpu")
    p.add_argument("--n-chips", type=int, default=SEGMENTATION_CORPUS.n_chips,
                   help="simulated corpus chips (the last fifth, rounded up, validates)")
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (a ceiling with --lr-schedule time)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--time-budget-min", type=float, default=None, help="stop training after this many minutes")
    p.add_argument("--lr-schedule", choices=["steps", "time"], default="steps",
                   help="'time': the learning rate decays over --time-budget-min")
    p.add_argument("--workers", type=int, default=1, help="chips simulated at a time")
    p.add_argument("--loader-workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--corpus-root", type=Path, required=True, help="where corpus chips are simulated (reused if there)")
    p.add_argument("--out", type=Path, required=True, help="bundle folder to write (must not exist)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.out.exists():
        sys.exit(f"{args.out}: exists; choose a new bundle folder")
    overrides = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                                   "time_budget_min": args.time_budget_min, "lr_schedule": args.lr_schedule,
                                   "loader_workers": args.loader_workers, "device": args.device}.items()
                 if v is not None}
    started = time.perf_counter()

    def log(epoch: int, row: dict[str, float]) -> None:
        keys = ("loss", "val_miou", "val_ap50", "val_missed_rate", "val_extra_per_frame", "steps", "epoch_s")
        print(json.dumps({"epoch": epoch, "elapsed_s": round(time.perf_counter() - started, 1),
                          **{k: round(row[k], 4) for k in keys if k in row}}), flush=True)

    bundle = train_bundle(kind=args.kind, corpus=SEGMENTATION_CORPUS.replace(n_chips=args.n_chips),
                          corpus_root=args.corpus_root, profile=args.profile, overrides=overrides, log_fn=log,
                          workers=args.workers)
    write_bundle(args.out, bundle)
    print(f"wrote {args.out} ({bundle.params['train_device']}, {bundle.metrics['train_seconds']:.0f} s of "
          f"training, val_miou {bundle.metrics.get('val_miou', float('nan')):.4f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
