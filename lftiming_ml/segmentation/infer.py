"""Inference: a batch of well crops -> amodal instances per crop (``segment_crops``).

Crops are phase images ``uint16[H, W]`` at the canonical 0.65 um/px, any size near the
profile's ``crop_size`` (e.g. the 96 px per-well movie crops). Each crop is normalised on
its own (``prepare_crop``), resampled by ``profile.input_scale``, and the model runs on
``batch_size`` crops at a time; instances come back in the crop's own px. Instances may
overlap (amodal masks), so they are kept per instance, never flattened into a label image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models.detection import MaskRCNN

from lftiming_ml.segmentation.config import SegmenterProfile
from lftiming_ml.segmentation.model import set_compute_dtype
from lftiming_ml.segmentation.postprocess import filter_instances
from lftiming_ml.models.precision import inference_dtype
from lftiming_ml.models.training import pick_device


@dataclass(frozen=True)
class Instances:
    """Cells found in one crop, best score first.

    masks (bool[n, H, W], amodal, may overlap), scores (float32[n]),
    boxes (float32[n, 4], (y0, x0, y1, x1) continuous crop px, end exclusive).
    """

    masks: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> Instances:
        return cls(np.zeros((0, *shape), bool), np.zeros(0, np.float32), np.zeros((0, 4), np.float32))


def normalise_crop(crop: np.ndarray, profile: SegmenterProfile) -> torch.Tensor:
    """``crop (uint16|float[H, W])`` -> ``float32[H, W]``: per-crop percentiles to 0 and 1, clipped."""
    img = np.asarray(crop, np.float32)
    lo, hi = np.percentile(img, profile.intensity_percentiles)
    out = (img - float(lo)) / max(float(hi - lo), 1e-6)
    return torch.from_numpy(np.clip(out, *profile.intensity_clip).astype(np.float32))


def model_shape(crop_shape: tuple[int, int], input_scale: float) -> tuple[int, int]:
    """(h, w) of the network input for a crop of ``crop_shape`` px."""
    return max(1, round(crop_shape[0] * input_scale)), max(1, round(crop_shape[1] * input_scale))


def prepare_crop(crop: np.ndarray, profile: SegmenterProfile) -> torch.Tensor:
    """One crop -> normalised ``float32[1, h, w]`` at model scale (bilinear, antialiased).
    ``to_network_input`` makes it 3 channels (after any augmentation)."""
    if np.ndim(crop) != 2:
        raise ValueError(f"expected one phase crop (H, W), got shape {np.shape(crop)}")
    x = normalise_crop(crop, profile)[None]
    h, w = model_shape(x.shape[-2:], profile.input_scale)
    if (h, w) != tuple(x.shape[-2:]):
        x = F.interpolate(x[None], size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0]
    return x.contiguous()


def to_network_input(x: torch.Tensor) -> torch.Tensor:
    """``float[1, h, w]`` -> ``float[3, h, w]`` (phase replicated to the trunk's 3 channels)."""
    return x.expand(3, -1, -1)


@torch.inference_mode()
def segment_crops(model: MaskRCNN, crops: np.ndarray | Sequence[np.ndarray], *, profile: SegmenterProfile,
                  device: str | torch.device | None = None, batch_size: int = 32) -> list[Instances]:
    """Segment ``crops (uint16[B, H, W])`` (or a sequence of ``[H, W]`` crops, sizes may
    differ) -> one ``Instances`` per crop, in crop px.

    ``device`` None keeps the model where it is; ``'auto'`` picks cuda when available. The
    model is put in eval mode (and restored afterwards). Thresholds are the profile's
    ``score_thresh``, ``mask_thresh`` and ``min_area_px``; the network's convolutions run in
    ``inference_dtype(profile.precision, device)`` (``model.set_compute_dtype``).
    """
    dev = next(model.parameters()).device if device is None else pick_device(device)
    dtype = inference_dtype(profile.precision, dev)
    model.to(dev)
    was_training = model.training
    model.eval()
    # Detections under the profile's score_thresh are dropped below anyway: dropping them
    # before the mask head gives the same instances and spares their RoIAlign + mask head.
    box_thresh = model.roi_heads.score_thresh
    model.roi_heads.score_thresh = max(box_thresh, profile.score_thresh)
    conv_dtype = set_compute_dtype(model, dtype)
    try:
        out: list[Instances] = []
        for start in range(0, len(crops), batch_size):
            chunk = [np.asarray(c) for c in crops[start:start + batch_size]]
            inputs = [to_network_input(prepare_crop(c, profile)).to(dev) for c in chunk]
            for crop, x, det in zip(chunk, inputs, model(inputs)):
                scale = x.shape[-1] / crop.shape[-1]
                masks, scores, boxes = filter_instances(
                    det["boxes"], det["scores"], det["mask_probs"], image_shape=crop.shape, scale=scale,
                    score_thresh=profile.score_thresh, mask_thresh=profile.mask_thresh,
                    min_area_px=profile.min_area_px, max_containment=profile.max_containment)
                out.append(Instances(masks, scores, boxes))
        return out
    finally:
        model.roi_heads.score_thresh = box_thresh
        set_compute_dtype(model, conv_dtype)
        model.train(was_training)
