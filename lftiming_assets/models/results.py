"""The materialization metadata every model asset reports (one shape for all models)."""

import math
from collections.abc import Mapping

import dagster as dg

from lftiming_ml.models.registry import ModelVersionInfo


def registered_model_result(info: ModelVersionInfo, history: list[Mapping[str, float]], seconds: float,
                            **extra: object) -> dg.MaterializeResult:
    """Name, version, alias, MLflow run, epochs run, training time and the last epoch's
    finite ``val_*`` metrics of a trained and registered model, plus ``extra`` (profile, ...)."""
    last = history[-1] if history else {}
    return dg.MaterializeResult(metadata={
        "model": info.name, "version": info.version, "alias": info.alias, "mlflow_run_id": info.run_id,
        "epochs_run": len(history), "train_seconds": round(seconds, 1), **extra,
        **{k: float(v) for k, v in last.items() if k.startswith("val_") and math.isfinite(float(v))},
    })
