"""Train a classifier on a simulated corpus (labels from fluorescence) and register it in
MLflow (``train_and_register``; the ``celltype_classifier`` / ``apoptosis_classifier``
model assets and ``lftiming train`` call it)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from lftiming_ml.classification.config import ClassifierKind, ClassifierTask, train_config
from lftiming_ml.classification.data import label_error_rates, load_chip_tracks
from lftiming_ml.classification.engine import LogFn, cross_validate, registry_config, train_classifier
from lftiming_ml.classification.serving import MODEL_NAMES
from lftiming_ml.corpus import CorpusConfig, split_by_chip
from lftiming_ml.sim.corpus import simulate_corpus
from lftiming_ml.models.registry import ModelVersionInfo, training_run


def train_and_register(
    *, task: ClassifierTask, corpus: CorpusConfig, corpus_root: Path, tracking_uri: str,
    artifact_location: str | None, kind: ClassifierKind = "cnn_lstm", profile: str = "cpu", alias: str = "champion",
    overrides: Mapping[str, object] | None = None, log_fn: LogFn | None = None, cv_folds: int = 0,
) -> tuple[ModelVersionInfo, list[dict[str, float]], float]:
    """Simulate the corpus once (cached under ``corpus_root``), label its tracks from
    fluorescence, split by chip, train ``task`` / ``kind`` with the ``profile`` recipe
    (``overrides`` win), log the run (params, per-epoch history, validation metrics against
    the fluorescence labels, the label error rate against the simulator's truth), register
    a version of ``MODEL_NAMES[(task, kind)]`` and point ``alias`` at it. With ``cv_folds``
    >= 2, first a ``cv_folds``-fold cross-validation grouped by chip over all corpus chips
    (``engine.cross_validate``), logged as ``cv_fold<k>_val_*`` and ``cv_val_*_mean/_sd``.

    Returns the version, the per-epoch history and the training time (s, data excluded).
    """
    model_name = MODEL_NAMES[(task, kind)]
    config = train_config(profile, task=task, kind=kind, **dict(overrides or {}))  # type: ignore[arg-type]
    train_dirs, val_dirs = split_by_chip(simulate_corpus(corpus, corpus_root))
    train_tracks = [t for d in train_dirs for t in load_chip_tracks(d, profile=config.profile)]
    val_tracks = [t for d in val_dirs for t in load_chip_tracks(d, profile=config.profile)]
    label_errors = label_error_rates([*train_tracks, *val_tracks])
    params = {"train": config.model_dump(mode="json"), "corpus": corpus.model_dump(mode="json"),
              "n_chips": corpus.n_chips, "n_train_chips": len(train_dirs), "n_val_chips": len(val_dirs),
              "n_train_tracks": len(train_tracks), "n_val_tracks": len(val_tracks), "cv_folds": cv_folds}
    with training_run(tracking_uri=tracking_uri, experiment=model_name, model_name=model_name, params=params,
                      run_name=f"{model_name}-{config.profile.name}-{config.profile.backbone}-{corpus.n_chips}chips",
                      artifact_location=artifact_location) as run:
        cv: dict[str, float] = {}
        if cv_folds:
            folds = cross_validate(config, [*train_tracks, *val_tracks], n_folds=cv_folds)
            for row in folds:
                cv.update({f"cv_fold{int(row['fold'])}_{k}": v for k, v in row.items() if k.startswith("val_")})
            for key in ("val_accuracy", "val_auroc"):
                values = np.array([row[key] for row in folds], float)
                cv[f"cv_{key}_mean"], cv[f"cv_{key}_sd"] = float(np.nanmean(values)), float(np.nanstd(values))
        start = time.perf_counter()
        model, history = train_classifier(config, train_tracks=train_tracks, val_tracks=val_tracks,
                                          log_fn=run.epoch_logger(log_fn))
        seconds = time.perf_counter() - start
        final = {k: float(v) for k, v in history[-1].items()}
        final["train_seconds"] = seconds
        final.update({f"label_{k}": v for k, v in label_errors.items()})
        final.update(cv)
        info = run.finish(state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
                          config=registry_config(config), metrics=final, alias=alias)
    return info, history, seconds


__all__ = ["train_and_register"]
