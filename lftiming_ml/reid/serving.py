"""The registered re-identification embedding at inference: load-by-alias (embedding the
tracker's detections is ``lftiming_ml.tracking.appearance``; training and registering a
version is ``training``)."""

from __future__ import annotations

from lftiming_ml.models.registry import ModelVersionInfo, load_by_alias
from lftiming_ml.reid.config import MODEL_NAME
from lftiming_ml.reid.model import ReidNet, reid_from_registry


def load_reid(*, tracking_uri: str, alias: str = "champion") -> tuple[ReidNet, ModelVersionInfo]:
    """The embedding ``alias`` points at (weights read with ``weights_only=True``)."""
    state_dict, config, info = load_by_alias(tracking_uri=tracking_uri, model_name=MODEL_NAME, alias=alias)
    return reid_from_registry(state_dict, config), info


__all__ = ["load_reid"]
