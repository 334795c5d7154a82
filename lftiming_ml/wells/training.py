"""Train the well detector on the simulated corpus and register it in MLflow
(``train_and_register``; the ``well_detector`` model asset and ``lftiming train`` call it)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lftiming_ml.corpus import AnnotationCorpus, CorpusConfig
from lftiming_ml.models.init import resolve_init
from lftiming_ml.models.registry import ModelVersionInfo, train_live
from lftiming_ml.wells.detector_config import MODEL_NAME, DetectorTrainConfig
from lftiming_ml.wells.engine import LogFn
from lftiming_ml.wells.offline import train_bundle

if TYPE_CHECKING:
    from lftiming_ml.store.layout import DataLayout


def train_and_register(*, cache_dir: Path, tracking_uri: str, artifact_location: str | None,
                       train: DetectorTrainConfig, data: CorpusConfig, alias: str = "champion",
                       log_fn: LogFn | None = None, init: str | None = None,
                       annotations: AnnotationCorpus | None = None, layout: DataLayout | None = None,
                       ) -> tuple[ModelVersionInfo, list[dict[str, float]], float]:
    """``offline.train_bundle`` (from scratch, or fine-tuned from the weights ``init`` names:
    ``champion``, a version, a bundle folder; with the grid labels of ``annotations`` in
    ``layout``), then log the run to MLflow, register a version and point ``alias`` at it.
    Returns the version, the per-epoch history and the training time (s, simulation excluded)."""
    start = resolve_init(init, model_name=MODEL_NAME, tracking_uri=tracking_uri) if init else None
    info, bundle = train_live(lambda log: train_bundle(train=train, data=data, cache_dir=cache_dir, log_fn=log,
                                                       init=start, annotations=annotations, layout=layout),
                              tracking_uri=tracking_uri, model_name=MODEL_NAME, alias=alias,
                              artifact_location=artifact_location, log_fn=log_fn)
    return info, bundle.history, bundle.metrics["train_seconds"]


__all__ = ["train_and_register"]
