"""Train the re-identification embedding on the classifiers' simulated corpus and register it
in MLflow (``train_and_register``; the ``reid_embedding`` model asset and ``lftiming train``
call it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lftiming_ml.corpus import CorpusConfig
from lftiming_ml.models.registry import ModelVersionInfo, training_run
from lftiming_ml.reid.config import MODEL_NAME
from lftiming_ml.reid.engine import LogFn
from lftiming_ml.reid.offline import train_bundle


def train_and_register(
    *, corpus: CorpusConfig, corpus_root: Path, tracking_uri: str, artifact_location: str | None,
    profile: str = "cpu", alias: str = "champion", overrides: Mapping[str, object] | None = None,
    log_fn: LogFn | None = None,
) -> tuple[ModelVersionInfo, list[dict[str, float]], float]:
    """``offline.train_bundle`` inside an MLflow run opened first (history rows logged as they
    come), then register a version of ``MODEL_NAME`` under ``alias``. Returns the version, the
    history and the training time (s, data excluded)."""
    with training_run(tracking_uri=tracking_uri, experiment=MODEL_NAME, model_name=MODEL_NAME,
                      run_name=f"{MODEL_NAME}-{profile}-{corpus.n_chips}chips",
                      artifact_location=artifact_location) as run:
        bundle = train_bundle(corpus=corpus, corpus_root=corpus_root, profile=profile, overrides=overrides,
                              log_fn=run.epoch_logger(log_fn))
        info = run.finish(state_dict=bundle.state_dict, config=bundle.config, params=bundle.params,
                          metrics=bundle.metrics, artifacts=bundle.artifacts, alias=alias, run_name=bundle.run_name)
    return info, bundle.history, bundle.metrics["train_seconds"]


__all__ = ["train_and_register"]
