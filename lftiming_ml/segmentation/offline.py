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
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from torchvision.models.detection import MaskRCNN

from lftiming_ml.corpus import AnnotationCorpus, CorpusConfig, corpus_chips, mix_parts, split_by_chip
from lftiming_ml.sim.corpus import simulate_corpus
from lftiming_ml.models.bundle import TrainingBundle, write_bundle
from lftiming_ml.models import finetune
from lftiming_ml.models.init import InitWeights
from lftiming_ml.models.manifest import MANIFEST_ARTIFACT, corpus_manifest, manifest_params
from lftiming_ml.models.training import device_description
from lftiming_ml.segmentation.config import (MODEL_NAMES, OVERLAY_ARTIFACT, SEGMENTATION_CORPUS, CorpusSampling,
                                             SegmenterKind, SegmenterProfile, train_config)
from lftiming_ml.segmentation.data import SegmentationSample, load_corpus_samples
from lftiming_ml.segmentation.engine import LogFn, evaluate, flat_metrics, train_segmenter
from lftiming_ml.segmentation.infer import segment_crops
from lftiming_ml.segmentation.model import registry_config
from lftiming_ml.viz import instance_overlay_png

if TYPE_CHECKING:  # the annotations code (and the store's duckdb) loads only when a run selects annotations
    from lftiming_ml.store.layout import DataLayout

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


def corpus_samples(
    *, corpus: CorpusConfig, corpus_root: Path, sampling: CorpusSampling, seed: int, workers: int = 1,
    annotations: AnnotationCorpus | None = None, layout: DataLayout | None = None,
) -> tuple[list[SegmentationSample], list[SegmentationSample], list[SegmentationSample], list[dict], dict]:
    """The run's samples: (training set mixed as ``annotations.share`` says, simulated
    validation, annotated validation), the manifest entry of every annotation selection
    (``ResolvedSelection.describe`` plus its ``samples``) and the mixing counts. The
    simulated chips are simulated once (cached under ``corpus_root``) and split by chip;
    the selections are resolved against ``layout``'s annotations store (a version the chip
    never had is refused, naming it)."""
    selections = annotations.selections if annotations else ()
    if selections and layout is None:
        raise ValueError("annotation selections need the data folder (layout) that holds their annotations")
    if selections:
        from lftiming_ml.annotations.selection import resolve_selection
        from lftiming_ml.segmentation.annotated import annotated_samples
    resolved = [resolve_selection(layout, s) for s in selections]  # refuse a bad selection before simulating
    train_dirs, val_dirs = split_by_chip(simulate_corpus(corpus, corpus_root, workers=workers))
    train = load_corpus_samples(corpus, train_dirs, sampling=sampling, seed=seed)
    val = load_corpus_samples(corpus, val_dirs, sampling=sampling, seed=seed + len(train_dirs))
    ann: dict[str, list[SegmentationSample]] = {"train": [], "validation": []}
    entries = []
    for r in resolved:
        samples = annotated_samples(r, sampling=sampling)
        if not samples:
            raise ValueError(f"annotation selection {r.chip.chip_id}@{r.version[:12]}: no well-frame whose cells are "
                             f"all labelled by {list(r.selection.provenances) or 'any provenance'}")
        ann[r.selection.split] += samples
        entries.append({**r.describe(), "samples": len(samples)})
    mixed, mixing = mix_parts(train, ann["train"], annotations.share if annotations else None, seed=seed)
    return mixed, val, ann["validation"], entries, mixing


def train_bundle(
    *, kind: SegmenterKind, corpus: CorpusConfig, corpus_root: Path, profile: str = "cpu",
    overrides: Mapping[str, object] | None = None, log_fn: LogFn | None = None, workers: int = 1,
    sampling: CorpusSampling = CorpusSampling(), init: InitWeights | None = None,
    annotations: AnnotationCorpus | None = None, layout: DataLayout | None = None,
) -> TrainingBundle:
    """Simulate the corpus once (cached under ``corpus_root``, ``workers`` chips at a time),
    split it by chip (``corpus.split_by_chip``), cut its samples as ``sampling`` says, add
    the curated labels of ``annotations`` (``corpus_samples``), train ``kind`` with the
    ``profile`` recipe (``overrides`` win) from scratch or from ``init`` and return the run
    as a bundle: weights, the config that rebuilds the model, params (recipe, corpus, sizes,
    device, the corpus manifest), per-epoch history, final metrics with ``train_seconds``
    (simulation excluded; ``val_annotations_*`` on annotated validation wells), the
    ``OVERLAY_ARTIFACT`` preview and the ``MANIFEST_ARTIFACT``."""
    model_name = MODEL_NAMES[kind]
    config = train_config(profile, kind=kind, **dict(overrides or {}))
    train_samples, val_samples, ann_val, entries, mixing = corpus_samples(
        corpus=corpus, corpus_root=corpus_root, sampling=sampling, seed=config.seed, workers=workers,
        annotations=annotations, layout=layout)
    manifest = corpus_manifest(model_name=model_name, simulated=corpus, init=init, annotations=entries, mixing=mixing)
    start = time.perf_counter()
    model, history = train_segmenter(config, train_samples=train_samples, val_samples=[*val_samples, *ann_val],
                                     log_fn=log_fn, init=init)
    seconds = time.perf_counter() - start
    final = {k: float(v) for k, v in history[-1].items()}
    final["train_seconds"] = seconds
    if ann_val:
        _, summary = evaluate(model, ann_val, profile=config.profile, batch_size=config.eval_batch_size,
                              n_resamples=200)
        final.update({k: v for k, v in flat_metrics({"overall": summary["overall"]}, prefix="val_annotations_").items()
                      if math.isfinite(v)})
    n_sim = len(split_by_chip(corpus_chips(corpus))[0])
    return TrainingBundle(
        model_name=model_name, state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
        config=registry_config(config),
        params={"train": config.model_dump(mode="json"), "corpus": corpus.model_dump(mode="json"),
                "sampling": sampling.model_dump(mode="json"),
                "n_chips": corpus.n_chips, "n_train_chips": n_sim, "n_val_chips": corpus.n_chips - n_sim,
                "n_well_frames": len(train_samples) + len(val_samples) + len(ann_val),
                "n_train_well_frames": len(train_samples), "n_val_well_frames": len(val_samples) + len(ann_val),
                "init": "scratch" if init is None else init.describe(),
                "corpus_manifest": manifest_params(manifest),
                "train_device": device_description(next(model.parameters()).device)},
        metrics=final, history=history,
        artifacts={OVERLAY_ARTIFACT: validation_overlay(model, config.profile, [*val_samples, *ann_val]),
                   MANIFEST_ARTIFACT: json.dumps(manifest, indent=1).encode()},
        run_name=f"{model_name}-{config.profile.name}-{corpus.n_chips}chips"
                 f"{'-finetuned' if init is not None else ''}{'+annotations' if entries else ''}")


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
    finetune.add_arguments(p)
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

    tune = finetune.from_args(args, model_name=MODEL_NAMES[args.kind])
    bundle = train_bundle(kind=args.kind, corpus=SEGMENTATION_CORPUS.replace(n_chips=args.n_chips),
                          corpus_root=args.corpus_root, profile=args.profile, overrides=overrides, log_fn=log,
                          workers=args.workers, init=tune.init, annotations=tune.annotations, layout=tune.layout)
    write_bundle(args.out, bundle)
    print(f"wrote {args.out} ({bundle.params['train_device']}, {bundle.metrics['train_seconds']:.0f} s of "
          f"training, val_miou {bundle.metrics.get('val_miou', float('nan')):.4f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
