"""Train a segmenter on the simulated corpus and register it in MLflow (``train_and_register``;
the ``locsnet`` / ``mask_rcnn_baseline`` model assets and ``lftiming train`` call it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lftiming_ml.corpus import CorpusConfig
from lftiming_ml.models.registry import ModelVersionInfo, training_run
from lftiming_ml.segmentation.config import MODEL_NAMES, CorpusSampling, SegmenterKind
from lftiming_ml.segmentation.engine import LogFn
from lftiming_ml.segmentation.offline import train_bundle


def train_and_register(
    *, kind: SegmenterKind, corpus: CorpusConfig, corpus_root: Path, tracking_uri: str,
    artifact_location: str | None, profile: str = "cpu", alias: str = "champion",
    overrides: Mapping[str, object] | None = None, log_fn: LogFn | None = None,
    sampling: CorpusSampling = CorpusSampling(),
) -> tuple[ModelVersionInfo, list[dict[str, float]], float]:
    """``offline.train_bundle`` (simulate the corpus, split by chip, train ``kind`` with the
    ``profile`` recipe) inside an MLflow run opened first (each epoch's losses and validation
    mIoU logged as the epoch ends), then the rest (params incl. corpus size, final metrics,
    the ``OVERLAY_ARTIFACT`` preview), register a version of ``MODEL_NAMES[kind]`` and point
    ``alias`` at it.

    Returns the version, the per-epoch history and the training time (s, simulation excluded).
    """
    name = MODEL_NAMES[kind]
    with training_run(tracking_uri=tracking_uri, experiment=name, model_name=name,
                      run_name=f"{name}-{profile}-{corpus.n_chips}chips", artifact_location=artifact_location) as run:
        bundle = train_bundle(kind=kind, corpus=corpus, corpus_root=corpus_root, profile=profile, overrides=overrides,
                              log_fn=run.epoch_logger(log_fn), sampling=sampling)
        info = run.finish(state_dict=bundle.state_dict, config=bundle.config, params=bundle.params,
                          metrics=bundle.metrics, artifacts=bundle.artifacts, alias=alias, run_name=bundle.run_name)
    return info, bundle.history, bundle.metrics["train_seconds"]


__all__ = ["train_and_register"]
