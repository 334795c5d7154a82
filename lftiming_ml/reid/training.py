"""Train the re-identification embedding on the classifiers' simulated corpus and register it
in MLflow (``train_and_register``; the ``reid_embedding`` model asset and ``lftiming train``
call it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lftiming_ml.corpus import CorpusConfig
from lftiming_ml.models.registry import ModelVersionInfo, register_bundle
from lftiming_ml.reid.engine import LogFn
from lftiming_ml.reid.offline import train_bundle


def train_and_register(
    *, corpus: CorpusConfig, corpus_root: Path, tracking_uri: str, artifact_location: str | None,
    profile: str = "cpu", alias: str = "champion", overrides: Mapping[str, object] | None = None,
    log_fn: LogFn | None = None,
) -> tuple[ModelVersionInfo, list[dict[str, float]], float]:
    """``offline.train_bundle``, then log the run and register a version of ``MODEL_NAME``
    under ``alias``. Returns the version, the history and the training time (s, data excluded)."""
    bundle = train_bundle(corpus=corpus, corpus_root=corpus_root, profile=profile, overrides=overrides, log_fn=log_fn)
    info = register_bundle(bundle, tracking_uri=tracking_uri, alias=alias, artifact_location=artifact_location)
    return info, bundle.history, bundle.metrics["train_seconds"]


__all__ = ["train_and_register"]
