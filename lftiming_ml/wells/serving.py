"""The registered well detector at inference: load-by-alias (training and registering a
version is ``training``)."""

from __future__ import annotations

from lftiming_ml.models.registry import ModelVersionInfo, load_by_alias
from lftiming_ml.models.training import pick_device
from lftiming_ml.wells.detector import detect_wells_batch, detector_from_registry
from lftiming_ml.wells.detector_config import MODEL_NAME
from lftiming_ml.wells.grid import DetectFn

def load_detector(*, tracking_uri: str, alias: str = "champion") -> tuple[DetectFn, ModelVersionInfo]:
    """The detector ``alias`` points at, as a function of reference frames -> detections."""
    state_dict, config, info = load_by_alias(tracking_uri=tracking_uri, model_name=MODEL_NAME, alias=alias)
    model, profile = detector_from_registry(state_dict, config)
    device = pick_device()
    model.to(device)

    def detect(frames: list, pixel_size_um: float | None = None) -> list:
        return detect_wells_batch(model, frames, profile=profile, device=device, pixel_size_um=pixel_size_um)

    return detect, info
