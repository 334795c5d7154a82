"""Train a segmenter on the simulated corpus and register it in MLflow (``train_and_register``;
the ``locsnet`` / ``mask_rcnn_baseline`` model assets and ``lftiming train`` call it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lftiming_ml.corpus import AnnotationCorpus, CorpusConfig
from lftiming_ml.models.init import resolve_init
from lftiming_ml.models.registry import ModelVersionInfo, train_live
from lftiming_ml.segmentation.config import MODEL_NAMES, CorpusSampling, SegmenterKind
from lftiming_ml.segmentation.engine import LogFn
from lftiming_ml.segmentation.offline import train_bundle
from lftiming_ml.store.layout import DataLayout


def train_and_register(
    *, kind: SegmenterKind, corpus: CorpusConfig, corpus_root: Path, tracking_uri: str,
    artifact_location: str | None, profile: str = "cpu", alias: str = "champion",
    overrides: Mapping[str, object] | None = None, log_fn: LogFn | None = None,
    sampling: CorpusSampling = CorpusSampling(), init: str | None = None,
    annotations: AnnotationCorpus | None = None, layout: DataLayout | None = None,
) -> tuple[ModelVersionInfo, list[dict[str, float]], float]:
    """``offline.train_bundle`` (simulate the corpus, split by chip, train ``kind`` with the
    ``profile`` recipe), then log the run to MLflow (params incl. corpus size, per-epoch
    history, validation mIoU overall and per stratum, the ``OVERLAY_ARTIFACT`` preview),
    register a version of ``MODEL_NAMES[kind]`` and point ``alias`` at it. Fine-tuning:
    ``init`` names the weights to start from (``models.init.resolve_init``: an alias such as
    ``champion``, a version, a bundle folder), ``annotations`` the curated labels of
    ``layout``'s chips to add; the run records the corpus manifest (``models.manifest``).

    Returns the version, the per-epoch history and the training time (s, simulation excluded).
    """
    start = resolve_init(init, model_name=MODEL_NAMES[kind], tracking_uri=tracking_uri) if init else None
    info, bundle = train_live(
        lambda log: train_bundle(kind=kind, corpus=corpus, corpus_root=corpus_root, profile=profile,
                                 overrides=overrides, log_fn=log, sampling=sampling, init=start,
                                 annotations=annotations, layout=layout),
        tracking_uri=tracking_uri, model_name=MODEL_NAMES[kind], alias=alias, artifact_location=artifact_location,
        log_fn=log_fn)
    return info, bundle.history, bundle.metrics["train_seconds"]


__all__ = ["train_and_register"]
