"""Train the re-identification embedding into a training bundle, with neither MLflow nor
Dagster: for a GPU machine.

The ``reid_embedding`` asset (``lftiming train reid_embedding``) trains where MLflow is. A
lab with a GPU elsewhere trains there and registers the result here::

    # on the GPU machine (torch, torchvision, scipy, scikit-image, pandas, pyarrow, tifffile,
    # zarr and pydantic are all it needs)
    python -m lftiming_ml.reid.offline --profile paper --n-chips 12 --train-seconds 270 \
        --workers 14 --device cuda --corpus-root /tmp/corpus --out /tmp/reid-bundle
    # back where MLflow is
    lftiming register /tmp/reid-bundle

Training data: the classifiers' simulated corpus (``CLASSIFICATION_CORPUS``: truth tracks with amodal
masks, ``classification.data.load_chip_tracks`` cut at the profile's ``patch_size``), split by
chip (``corpus.split_by_chip``), plus the tracks of curated labels (an ``AnnotationCorpus``:
``classification.offline.annotated_corpus_tracks``; identities are the records' track ids),
whose wells are drawn with the stated share (``engine.well_draw_probabilities``). With a
segmenter (``--segmented-by BUNDLE``, the bundled recipe: the shipped LOCSNET) every true
track also carries the segmenter's masks of its cell (``segmented.attach_segmented_masks``),
which training views take for a share of them, and the validation chips are scored on both
kinds of masks (``val_segmented_*``). The run may start from ``init``'s weights; the bundle carries the
corpus manifest.
``train_bundle`` is also what ``training.train_and_register`` runs before it logs the bundle.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from lftiming_ml.classification.config import CLASSIFICATION_CORPUS, classifier_profile
from lftiming_ml.classification.data import load_chip_tracks
from lftiming_ml.classification.annotated import annotated_corpus_tracks
from lftiming_ml.corpus import AnnotationCorpus, CorpusConfig, split_by_chip
from lftiming_ml.sim.corpus import simulate_corpus
from lftiming_ml.models import finetune
from lftiming_ml.models.bundle import TrainingBundle, write_bundle
from lftiming_ml.models.init import InitWeights
from lftiming_ml.models.manifest import MANIFEST_ARTIFACT, corpus_manifest, manifest_params
from lftiming_ml.models.training import device_description
from lftiming_ml.reid.config import MODEL_NAME, PROFILES, registry_config, reid_profile
from lftiming_ml.reid.engine import LogFn, train_reid, verification_accuracy, wells_of
from lftiming_ml.reid.segmented import SegmentMasks, attach_segmented_masks, segmented_view

if TYPE_CHECKING:  # the annotations code (and the store's duckdb) loads only when a run selects annotations
    from lftiming_ml.store.layout import DataLayout


def train_bundle(
    *, corpus: CorpusConfig, corpus_root: Path, profile: str = "cpu",
    overrides: Mapping[str, object] | None = None, log_fn: LogFn | None = None,
    workers: int = 1, device: str | torch.device | None = "auto", init: InitWeights | None = None,
    annotations: AnnotationCorpus | None = None, layout: DataLayout | None = None,
    segment: SegmentMasks | None = None, segmenter: Mapping[str, object] | None = None,
) -> TrainingBundle:
    """Train the embedding on the classifiers' simulated corpus (simulated once, cached under
    ``corpus_root``, ``workers`` chips at a time; truth tracks, split by chip) and the tracks
    of ``annotations`` (from scratch or ``init``), score ``verification_accuracy`` on the
    validation chips (and ``val_annotations_*`` on annotated validation wells) and return
    the run as a training bundle (``models.bundle``; needs no MLflow): the final history row
    and the metrics carry the validation scores, ``train_seconds`` excludes the data.
    ``segment`` gives every track the segmenter's masks too (``segmented.attach_segmented_masks``;
    ``segmenter`` says which model that is, for the manifest)."""
    prof = reid_profile(profile, **dict(overrides or {}))
    cut = classifier_profile("cpu").model_copy(update={"frame_step": 1, "patch_size": prof.patch_size,
                                                       "phase_gain": prof.phase_gain})
    ann, entries = annotated_corpus_tracks(annotations, layout, profile=cut)
    train_dirs, val_dirs = split_by_chip(simulate_corpus(corpus, corpus_root, workers=workers))
    train_tracks = [t for d in train_dirs for t in load_chip_tracks(d, profile=cut)]
    val_tracks = [t for d in val_dirs for t in load_chip_tracks(d, profile=cut)]
    seg_val, matched = [], np.zeros(2, int)
    if segment:
        for d in [*train_dirs, *val_dirs]:
            matched += attach_segmented_masks(d, train_tracks if d in train_dirs else val_tracks, segment)
        seg_val = [segmented_view(t) for t in val_tracks]
    share = annotations.share if annotations else None
    mixing = {"unit": "wells with two or more tracks", "simulated_available": len(wells_of(train_tracks)),
              "annotated_available": len(wells_of(ann["train"])), "share_requested": share}
    if segment:
        mixing["segmented_by"] = dict(segmenter or {"model": "unnamed"})
        mixing["segmented_frames_matched"] = [int(matched[0]), int(matched[1])]
        mixing["segmented_view_share"] = prof.segmented_mask_share
    manifest = corpus_manifest(model_name=MODEL_NAME, simulated=corpus, init=init, annotations=entries, mixing=mixing)
    start = time.perf_counter()
    net, history = train_reid(prof, [*train_tracks, *ann["train"]], device=device, log_fn=log_fn, init=init,
                              annotation_share=share)
    seconds = time.perf_counter() - start
    dev = next(net.parameters()).device
    metrics = {f"val_{k}": v for k, v in verification_accuracy(net, val_tracks, device=dev).items()}
    metrics.update({f"val_effector_{k}": v for k, v in verification_accuracy(
        net, [t for t in val_tracks if t.true_type == "effector"], device=dev).items()})
    if seg_val:
        metrics.update({f"val_segmented_{k}": v for k, v in verification_accuracy(net, seg_val, device=dev).items()})
        metrics.update({f"val_segmented_effector_{k}": v for k, v in verification_accuracy(
            net, [t for t in seg_val if t.true_type == "effector"], device=dev).items()})
    if ann["validation"]:
        metrics.update({f"val_annotations_{k}": v for k, v in verification_accuracy(
            net, ann["validation"], same_type_only=False, device=dev).items()})
    history[-1].update(metrics)  # the final row carries the validation scores, as the classifiers' epochs do
    metrics.update(train_seconds=seconds, train_steps=history[-1]["step"], final_loss=history[-1]["loss"])
    return TrainingBundle(
        model_name=MODEL_NAME, state_dict={k: v.detach().cpu() for k, v in net.state_dict().items()},
        config=registry_config(prof),
        params={"profile": prof.model_dump(mode="json"), "corpus": corpus.model_dump(mode="json"),
                "n_train_chips": len(train_dirs), "n_val_chips": len(val_dirs), "n_train_tracks": len(train_tracks),
                "n_val_tracks": len(val_tracks), "n_annotated_train_tracks": len(ann["train"]),
                "segmented_frames_matched": int(matched[0]),
                "init": "scratch" if init is None else init.describe(), "corpus_manifest": manifest_params(manifest),
                "train_device": device_description(dev)},
        metrics=metrics, history=history, artifacts={MANIFEST_ARTIFACT: json.dumps(manifest, indent=1).encode()},
        run_name=f"{MODEL_NAME}-{prof.name}-{corpus.n_chips}chips"
                 f"{'-finetuned' if init is not None else ''}{'+annotations' if entries else ''}"
                 f"{'+segmented' if segment else ''}")


def segment_masks_from_bundle(bundle_dir: Path) -> tuple[SegmentMasks, dict[str, object]]:
    """A segmenter's bundle folder (read with ``models.bundle.read_bundle``; a bundled model's
    card checksums are checked first, ``models.card.verify_card``, when it has one) as
    ``SegmentMasks``, and what names it in the manifest (folder, model, sha256 of its weights
    file)."""
    import hashlib

    from lftiming_ml.models.bundle import read_bundle
    from lftiming_ml.models.card import CARD_JSON, verify_card
    from lftiming_ml.segmentation.serving import build_segment_fn

    bundle_dir = Path(bundle_dir)
    if (bundle_dir / CARD_JSON).is_file():
        verify_card(bundle_dir)
    bundle = read_bundle(bundle_dir)
    fn = build_segment_fn(bundle.state_dict, bundle.config)
    weights = sorted(bundle_dir.glob("*.pt")) + sorted(bundle_dir.glob("*.safetensors"))
    identity = {"bundle": str(bundle_dir), "model": bundle.model_name,
                "weights_sha256": {w.name: hashlib.sha256(w.read_bytes()).hexdigest() for w in weights}}
    return (lambda crops: [i.masks for i in fn(crops)]), identity


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lftiming_ml.reid.offline",
                                description="Train the re-identification embedding on simulated chips into a bundle "
                                            "folder (register it with `lftiming register <bundle>`).")
    p.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    p.add_argument("--n-chips", type=int, default=CLASSIFICATION_CORPUS.n_chips,
                   help="simulated corpus chips (the last fifth, rounded up, validates)")
    p.add_argument("--train-seconds", type=float, default=None, help="override the profile's training budget")
    p.add_argument("--workers", type=int, default=1, help="chips simulated at a time")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--corpus-root", type=Path, required=True, help="where corpus chips are simulated (reused if there)")
    p.add_argument("--out", type=Path, required=True, help="bundle folder to write (must not exist)")
    p.add_argument("--segmented-by", type=Path, default=None, metavar="BUNDLE",
                   help="a segmenter's bundle folder (e.g. models/locsnet): train on its masks of the same cells too")
    finetune.add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.out.exists():
        sys.exit(f"{args.out}: exists; choose a new bundle folder")
    overrides = {} if args.train_seconds is None else {"train_seconds": args.train_seconds}

    def log(step: int, row: dict[str, float]) -> None:
        if step % 500 == 0:
            print(json.dumps({k: round(v, 4) for k, v in row.items()}), flush=True)

    tune = finetune.from_args(args, model_name=MODEL_NAME)
    segment, segmenter = segment_masks_from_bundle(args.segmented_by) if args.segmented_by else (None, None)
    bundle = train_bundle(corpus=CLASSIFICATION_CORPUS.replace(n_chips=args.n_chips), corpus_root=args.corpus_root,
                          profile=args.profile, overrides=overrides, log_fn=log, workers=args.workers,
                          device=args.device, init=tune.init, annotations=tune.annotations, layout=tune.layout,
                          segment=segment, segmenter=segmenter)
    write_bundle(args.out, bundle)
    m = bundle.metrics
    print(f"wrote {args.out} ({bundle.params['train_device']}, {m['train_seconds']:.0f} s, {m['train_steps']:.0f} steps, "
          f"val_effector_verification {m.get('val_effector_verification', float('nan')):.4f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
