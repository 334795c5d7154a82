"""Model storage shared by every trained model: MLflow logging, registry and loading (``registry``)."""

from lftiming_ml.models.registry import (
    ModelNotRegisteredError,
    ModelVersionInfo,
    UnsafeWeightsError,
    load_by_alias,
    log_and_register,
    resolve_alias,
)

__all__ = [
    "ModelNotRegisteredError",
    "ModelVersionInfo",
    "UnsafeWeightsError",
    "load_by_alias",
    "log_and_register",
    "resolve_alias",
]
