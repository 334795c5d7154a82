"""Train the re-identification embedding on the classifiers' simulated corpus and register it
in MLflow (``train_and_register``; the ``reid_embedding`` model asset and ``lftiming train``
call it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lftiming_ml.corpus import AnnotationCorpus, CorpusConfig
from lftiming_ml.models.init import resolve_init
from lftiming_ml.models.registry import ModelVersionInfo, train_live
from lftiming_ml.reid.config import MODEL_NAME
from lftiming_ml.reid.engine import LogFn
from lftiming_ml.reid.offline import train_bundle
from lftiming_ml.store.layout import DataLayout


def train_and_register(
    *, corpus: CorpusConfig, corpus_root: Path, tracking_uri: str, artifact_location: str | None,
    profile: str = "cpu", alias: str = "champion", overrides: Mapping[str, object] | None = None,
    log_fn: LogFn | None = None, init: str | None = None, annotations: AnnotationCorpus | None = None,
    layout: DataLayout | None = None,
) -> tuple[ModelVersionInfo, list[dict[str, float]], float]:
    """``offline.train_bundle`` (``init``: an alias, version or bundle folder to start from;
    ``annotations``: curated labels of ``layout``'s chips), then log the run and register a
    version of ``MODEL_NAME`` under ``alias``. Returns the version, the history and the
    training time (s, data excluded)."""
    start = resolve_init(init, model_name=MODEL_NAME, tracking_uri=tracking_uri) if init else None
    info, bundle = train_live(
        lambda log: train_bundle(corpus=corpus, corpus_root=corpus_root, profile=profile, overrides=overrides,
                                 log_fn=log, init=start, annotations=annotations, layout=layout),
        tracking_uri=tracking_uri, model_name=MODEL_NAME, alias=alias, artifact_location=artifact_location,
        log_fn=log_fn)
    return info, bundle.history, bundle.metrics["train_seconds"]


__all__ = ["train_and_register"]
