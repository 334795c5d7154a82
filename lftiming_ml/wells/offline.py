"""Train the well detector into a training bundle, with neither MLflow nor Dagster.

``train_bundle`` simulates the corpus (cached), splits it by chip, adds the fields of a
lab's chips that carry grid labels (``annotations``, ``wells.annotated``), trains from
scratch or from ``init`` and validates, and returns the run as a
``models.bundle.TrainingBundle`` with its corpus manifest; ``training.train_and_register``
logs exactly that bundle to MLflow, and the bundled model in ``models/`` is one too.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lftiming_ml.corpus import AnnotationCorpus, CorpusConfig, mix_parts, split_by_chip
from lftiming_ml.models.bundle import TrainingBundle
from lftiming_ml.models.init import InitWeights
from lftiming_ml.models.manifest import MANIFEST_ARTIFACT, corpus_manifest, manifest_params
from lftiming_ml.models.training import device_description
from lftiming_ml.sim.corpus import simulate_corpus
from lftiming_ml.wells.dataset import FieldSample, load_field_samples
from lftiming_ml.wells.detector import registry_config
from lftiming_ml.wells.detector_config import MODEL_NAME, DetectorTrainConfig
from lftiming_ml.wells.engine import LogFn, evaluate, train_detector

if TYPE_CHECKING:  # the store loads only when a run selects annotations
    from lftiming_ml.store.layout import DataLayout


def annotated_samples(annotations: AnnotationCorpus | None, layout: DataLayout | None,
                      train: DetectorTrainConfig) -> tuple[dict[str, list[FieldSample]], list[dict]]:
    """Samples of every selection's grid labels by side, and each selection's manifest entry
    (``ResolvedSelection.describe`` plus its ``fields`` and ``samples``). ValueError naming
    a selection that holds no grid label the provenance filter keeps."""
    out: dict[str, list[FieldSample]] = {"train": [], "validation": []}
    entries: list[dict] = []
    selections = annotations.selections if annotations else ()
    if not selections:
        return out, entries
    if layout is None:
        raise ValueError("annotation selections need the data folder (layout) that holds their annotations")
    from lftiming_ml.annotations.selection import resolve_selection
    from lftiming_ml.wells.annotated import annotated_field_samples

    for r in [resolve_selection(layout, s) for s in selections]:
        frames = train.frames if r.selection.split == "train" else train.val_frames
        samples = annotated_field_samples(r, frames)
        if not samples:
            raise ValueError(f"annotation selection {r.chip.chip_id}@{r.version[:12]}: no field with a well-grid label "
                             f"of {list(r.selection.provenances) or 'any provenance'} (lftiming label-wells first)")
        out[r.selection.split] += samples
        entries.append({**r.describe(), "fields": len({s.field_id for s in samples}), "samples": len(samples)})
    return out, entries


def train_bundle(*, train: DetectorTrainConfig, data: CorpusConfig, cache_dir: Path, log_fn: LogFn | None = None,
                 workers: int = 1, init: InitWeights | None = None, annotations: AnnotationCorpus | None = None,
                 layout: DataLayout | None = None) -> TrainingBundle:
    """Simulate (once, cached under ``cache_dir``, ``workers`` chips at a time) the corpus
    ``data`` (``WELL_DETECTOR_CORPUS`` or a variant), split it by chip, mix in the grid
    labels of ``annotations`` (``annotations.share`` of the samples), train with ``train``
    from scratch or ``init`` and validate (``val_annotations_*``: on the annotated
    validation fields alone). Metrics carry ``train_seconds`` (simulation excluded)."""
    labelled, entries = annotated_samples(annotations, layout, train)  # refuse a bad selection before simulating
    train_dirs, val_dirs = split_by_chip(simulate_corpus(data, cache_dir, workers=workers))
    simulated = [s for d in train_dirs for s in load_field_samples(d, train.frames)]
    val = [s for d in val_dirs for s in load_field_samples(d, train.val_frames)]
    mixed, mixing = mix_parts(simulated, labelled["train"], annotations.share if annotations else None, seed=train.seed)
    manifest = corpus_manifest(model_name=MODEL_NAME, simulated=data, init=init, annotations=entries, mixing=mixing)
    start = time.perf_counter()
    model, history = train_detector(train, train_samples=mixed, val_samples=[*val, *labelled["validation"]],
                                    log_fn=log_fn, init=init)
    seconds = time.perf_counter() - start
    final = {k: float(v) for k, v in history[-1].items()}
    final["train_seconds"] = seconds
    if labelled["validation"]:
        scores = evaluate(model, labelled["validation"], profile=train.profile, iou_thresh=train.iou_match)
        final.update({f"val_annotations_{k}": float(v) for k, v in scores.items()})
    return TrainingBundle(
        model_name=MODEL_NAME, state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
        config=registry_config(train),
        params={"train": train.model_dump(mode="json"), "data": data.model_dump(mode="json"),
                "n_train_chips": len(train_dirs), "n_val_chips": len(val_dirs),
                "n_train_samples": len(mixed), "init": "scratch" if init is None else init.describe(),
                "corpus_manifest": manifest_params(manifest),
                "train_device": device_description(next(model.parameters()).device)},
        metrics=final, history=history, artifacts={MANIFEST_ARTIFACT: json.dumps(manifest, indent=1).encode()},
        run_name=f"{MODEL_NAME}-{train.profile.name}{'-finetuned' if init is not None else ''}"
                 f"{'+annotations' if entries else ''}")


__all__ = ["annotated_samples", "train_bundle"]
