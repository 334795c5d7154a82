"""Train a classifier into a training bundle (``models.bundle``), with neither MLflow nor
Dagster: what ``training.train_and_register`` logs, and what a GPU machine can run alone.

Data: the classifiers' simulated corpus (``data.load_chip_tracks``: truth tracks, labels
from fluorescence), split by chip, plus the curated labels of an ``AnnotationCorpus``
(``annotated.annotated_tracks``) mixed into the training tracks in its stated share
(``corpus.mix_parts``, over the tracks that carry the task's label) or validated on apart
(``val_annotations_*``). The run may start from ``init``'s weights (``models.init``). The
bundle carries the corpus manifest (``models.manifest``) as params and as an artifact.

An apoptosis classifier's death threshold is then calibrated (``calibrate_death_threshold``,
``ClassifierTrainConfig.calibrate_death_threshold``) on the labelled tracks of the scope it
is meant for: the curated labels' validation tracks, else their training tracks (a lab's
own chips, which a fine-tune is for), else the simulated validation chips; the registered
config carries the chosen value, the params the recipe and the set it was chosen on
(``death_threshold_calibrated_on``). ``val_annotations_*`` are scored at the chosen
threshold (optimistic when that set chose it); the per-epoch ``val_*`` at the recipe's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lftiming_ml.classification.annotated import annotated_corpus_tracks
from lftiming_ml.classification.config import ClassifierKind, ClassifierTask, ClassifierTrainConfig, train_config
from lftiming_ml.classification.data import label_error_rates, load_chip_tracks
from lftiming_ml.classification.engine import (LogFn, cross_validate, predict_tracks, registry_config,
                                               score_predictions, train_classifier, trainable_tracks)
from lftiming_ml.classification.model import CellSequenceClassifier
from lftiming_ml.classification.postprocess import choose_death_threshold, death_threshold_accuracy
from lftiming_ml.classification.sequences import TrackSequence
from lftiming_ml.classification.serving import MODEL_NAMES
from lftiming_ml.corpus import AnnotationCorpus, CorpusConfig, mix_parts, split_by_chip
from lftiming_ml.models.bundle import TrainingBundle
from lftiming_ml.models.init import InitWeights
from lftiming_ml.models.manifest import MANIFEST_ARTIFACT, corpus_manifest, manifest_params
from lftiming_ml.models.training import device_description
from lftiming_ml.sim.corpus import simulate_corpus

if TYPE_CHECKING:  # the annotations code (and the store's duckdb) loads only when a run selects annotations
    from lftiming_ml.store.layout import DataLayout


def calibration_tracks(config: ClassifierTrainConfig, sets: Mapping[str, Sequence[TrackSequence]]
                       ) -> tuple[str, list[TrackSequence]] | None:
    """The first of ``sets`` (name -> tracks, in the order tried) whose apoptosis-labelled
    tracks include at least ``config.calibration_min_tracks`` that die and as many that do
    not, as (name, those tracks); None when no set has both."""
    for name, tracks in sets.items():
        labelled = trainable_tracks(tracks, "apoptosis")
        dying = sum(bool(np.asarray(t.apoptotic).any()) for t in labelled)
        if min(dying, len(labelled) - dying) >= config.calibration_min_tracks:
            return name, labelled
    return None


def calibrate_death_threshold(model: CellSequenceClassifier, config: ClassifierTrainConfig,
                              sets: Mapping[str, Sequence[TrackSequence]]
                              ) -> tuple[ClassifierTrainConfig, dict[str, float], str]:
    """Choose the apoptosis classifier's death threshold on labelled tracks of the scope it
    is meant for: ``calibration_tracks(config, sets)``, then the value of
    ``config.death_threshold_grid`` whose death calls are right on the most labelled frames
    (``postprocess.death_threshold_accuracy``; ties go to the recipe's ``death_threshold``).
    Returns the config with that threshold, the metrics (``death_threshold``, frame accuracy
    at it and at the recipe's value, the tracks used) and the name of the set used ("none"
    and the recipe's config when no set qualifies)."""
    found = calibration_tracks(config, sets)
    if found is None:
        return config, {}, "none"
    name, tracks = found
    preds = predict_tracks(model, tracks, task="apoptosis", threshold=config.death_threshold,
                           batch_frames=config.eval_batch_frames)
    mono, labels = [p.p_monotone for p in preds], [t.apoptotic for t in tracks]
    grid = config.death_threshold_grid
    accuracy = death_threshold_accuracy(mono, labels, grid)
    chosen = choose_death_threshold(accuracy, grid, config.death_threshold)
    metrics = {"death_threshold": chosen, "calibration_frame_accuracy": float(accuracy.max()),
               "calibration_frame_accuracy_uncalibrated": float(
                   death_threshold_accuracy(mono, labels, [config.death_threshold])[0]),
               "calibration_tracks": float(len(tracks))}
    return config.model_copy(update={"death_threshold": chosen}), metrics, name


def train_bundle(
    *, task: ClassifierTask, corpus: CorpusConfig, corpus_root: Path, kind: ClassifierKind = "cnn_lstm",
    profile: str = "cpu", overrides: Mapping[str, object] | None = None, log_fn: LogFn | None = None,
    cv_folds: int = 0, init: InitWeights | None = None, annotations: AnnotationCorpus | None = None,
    layout: DataLayout | None = None, workers: int = 1,
) -> TrainingBundle:
    """Simulate the corpus once (cached under ``corpus_root``), label its tracks from
    fluorescence, split by chip, add the annotated tracks, train ``task`` / ``kind`` with
    the ``profile`` recipe (``overrides`` win) from scratch or ``init``, and return the run:
    params, per-epoch history, validation metrics against the labels, the label error rate
    against the simulator's truth, the manifest. With ``cv_folds`` >= 2, first a
    ``cv_folds``-fold cross-validation grouped by chip over all simulated corpus chips
    (``engine.cross_validate``), as ``cv_fold<k>_val_*`` and ``cv_val_*_mean/_sd``."""
    model_name = MODEL_NAMES[(task, kind)]
    config = train_config(profile, task=task, kind=kind, **dict(overrides or {}))  # type: ignore[arg-type]
    ann, entries = annotated_corpus_tracks(annotations, layout, profile=config.profile)
    train_dirs, val_dirs = split_by_chip(simulate_corpus(corpus, corpus_root, workers=workers))
    train_tracks = [t for d in train_dirs for t in load_chip_tracks(d, profile=config.profile)]
    val_tracks = [t for d in val_dirs for t in load_chip_tracks(d, profile=config.profile)]
    label_errors = label_error_rates([*train_tracks, *val_tracks])
    cv: dict[str, float] = {}
    if cv_folds:
        folds = cross_validate(config, [*train_tracks, *val_tracks], n_folds=cv_folds, init=init)
        for row in folds:
            cv.update({f"cv_fold{int(row['fold'])}_{k}": v for k, v in row.items() if k.startswith("val_")})
        for key in ("val_accuracy", "val_auroc"):
            values = np.array([row[key] for row in folds], float)
            cv[f"cv_{key}_mean"], cv[f"cv_{key}_sd"] = float(np.nanmean(values)), float(np.nanstd(values))
    mixed, mixing = mix_parts(trainable_tracks(train_tracks, task), trainable_tracks(ann["train"], task),
                              annotations.share if annotations else None, seed=config.seed)
    manifest = corpus_manifest(model_name=model_name, simulated=corpus, init=init, annotations=entries, mixing=mixing)
    start = time.perf_counter()
    model, history = train_classifier(config, train_tracks=mixed, val_tracks=val_tracks, log_fn=log_fn, init=init)
    seconds = time.perf_counter() - start
    final = {k: float(v) for k, v in history[-1].items()}
    final["train_seconds"] = seconds
    final.update({f"label_{k}": v for k, v in label_errors.items()})
    final.update(cv)
    recipe, calibration_params = config, {}
    if task == "apoptosis":
        calibrated_on = "not calibrated (calibrate_death_threshold false)"
        if config.calibrate_death_threshold:
            config, calibration, calibrated_on = calibrate_death_threshold(
                model, config, {"annotations-validation": ann["validation"], "annotations-train": ann["train"],
                                "simulated-validation": val_tracks})
            final.update(calibration)
        calibration_params = {"death_threshold_calibrated_on": calibrated_on}
    ann_val = trainable_tracks(ann["validation"], task)
    if ann_val:
        preds = predict_tracks(model, ann_val, task=task, threshold=config.death_threshold,
                               batch_frames=config.eval_batch_frames)
        final.update({f"val_annotations_{k}": v for k, v in score_predictions(ann_val, preds, task=task).items()})
    return TrainingBundle(
        model_name=model_name, state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
        config=registry_config(config),
        params={"train": recipe.model_dump(mode="json"), **calibration_params, "corpus": corpus.model_dump(mode="json"),
                "n_chips": corpus.n_chips, "n_train_chips": len(train_dirs), "n_val_chips": len(val_dirs),
                "n_train_tracks": len(train_tracks), "n_val_tracks": len(val_tracks), "cv_folds": cv_folds,
                "init": "scratch" if init is None else init.describe(), "corpus_manifest": manifest_params(manifest),
                "train_device": device_description(next(model.parameters()).device)},
        metrics={k: v for k, v in final.items() if np.isfinite(v)}, history=history,
        artifacts={MANIFEST_ARTIFACT: json.dumps(manifest, indent=1).encode()},
        run_name=f"{model_name}-{config.profile.name}-{config.profile.backbone}-{corpus.n_chips}chips"
                 f"{'-finetuned' if init is not None else ''}{'+annotations' if entries else ''}")


__all__ = ["calibrate_death_threshold", "calibration_tracks", "train_bundle"]
