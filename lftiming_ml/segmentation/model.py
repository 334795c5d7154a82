"""LOCSNET and its Mask R-CNN baseline: one builder, ``build_segmenter``.

LOCSNET (paper section 2.2, Figure 2) is torchvision's Mask R-CNN with two more mask heads of
the same architecture as the whole-mask head: ``overlap`` (pixels a cell shares with another
cell) and ``complement`` (its non-shared part). Each is a stack of 3x3 conv + ReLU layers on
the RoIAligned features ``f^ROI``; the outputs of their *third* conv layer are added to
``f^ROI`` and the sum ``f^added`` is what the whole-mask head sees:

    f^added = f^ROI + h_o^(3)(f^ROI) + h_c^(3)(f^ROI)
    whole logits = predictor_w(h_w(f^added)); overlap logits = predictor_o(h_o(f^ROI)); ...

So the mask-head width equals the FPN width (the addition needs equal channels). The
baseline (``kind='mask_rcnn'``) is the same network without the two extra heads
(``f^added = f^ROI``), so both share every other layer, the loss code and post-processing.
At inference only the whole mask is output; the extra heads run only up to their third
layer (what the fusion needs). Training returns the loss terms ``loss_objectness``,
``loss_rpn_box_reg``, ``loss_classifier``, ``loss_box_reg``, ``loss_mask`` (whole) and, for
LOCSNET, ``loss_overlap`` and ``loss_complement`` (``losses.composite_loss`` weighs them).

Inputs are prepared crops (``infer.prepare_crop``: normalised, at model scale, 3 channels);
the transform only pads to a multiple of 32, so boxes come back in input px. Eval-mode
output per image: ``boxes (float[n, 4], (x0, y0, x1, y1) continuous model px)``, ``labels``,
``scores`` and ``mask_probs (float[n, M, M])`` in each box's ROI frame (paste with
``postprocess.paste_masks``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import torch
from torch import nn
from torchvision.models import resnet
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.roi_heads import RoIHeads, fastrcnn_loss
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import MultiScaleRoIAlign

from lftiming_ml.models.pooling import fast_max_pools
from lftiming_ml.segmentation.config import SegmenterKind, SegmenterProfile, SegmenterTrainConfig
from lftiming_ml.segmentation.losses import head_mask_loss, overlap_complement_targets

FUSION_LAYER = 3  # the paper fuses the extra heads' third-conv-layer features


def _in_dtype(forward, dtype: torch.dtype, x: torch.Tensor, **kwargs) -> Mapping[str, torch.Tensor]:
    """``forward(x, **kwargs)`` (a dict of tensors) under ``dtype`` autocast when it is not
    float32; the outputs come back in float32 and contiguous (channels-last feature maps, from
    channels-last weights, make torchvision's CPU RoIAlign slow)."""
    if dtype == torch.float32:
        out = forward(x, **kwargs)
    else:
        with torch.autocast(x.device.type, dtype=dtype):
            out = forward(x, **kwargs)
    return type(out)((k, v.float().contiguous()) for k, v in out.items())


class _Backbone(BackboneWithFPN):
    """ResNet trunk + FPN whose convolutions run in ``compute_dtype`` (``set_compute_dtype``);
    feature maps come back in float32."""

    compute_dtype = torch.float32

    def forward(self, x: torch.Tensor) -> Mapping[str, torch.Tensor]:
        return _in_dtype(super().forward, self.compute_dtype, x)


def _run_layers(head: nn.Sequential, x: torch.Tensor, start: int, stop: int | None = None) -> torch.Tensor:
    """Apply ``head``'s layers ``start:stop`` (``MaskRCNNHeads`` cannot be sliced)."""
    for layer in list(head)[start:stop]:
        x = layer(x)
    return x


class FusedMaskHeads(nn.Module):
    """Whole-mask head, optionally with overlap and complement heads fused into it (LOCSNET).

    ``forward(roi_features float[R, C, S, S]) -> {'whole': float[R, K, 2S, 2S], and with
    aux=True for LOCSNET 'overlap', 'complement'}`` (mask logits per class K), computed in
    ``compute_dtype`` (``set_compute_dtype``), returned in float32.
    """

    compute_dtype = torch.float32

    def __init__(self, channels: int, n_layers: int, num_classes: int, *, fused: bool) -> None:
        super().__init__()
        if n_layers < FUSION_LAYER:
            raise ValueError(f"mask heads need >= {FUSION_LAYER} layers to fuse the third, got {n_layers}")
        self.fused = fused
        head = partial(MaskRCNNHeads, channels, [channels] * n_layers, 1)
        predictor = partial(MaskRCNNPredictor, channels, channels, num_classes)
        self.whole, self.whole_predictor = head(), predictor()
        if fused:
            self.overlap, self.overlap_predictor = head(), predictor()
            self.complement, self.complement_predictor = head(), predictor()

    def forward(self, roi_features: torch.Tensor, *, aux: bool = False) -> dict[str, torch.Tensor]:
        return _in_dtype(self._forward, self.compute_dtype, roi_features, aux=aux)

    def _forward(self, roi_features: torch.Tensor, *, aux: bool) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        fused = roi_features
        if self.fused:
            o3 = _run_layers(self.overlap, roi_features, 0, FUSION_LAYER)
            c3 = _run_layers(self.complement, roi_features, 0, FUSION_LAYER)
            fused = roi_features + o3 + c3
            if aux:
                out["overlap"] = self.overlap_predictor(_run_layers(self.overlap, o3, FUSION_LAYER))
                out["complement"] = self.complement_predictor(_run_layers(self.complement, c3, FUSION_LAYER))
        out["whole"] = self.whole_predictor(self.whole(fused))
        return out


class SegmentationRoIHeads(RoIHeads):
    """torchvision's ROI heads (box branch unchanged) with ``FusedMaskHeads`` as mask branch."""

    def __init__(self, base: RoIHeads, mask_roi_pool: MultiScaleRoIAlign, mask_heads: FusedMaskHeads) -> None:
        super().__init__(
            base.box_roi_pool, base.box_head, base.box_predictor,
            fg_iou_thresh=0.5, bg_iou_thresh=0.5,
            batch_size_per_image=base.fg_bg_sampler.batch_size_per_image,
            positive_fraction=base.fg_bg_sampler.positive_fraction,
            bbox_reg_weights=base.box_coder.weights, score_thresh=base.score_thresh,
            nms_thresh=base.nms_thresh, detections_per_img=base.detections_per_img,
        )
        self.proposal_matcher = base.proposal_matcher
        self.mask_roi_pool = mask_roi_pool
        self.mask_heads = mask_heads

    def forward(self, features, proposals, image_shapes, targets=None):  # noqa: D401 - torchvision signature
        if self.training:
            if targets is None:
                raise ValueError("targets are required in training mode")
            proposals, matched_idxs, labels, regression_targets = self.select_training_samples(proposals, targets)
        box_features = self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        class_logits, box_regression = self.box_predictor(box_features)
        if self.training:
            loss_classifier, loss_box_reg = fastrcnn_loss(class_logits, box_regression, labels, regression_targets)
            pos = [torch.where(lab > 0)[0] for lab in labels]
            mask_props = [p[i] for p, i in zip(proposals, pos)]
            pos_matched = [m[i] for m, i in zip(matched_idxs, pos)]
            logits = self.mask_heads(self.mask_roi_pool(features, mask_props, image_shapes), aux=True)
            gt_masks = [t["masks"] for t in targets]
            gt_labels = [t["labels"] for t in targets]
            losses = {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg,
                      "loss_mask": head_mask_loss(logits["whole"], mask_props, gt_masks, gt_labels, pos_matched)}
            if self.mask_heads.fused:
                parts = [overlap_complement_targets(m) for m in gt_masks]
                losses["loss_overlap"] = head_mask_loss(logits["overlap"], mask_props, [o for o, _ in parts],
                                                        gt_labels, pos_matched)
                losses["loss_complement"] = head_mask_loss(logits["complement"], mask_props, [c for _, c in parts],
                                                           gt_labels, pos_matched)
            return [], losses
        boxes, scores, labels = self.postprocess_detections(class_logits, box_regression, proposals, image_shapes)
        whole = self.mask_heads(self.mask_roi_pool(features, boxes, image_shapes))["whole"]
        flat_labels = torch.cat(labels)
        probs = whole[torch.arange(flat_labels.shape[0], device=whole.device), flat_labels].sigmoid()
        result = [{"boxes": b, "labels": lab, "scores": s, "mask_probs": p}
                  for b, lab, s, p in zip(boxes, labels, scores, probs.split([len(b) for b in boxes]))]
        return result, {}


class _PreparedInputTransform(GeneralizedRCNNTransform):
    """Detection transform minus resizing and normalisation: inputs come prepared at model
    scale, so boxes stay in input px. It only batches (pads to a multiple of 32)."""

    def resize(self, image, target=None):
        return image, target


def _backbone(profile: SegmenterProfile) -> BackboneWithFPN:
    norm_layer = nn.BatchNorm2d if profile.norm == "batch" else partial(nn.GroupNorm, 32)
    trunk = fast_max_pools(resnet.__dict__[profile.backbone](weights=None, norm_layer=norm_layer))
    stage_channels = {1: 64, 2: 128, 3: 256, 4: 512}
    expansion = 4 if profile.backbone == "resnet50" else 1
    return _Backbone(
        trunk,
        return_layers={f"layer{k}": str(i) for i, k in enumerate(profile.returned_layers)},
        in_channels_list=[stage_channels[k] * expansion for k in profile.returned_layers],
        out_channels=profile.fpn_channels,
    )


def set_compute_dtype(model: MaskRCNN, dtype: torch.dtype) -> torch.dtype:
    """Run the segmenter's convolutions (trunk + FPN, mask heads: nearly all its cost) in
    ``dtype`` autocast; the RPN, RoIAlign, box head and box decoding stay float32 (a trial with
    them in bfloat16 too lost 0.003 held-out mIoU; with these two parts only, mIoU did not move:
    benchmarks/inference_settings.py). Returns the dtype it replaced."""
    previous = model.backbone.compute_dtype
    model.backbone.compute_dtype = dtype
    model.roi_heads.mask_heads.compute_dtype = dtype
    return previous


def build_segmenter(*, kind: SegmenterKind, profile: SegmenterProfile, num_classes: int = 2) -> MaskRCNN:
    """A randomly initialised LOCSNET (``kind='locsnet'``) or Mask R-CNN (``'mask_rcnn'``).

    Built with ``weights=None``: nothing is downloaded. ``num_classes`` includes background.
    Load trained weights with ``model.load_state_dict(torch.load(path, weights_only=True))``.
    """
    if kind not in ("locsnet", "mask_rcnn"):
        raise ValueError(f"unknown segmenter kind {kind!r}; choose 'locsnet' or 'mask_rcnn'")
    n_levels = len(profile.returned_layers) + 1
    names = [str(i) for i in range(len(profile.returned_layers))]
    ch = profile.fpn_channels
    anchors = AnchorGenerator(tuple((s,) for s in profile.anchor_sizes), (profile.aspect_ratios,) * n_levels)
    mask_roi_pool = MultiScaleRoIAlign(names, profile.mask_roi_size, sampling_ratio=2)
    model = MaskRCNN(
        _backbone(profile),
        num_classes=None,
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=profile.rpn_pre_nms_top_n_train,
        rpn_post_nms_top_n_train=profile.rpn_post_nms_top_n_train,
        rpn_pre_nms_top_n_test=profile.rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_test=profile.rpn_post_nms_top_n_test,
        rpn_batch_size_per_image=profile.rpn_batch_size_per_image,
        box_roi_pool=MultiScaleRoIAlign(names, 7, sampling_ratio=2),
        box_head=TwoMLPHead(ch * 7 * 7, profile.box_head_dim),
        box_predictor=FastRCNNPredictor(profile.box_head_dim, num_classes),
        box_score_thresh=profile.box_score_thresh,
        box_nms_thresh=profile.box_nms_iou,
        box_detections_per_img=profile.max_detections,
        box_batch_size_per_image=profile.box_batch_size_per_image,
        mask_roi_pool=mask_roi_pool,
        mask_head=nn.Identity(),  # replaced below by the fused heads
        mask_predictor=nn.Identity(),
    )
    model.roi_heads = SegmentationRoIHeads(
        model.roi_heads, mask_roi_pool,
        FusedMaskHeads(ch, profile.mask_head_layers, num_classes, fused=kind == "locsnet"))
    model.transform = _PreparedInputTransform(1, 1, [0.0, 0.0, 0.0], [1.0, 1.0, 1.0])  # sizes unused
    return model
def registry_config(config: SegmenterTrainConfig) -> dict[str, object]:
    """What ``models.registry.log_and_register`` stores as ``config.json``: enough to rebuild the model."""
    return {"model": config.kind, "kind": config.kind, "num_classes": config.num_classes,
            "profile": config.profile.model_dump(mode="json"),
            "train": config.model_dump(mode="json", exclude={"profile"})}


def segmenter_from_registry(state_dict: Mapping[str, torch.Tensor], config: Mapping[str, object]
                            ) -> tuple[MaskRCNN, SegmenterProfile]:
    """Rebuild a saved/registered segmenter (``load_by_alias`` output) in eval mode on the CPU."""
    profile = SegmenterProfile.model_validate(config["profile"])
    model = build_segmenter(kind=config["kind"], profile=profile, num_classes=int(config.get("num_classes", 2)))
    model.load_state_dict(dict(state_dict))
    return model.eval(), profile


