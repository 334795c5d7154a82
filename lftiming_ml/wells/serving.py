"""The registered well detector: train-and-register, and load-by-alias for inference."""

from __future__ import annotations

import time
from pathlib import Path

from lftiming_ml.corpus import CorpusConfig, simulate_corpus, split_by_chip
from lftiming_ml.models.training import pick_device
from lftiming_ml.models.registry import ModelVersionInfo, load_by_alias, log_and_register
from lftiming_ml.wells.detector import detect_wells_batch
from lftiming_ml.wells.detector_config import DetectorTrainConfig
from lftiming_ml.wells.engine import LogFn, detector_from_registry, registry_config, train_detector
from lftiming_ml.wells.grid import DetectFn

MODEL_NAME = "well_detector"


def train_and_register(*, cache_dir: Path, tracking_uri: str, artifact_location: str | None,
                       train: DetectorTrainConfig, data: CorpusConfig, alias: str = "champion",
                       log_fn: LogFn | None = None) -> tuple[ModelVersionInfo, list[dict[str, float]], float]:
    """Simulate (once, cached under ``cache_dir``) the corpus ``data`` (``WELL_DETECTOR_CORPUS``
    or a variant), split it by chip (``corpus.split_by_chip``), train, validate, log the run
    to MLflow, register a version and point ``alias`` at it.

    Returns the version, the per-epoch history and the training time (s, simulation excluded).
    """
    train_dirs, val_dirs = split_by_chip(simulate_corpus(data, cache_dir))
    start = time.perf_counter()
    model, history = train_detector(train, train_dirs=train_dirs, val_dirs=val_dirs, log_fn=log_fn)
    seconds = time.perf_counter() - start
    final = {k: float(v) for k, v in history[-1].items()}
    final["train_seconds"] = seconds
    info = log_and_register(
        tracking_uri=tracking_uri, experiment=MODEL_NAME, model_name=MODEL_NAME,
        state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
        config=registry_config(train),
        params={"train": train.model_dump(mode="json"), "data": data.model_dump(mode="json"),
                "n_train_chips": len(train_dirs), "n_val_chips": len(val_dirs)},
        metrics=final, history=history, alias=alias, artifact_location=artifact_location,
        run_name=f"{MODEL_NAME}-{train.profile.name}")
    return info, history, seconds


def load_detector(*, tracking_uri: str, alias: str = "champion") -> tuple[DetectFn, ModelVersionInfo]:
    """The detector ``alias`` points at, as a function of reference frames -> detections."""
    state_dict, config, info = load_by_alias(tracking_uri=tracking_uri, model_name=MODEL_NAME, alias=alias)
    model, profile = detector_from_registry(state_dict, config)
    device = pick_device()
    model.to(device)

    def detect(frames: list) -> list:
        return detect_wells_batch(model, frames, profile=profile, device=device)

    return detect, info
