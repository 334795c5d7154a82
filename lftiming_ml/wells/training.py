"""Train the well detector on the simulated corpus and register it in MLflow
(``train_and_register``; the ``well_detector`` model asset and ``lftiming train`` call it)."""

from __future__ import annotations

import time
from pathlib import Path

from lftiming_ml.corpus import CorpusConfig, split_by_chip
from lftiming_ml.sim.corpus import simulate_corpus
from lftiming_ml.models.registry import ModelVersionInfo, training_run
from lftiming_ml.wells.detector import registry_config
from lftiming_ml.wells.detector_config import MODEL_NAME, DetectorTrainConfig
from lftiming_ml.wells.engine import LogFn, train_detector


def train_and_register(*, cache_dir: Path, tracking_uri: str, artifact_location: str | None,
                       train: DetectorTrainConfig, data: CorpusConfig, alias: str = "champion",
                       log_fn: LogFn | None = None) -> tuple[ModelVersionInfo, list[dict[str, float]], float]:
    """Simulate (once, cached under ``cache_dir``) the corpus ``data`` (``WELL_DETECTOR_CORPUS``
    or a variant), split it by chip (``corpus.split_by_chip``), open the MLflow run, train and
    validate (each epoch logged as it ends), register a version and point ``alias`` at it.

    Returns the version, the per-epoch history and the training time (s, simulation excluded).
    """
    train_dirs, val_dirs = split_by_chip(simulate_corpus(data, cache_dir))
    params = {"train": train.model_dump(mode="json"), "data": data.model_dump(mode="json"),
              "n_train_chips": len(train_dirs), "n_val_chips": len(val_dirs)}
    with training_run(tracking_uri=tracking_uri, experiment=MODEL_NAME, model_name=MODEL_NAME, params=params,
                      run_name=f"{MODEL_NAME}-{train.profile.name}", artifact_location=artifact_location) as run:
        start = time.perf_counter()
        model, history = train_detector(train, train_dirs=train_dirs, val_dirs=val_dirs,
                                        log_fn=run.epoch_logger(log_fn))
        seconds = time.perf_counter() - start
        final = {k: float(v) for k, v in history[-1].items()}
        final["train_seconds"] = seconds
        info = run.finish(state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
                          config=registry_config(train), metrics=final, alias=alias)
    return info, history, seconds


__all__ = ["train_and_register"]
