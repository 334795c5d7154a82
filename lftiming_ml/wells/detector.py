"""The well detector: a torchvision Faster R-CNN that finds nanowell interiors and says
whether each is occupied, plus its input preparation and post-processing.

Classes: 0 background, 1 empty well, 2 occupied well. Boxes the library hands out are
``(y0, x0, y1, x1)`` in *field* px of the full-resolution image (pixel (i, j) has its centre
at (i, j), the ground-truth convention); inside the network they are torchvision's
``(x0, y0, x1, y1)`` in *model* px of the resampled input. ``field_to_model_boxes`` and
``model_to_field_boxes`` are the only places that convert between the two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import boxes as box_ops

from lftiming_ml.wells.detector_config import DetectorProfile, DetectorTrainConfig

EMPTY, OCCUPIED = 1, 2
CLASS_NAMES = ("background", "empty_well", "occupied_well")


@dataclass(frozen=True)
class WellDetections:
    """Wells found in one field, best score first.

    boxes (float[n, 4], (y0, x0, y1, x1) in field px of the full-resolution image),
    scores (float[n], 1 - P(background)), occupied_prob (float[n], P(occupied | well)).
    """

    boxes: np.ndarray
    scores: np.ndarray
    occupied_prob: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def centres(self) -> np.ndarray:
        """float[n, 2], (y, x) box centres in field px."""
        return np.stack([(self.boxes[:, 0] + self.boxes[:, 2]) / 2, (self.boxes[:, 1] + self.boxes[:, 3]) / 2], 1)

    @classmethod
    def empty(cls) -> WellDetections:
        return cls(np.zeros((0, 4), np.float64), np.zeros(0, np.float64), np.zeros(0, np.float64))


# --- model -------------------------------------------------------------------------------

class _PreparedInputTransform(GeneralizedRCNNTransform):
    """torchvision's detection transform minus resizing: inputs come from ``prepare_field``
    already at model scale and normalised, so boxes come back in the same model px."""

    def resize(self, image: torch.Tensor, target: dict[str, torch.Tensor] | None = None):
        return image, target


def build_well_detector(*, profile: DetectorProfile) -> FasterRCNN:
    """A randomly initialised Faster R-CNN for ``profile`` (``weights=None``: never downloads).

    The network expects ``prepare_field`` output (``float[1, h, w]`` made ``float[3, h, w]`` by
    ``to_network_input``): at model scale and normalised; its transform only pads to a
    multiple of 32, so ``model(images)`` boxes are in the input's model px.
    """
    n_levels = len(profile.returned_layers) + 1  # + the FPN max-pool level
    if len(profile.anchor_sizes) != n_levels:
        raise ValueError(f"profile {profile.name!r}: {len(profile.anchor_sizes)} anchor sizes for {n_levels} FPN levels")
    norm_layer = nn.BatchNorm2d if profile.norm == "batch" else partial(nn.GroupNorm, 32)
    trunk = resnet.__dict__[profile.backbone](weights=None, norm_layer=norm_layer)
    stage_channels = {1: 64, 2: 128, 3: 256, 4: 512}
    expansion = 4 if profile.backbone == "resnet50" else 1
    backbone = BackboneWithFPN(
        trunk,
        return_layers={f"layer{k}": str(i) for i, k in enumerate(profile.returned_layers)},
        in_channels_list=[stage_channels[k] * expansion for k in profile.returned_layers],
        out_channels=profile.fpn_channels,
    )
    anchors = AnchorGenerator(tuple((s,) for s in profile.anchor_sizes), (profile.aspect_ratios,) * n_levels)
    pool_size = 7
    box_head = TwoMLPHead(profile.fpn_channels * pool_size**2, profile.box_head_dim)
    model = FasterRCNN(
        backbone,
        num_classes=None,
        image_mean=[0.0, 0.0, 0.0],
        image_std=[1.0, 1.0, 1.0],
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=profile.rpn_pre_nms_top_n_train,
        rpn_post_nms_top_n_train=profile.rpn_post_nms_top_n_train,
        rpn_pre_nms_top_n_test=profile.rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_test=profile.rpn_post_nms_top_n_test,
        rpn_batch_size_per_image=profile.rpn_batch_size_per_image,
        box_head=box_head,
        box_predictor=FastRCNNPredictor(profile.box_head_dim, len(CLASS_NAMES)),
        box_batch_size_per_image=profile.box_batch_size_per_image,
        box_detections_per_img=profile.max_detections,
    )
    model.transform = _PreparedInputTransform(1, 1, [0.0, 0.0, 0.0], [1.0, 1.0, 1.0])  # min/max size unused
    return model


# --- input and coordinates ---------------------------------------------------------------

def model_shape(field_shape: tuple[int, int], input_scale: float) -> tuple[int, int]:
    """(h, w) of the network input for a field of ``field_shape`` (H, W) px."""
    return max(1, round(field_shape[0] * input_scale)), max(1, round(field_shape[1] * input_scale))


def field_to_model_boxes(boxes: np.ndarray | torch.Tensor, scale_yx: tuple[float, float]) -> torch.Tensor:
    """``boxes (float[n, 4], (y0, x0, y1, x1) field px)`` -> ``float32[n, 4], (x0, y0, x1, y1)`` model px.

    Pixel centres sit at integers in both frames, so a point p maps to (p + 0.5) * s - 0.5
    (exact for area resampling by s).
    """
    b = torch.as_tensor(np.asarray(boxes, np.float64) if not torch.is_tensor(boxes) else boxes, dtype=torch.float64)
    s = torch.tensor([scale_yx[0], scale_yx[1], scale_yx[0], scale_yx[1]], dtype=torch.float64)
    return ((b.reshape(-1, 4) + 0.5) * s - 0.5)[:, [1, 0, 3, 2]].float()


def model_to_field_boxes(boxes: np.ndarray | torch.Tensor, scale_yx: tuple[float, float]) -> np.ndarray:
    """Inverse of ``field_to_model_boxes``: ``(x0, y0, x1, y1)`` model px -> ``float64[n, 4], (y0, x0, y1, x1)`` field px."""
    b = boxes.detach().cpu().double().numpy() if torch.is_tensor(boxes) else np.asarray(boxes, np.float64)
    b = b.reshape(-1, 4)[:, [1, 0, 3, 2]]
    s = np.array([scale_yx[0], scale_yx[1], scale_yx[0], scale_yx[1]])
    return (b + 0.5) / s - 0.5


def normalise_phase(image: np.ndarray, profile: DetectorProfile) -> torch.Tensor:
    """``image (uint16|float[H, W])`` -> ``float32[H, W]``: percentiles to 0 and 1, clipped."""
    img = np.asarray(image, np.float32)
    lo, hi = np.percentile(img, profile.intensity_percentiles)
    out = (img - float(lo)) / max(float(hi - lo), 1e-6)
    return torch.from_numpy(np.clip(out, *profile.intensity_clip).astype(np.float32))


def field_scale(profile: DetectorProfile, pixel_size_um: float | None = None) -> float:
    """Model px per field px: ``input_scale``, times pixel / ``um_per_px`` for a chip whose
    pixel is not the one the detector learned on (None: that one)."""
    return profile.input_scale * (pixel_size_um / profile.um_per_px if pixel_size_um else 1.0)


def prepare_field(image: np.ndarray, profile: DetectorProfile,
                  pixel_size_um: float | None = None) -> tuple[torch.Tensor, tuple[float, float]]:
    """One phase frame -> network input ``float32[1, h, w]`` at model scale (``field_scale``),
    and the scale (sy, sx).

    Area resampling (antialiased bilinear), so the coordinate map of ``field_to_model_boxes``
    holds. Channels are replicated to 3 by ``to_network_input`` (after augmentation).
    """
    if image.ndim != 2:
        raise ValueError(f"expected one phase frame (H, W), got shape {image.shape}")
    x = normalise_phase(image, profile)[None]
    h, w = model_shape(image.shape, field_scale(profile, pixel_size_um))
    if (h, w) != tuple(image.shape):
        x = F.interpolate(x[None], size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0]
    return x.contiguous(), (h / image.shape[0], w / image.shape[1])


def to_network_input(x: torch.Tensor) -> torch.Tensor:
    """``float[1, h, w]`` -> ``float[3, h, w]`` (phase replicated to the trunk's 3 channels)."""
    return x.expand(3, -1, -1)


# --- post-processing ---------------------------------------------------------------------

def wells_from_class_scores(
    class_logits: torch.Tensor,
    boxes_per_class: torch.Tensor,
    *,
    score_thresh: float,
    nms_iou: float,
    max_detections: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Class-agnostic well post-processing of one image's ROI-head output.

    ``class_logits (float[n, 3])``, ``boxes_per_class (float[n, 3, 4], (x0, y0, x1, y1))`` ->
    kept ``boxes (float[k, 4])`` (probability-weighted mean of the empty and occupied
    regressions), ``scores (float[k])`` = 1 - P(background) and ``occupied_prob (float[k])`` =
    P(occupied) / (P(empty) + P(occupied)), after score threshold and NMS, best first.
    """
    p = F.softmax(class_logits, dim=-1)
    fg = p[:, EMPTY] + p[:, OCCUPIED]
    w = p[:, 1:] / fg.clamp_min(1e-12)[:, None]
    boxes = (boxes_per_class[:, 1:] * w[..., None]).sum(1)
    occ = w[:, 1]
    keep = torch.where(fg > score_thresh)[0]
    boxes, fg, occ = boxes[keep], fg[keep], occ[keep]
    keep = box_ops.remove_small_boxes(boxes, 1e-2)
    boxes, fg, occ = boxes[keep], fg[keep], occ[keep]
    keep = box_ops.nms(boxes, fg, nms_iou)[:max_detections]
    return boxes[keep], fg[keep], occ[keep]


@torch.no_grad()
def predict_model_boxes(
    model: FasterRCNN, inputs: Sequence[torch.Tensor], *, profile: DetectorProfile
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Run the network on prepared inputs (``float[1|3, h, w]`` each, on the model's device).

    Returns per image ``(boxes float[k, 4] (x0, y0, x1, y1) model px, scores float[k],
    occupied_prob float[k])``. Bypasses the model's resizing transform.
    """
    was_training = model.training
    model.eval()
    try:
        images = [to_network_input(x) if x.shape[0] == 1 else x for x in inputs]
        sizes = [tuple(x.shape[-2:]) for x in images]
        batch = ImageList(model.transform.batch_images(images, size_divisible=model.transform.size_divisible), sizes)
        features = model.backbone(batch.tensors)
        proposals, _ = model.rpn(batch, features)
        heads = model.roi_heads
        feats = heads.box_head(heads.box_roi_pool(features, proposals, batch.image_sizes))
        class_logits, box_regression = heads.box_predictor(feats)
        decoded = heads.box_coder.decode(box_regression, proposals)  # [N, 3, 4]
        out = []
        for logits, boxes, size in zip(class_logits.split([len(p) for p in proposals]),
                                       decoded.split([len(p) for p in proposals]), sizes):
            boxes = box_ops.clip_boxes_to_image(boxes, size)
            out.append(wells_from_class_scores(logits, boxes, score_thresh=profile.score_thresh,
                                               nms_iou=profile.nms_iou, max_detections=profile.max_detections))
        return out
    finally:
        model.train(was_training)


def detect_wells_batch(
    model: FasterRCNN, images: Sequence[np.ndarray], *, profile: DetectorProfile,
    device: torch.device | str | None = None, batch_size: int = 4, pixel_size_um: float | None = None,
) -> list[WellDetections]:
    """Detect wells in several phase frames (``uint16[H, W]`` each, e.g. frame 0 of every field)
    of a chip whose camera pixel is ``pixel_size_um`` (None: the detector's ``um_per_px``).

    ``device`` None uses the model's device; returns one ``WellDetections`` per image, boxes
    in that image's field px. A field with no well above ``profile.score_thresh`` gives empty
    arrays (callers decide whether that is an error).
    """
    dev = next(model.parameters()).device if device is None else torch.device(device)
    model.to(dev)
    results: list[WellDetections] = []
    for start in range(0, len(images), batch_size):
        fields = [np.asarray(im) for im in images[start:start + batch_size]]
        chunk = [prepare_field(im, profile, pixel_size_um) for im in fields]
        preds = predict_model_boxes(model, [x.to(dev) for x, _ in chunk], profile=profile)
        for im, (_, scale), (boxes, scores, occ) in zip(fields, chunk, preds):
            h, w = im.shape
            results.append(WellDetections(
                boxes=np.clip(model_to_field_boxes(boxes, scale), -0.5, [h - 0.5, w - 0.5, h - 0.5, w - 0.5]),
                scores=scores.detach().cpu().double().numpy(),
                occupied_prob=occ.detach().cpu().double().numpy(),
            ))
    return results


def detect_wells(
    model: FasterRCNN, image: np.ndarray, *, profile: DetectorProfile, device: torch.device | str | None = None
) -> WellDetections:
    """Wells in one phase frame ``image (uint16[H, W])``; boxes ``(y0, x0, y1, x1)`` in its field px."""
    return detect_wells_batch(model, [image], profile=profile, device=device)[0]


def registry_config(config: DetectorTrainConfig) -> dict[str, object]:
    """What ``log_and_register`` stores as ``config.json``: enough to rebuild the model."""
    return {"model": "well_detector", "profile": config.profile.model_dump(mode="json"),
            "train": config.model_dump(mode="json", exclude={"profile"})}


def detector_from_registry(state_dict: Mapping[str, torch.Tensor], config: Mapping[str, object]
                           ) -> tuple[FasterRCNN, DetectorProfile]:
    """Rebuild a registered detector (``load_by_alias`` output) in eval mode on the CPU."""
    profile = DetectorProfile.model_validate(config["profile"])
    model = build_well_detector(profile=profile)
    model.load_state_dict(dict(state_dict))
    return model.eval(), profile
