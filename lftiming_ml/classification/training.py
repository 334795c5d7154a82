"""Train a classifier on a simulated corpus (labels from fluorescence), optionally from a
registered version or bundle and with curated labels, and register it in MLflow
(``train_and_register``; the ``celltype_classifier`` / ``apoptosis_classifier`` model assets
and ``lftiming train`` call it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lftiming_ml.classification.config import ClassifierKind, ClassifierTask
from lftiming_ml.classification.engine import LogFn
from lftiming_ml.classification.offline import train_bundle
from lftiming_ml.classification.serving import MODEL_NAMES
from lftiming_ml.corpus import AnnotationCorpus, CorpusConfig
from lftiming_ml.models.init import resolve_init
from lftiming_ml.models.registry import ModelVersionInfo, train_live
from lftiming_ml.store.layout import DataLayout


def train_and_register(
    *, task: ClassifierTask, corpus: CorpusConfig, corpus_root: Path, tracking_uri: str,
    artifact_location: str | None, kind: ClassifierKind = "cnn_lstm", profile: str = "cpu", alias: str = "champion",
    overrides: Mapping[str, object] | None = None, log_fn: LogFn | None = None, cv_folds: int = 0,
    init: str | None = None, annotations: AnnotationCorpus | None = None, layout: DataLayout | None = None,
) -> tuple[ModelVersionInfo, list[dict[str, float]], float]:
    """``offline.train_bundle`` (``init``: an alias, version or bundle folder to start from,
    ``models.init.resolve_init``; ``annotations``: curated labels of ``layout``'s chips),
    then log the run (params with the corpus manifest, per-epoch history, validation
    metrics, the label error rate, cross-validation when ``cv_folds`` >= 2), register a
    version of ``MODEL_NAMES[(task, kind)]`` and point ``alias`` at it.

    Returns the version, the per-epoch history and the training time (s, data excluded).
    """
    start = resolve_init(init, model_name=MODEL_NAMES[(task, kind)], tracking_uri=tracking_uri) if init else None
    info, bundle = train_live(
        lambda log: train_bundle(task=task, corpus=corpus, corpus_root=corpus_root, kind=kind, profile=profile,
                                 overrides=overrides, log_fn=log, cv_folds=cv_folds, init=start,
                                 annotations=annotations, layout=layout),
        tracking_uri=tracking_uri, model_name=MODEL_NAMES[(task, kind)], alias=alias,
        artifact_location=artifact_location, log_fn=log_fn)
    return info, bundle.history, bundle.metrics["train_seconds"]


__all__ = ["train_and_register"]
