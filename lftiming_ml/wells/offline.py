"""Train the well detector into a training bundle, with neither MLflow nor Dagster.

``train_bundle`` simulates the corpus (cached), splits it by chip, trains and validates,
and returns the run as a ``models.bundle.TrainingBundle``; ``training.train_and_register``
logs exactly that bundle to MLflow, and the bundled model in ``models/`` is one too.
"""

from __future__ import annotations

import time
from pathlib import Path

from lftiming_ml.corpus import CorpusConfig, split_by_chip
from lftiming_ml.models.bundle import TrainingBundle
from lftiming_ml.models.training import device_description
from lftiming_ml.sim.corpus import simulate_corpus
from lftiming_ml.wells.detector import registry_config
from lftiming_ml.wells.detector_config import MODEL_NAME, DetectorTrainConfig
from lftiming_ml.wells.engine import LogFn, train_detector


def train_bundle(*, train: DetectorTrainConfig, data: CorpusConfig, cache_dir: Path, log_fn: LogFn | None = None,
                 workers: int = 1) -> TrainingBundle:
    """Simulate (once, cached under ``cache_dir``, ``workers`` chips at a time) the corpus
    ``data`` (``WELL_DETECTOR_CORPUS`` or a variant), split it by chip, train with ``train``
    and validate. Metrics carry ``train_seconds`` (simulation excluded)."""
    train_dirs, val_dirs = split_by_chip(simulate_corpus(data, cache_dir, workers=workers))
    start = time.perf_counter()
    model, history = train_detector(train, train_dirs=train_dirs, val_dirs=val_dirs, log_fn=log_fn)
    seconds = time.perf_counter() - start
    final = {k: float(v) for k, v in history[-1].items()}
    final["train_seconds"] = seconds
    return TrainingBundle(
        model_name=MODEL_NAME, state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
        config=registry_config(train),
        params={"train": train.model_dump(mode="json"), "data": data.model_dump(mode="json"),
                "n_train_chips": len(train_dirs), "n_val_chips": len(val_dirs),
                "train_device": device_description(next(model.parameters()).device)},
        metrics=final, history=history, run_name=f"{MODEL_NAME}-{train.profile.name}")


__all__ = ["train_bundle"]
