"""Train a classifier on a simulated corpus (labels from fluorescence) and register it in
MLflow (``train_and_register``; the ``celltype_classifier`` / ``apoptosis_classifier``
model assets and ``lftiming train`` call it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lftiming_ml.classification.config import ClassifierKind, ClassifierTask
from lftiming_ml.classification.engine import LogFn
from lftiming_ml.classification.offline import train_bundle
from lftiming_ml.corpus import CorpusConfig
from lftiming_ml.models.registry import ModelVersionInfo, register_bundle


def train_and_register(
    *, task: ClassifierTask, corpus: CorpusConfig, corpus_root: Path, tracking_uri: str,
    artifact_location: str | None, kind: ClassifierKind = "cnn_lstm", profile: str = "cpu", alias: str = "champion",
    overrides: Mapping[str, object] | None = None, log_fn: LogFn | None = None, cv_folds: int = 0,
) -> tuple[ModelVersionInfo, list[dict[str, float]], float]:
    """``offline.train_bundle``, then log the run to MLflow, register a version of
    ``MODEL_NAMES[(task, kind)]`` and point ``alias`` at it. Returns the version, the
    per-epoch history and the training time (s, data excluded)."""
    bundle = train_bundle(task=task, corpus=corpus, corpus_root=corpus_root, kind=kind, profile=profile,
                          overrides=overrides, log_fn=log_fn, cv_folds=cv_folds)
    info = register_bundle(bundle, tracking_uri=tracking_uri, alias=alias, artifact_location=artifact_location)
    return info, bundle.history, bundle.metrics["train_seconds"]


__all__ = ["train_and_register"]
