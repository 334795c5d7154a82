"""LOCSNET / Mask R-CNN parameters: the model profile, the training recipe, the corpus and its sampling.

Sizes are px of the *well crop* (canonical 0.65 um/px, the simulator's and the well movies'
pixel) unless a name says ``model`` (px of the network input, = crop px x ``input_scale``).
Two named profiles: ``cpu`` (ResNet-18 FPN on 96 px crops with light RPN/ROI settings,
minutes on 2 cores, see ENVIRONMENT.md) and ``paper`` (ResNet-50 FPN with torchvision's
default RPN/ROI sizes on crops upsampled 2x, i.e. the paper's 0.325 um/px, for a GPU).
Same code, different numbers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lftiming_ml.corpus import CorpusConfig

SegmenterKind = Literal["locsnet", "mask_rcnn"]
SegmenterProfileName = Literal["cpu", "paper"]
TRAINING_SEED_START = 20_000  # simulated chips for segmentation training; seeds < 1000 are benchmarks'


MODEL_NAMES: dict[str, str] = {"locsnet": "locsnet", "mask_rcnn": "mask_rcnn_baseline"}
"""Registered MLflow model name of each segmenter kind."""
OVERLAY_ARTIFACT = "previews/validation_overlay.png"
"""The validation overlay a training run logs."""
INIT_INPUT_FIELDS = ("input_scale", "intensity_percentiles", "intensity_clip")
"""Profile fields a fine-tuning init must share with the run (``models.init.apply_init``):
they change what the network sees without changing any weight's shape."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SegmenterProfile(_Strict):
    """Architecture, input preparation and post-processing of the cell segmenter."""

    name: str = Field("cpu", description="Profile name, logged with the model.")
    backbone: Literal["resnet18", "resnet34", "resnet50"] = Field("resnet18", description="torchvision ResNet trunk, built with weights=None.")
    returned_layers: tuple[int, ...] = Field((1, 2, 3), description="ResNet stages fed to the FPN (1 = stride 4 ... 4 = stride 32); FPN adds a max-pool level on top. Cells are 11-20 crop px, so stride 4 matters.")
    fpn_channels: int = Field(64, ge=16, description="Channels of every FPN level; also the width of every mask-head conv (the fused addition needs equal widths). The three mask heads dominate LOCSNET's cost on CPU: 128 -> 64 takes a batch of 8 from ~3.5 to ~1 s on 2 cores.")
    norm: Literal["batch", "group"] = Field("batch", description="Trunk normalisation: trainable BatchNorm or GroupNorm(32) (frozen BN is meaningless without pretrained weights).")
    crop_size: int = Field(96, ge=32, description="Side of the square well crop (crop px) the model is trained on; inference accepts any size near it.")
    input_scale: float = Field(1.0, gt=0, le=4, description="Crops are resampled by this factor before the network (model px = crop px x input_scale).")
    anchor_sizes: tuple[int, ...] = Field((12, 18, 28, 44), description="One anchor size (model px) per FPN level, lowest stride first; len = len(returned_layers) + 1.")
    aspect_ratios: tuple[float, ...] = Field((0.75, 1.0, 1.33), description="Anchor aspect ratios (h/w); polarised effectors are elongated up to ~1.6.")
    intensity_percentiles: tuple[float, float] = Field((0.5, 99.5), description="Per-crop percentiles mapped to 0 and 1 before the network.")
    intensity_clip: tuple[float, float] = Field((-1.0, 2.0), description="Normalised intensities are clipped to this range (tames halos and debris).")
    rpn_pre_nms_top_n_train: int = Field(600, ge=1, description="RPN proposals kept before NMS, per level, in training.")
    rpn_post_nms_top_n_train: int = Field(300, ge=1, description="RPN proposals kept after NMS in training.")
    rpn_pre_nms_top_n_test: int = Field(100, ge=1, description="RPN proposals kept before NMS, per level, at inference (300 -> 100 left held-out mIoU unchanged and sped LOCSNET up; 50 lost 0.004 in >4-cell wells: benchmarks/inference_settings.py).")
    rpn_post_nms_top_n_test: int = Field(20, ge=1, description="RPN proposals kept after NMS at inference (a well holds <= ~10 cells and max_detections is 20; 100 -> 50 -> 20 left held-out mIoU unchanged and sped LOCSNET up, each proposal costing a RoIAlign and a box-head pass: benchmarks/inference_settings.py).")
    rpn_batch_size_per_image: int = Field(128, ge=1, description="Anchors sampled per image for the RPN loss.")
    box_batch_size_per_image: int = Field(64, ge=1, description="Proposals sampled per image for the ROI-head losses (a quarter positive: <= 16 mask ROIs per crop, enough for <= 8 cells).")
    box_head_dim: int = Field(256, ge=16, description="Width of the two-layer MLP box head (torchvision default 1024).")
    mask_roi_size: int = Field(14, ge=4, description="RoIAlign output side of the mask heads; mask logits are 2x this (28).")
    mask_head_layers: int = Field(4, ge=3, description="3x3 convs per mask head (torchvision: 4); the fusion taps the third, so >= 3.")
    box_score_thresh: float = Field(0.05, ge=0, le=1, description="torchvision's internal detection score floor (before ``score_thresh``).")
    box_nms_iou: float = Field(0.6, gt=0, le=1, description="Per-class box NMS IoU; amodal cells overlap, so looser than torchvision's 0.5.")
    max_detections: int = Field(20, ge=1, description="Most instances per crop.")
    score_thresh: float = Field(0.5, ge=0, le=1, description="Instances below this score are dropped by ``segment_crops``.")
    mask_thresh: float = Field(0.5, gt=0, lt=1, description="Pasted mask probability at or above which a pixel belongs to the instance.")
    min_area_px: int = Field(8, ge=0, description="Instances with fewer mask pixels (crop px) are dropped.")
    precision: Literal["auto", "float32", "bfloat16"] = Field("auto", description="Precision of the convolutions (trunk + FPN, mask heads) at inference (``segment_crops``; training is float32): ``bfloat16`` autocast, or ``auto`` = bfloat16 where the device computes it natively (CPUs with AMX or AVX512-BF16, CUDA GPUs with bf16) and float32 elsewhere. The rest stays float32 (``model.set_compute_dtype``); on 2 AMX cores bfloat16 left held-out mIoU unchanged and sped LOCSNET up, benchmarks/inference_settings.py.")
    max_containment: float = Field(0.6, gt=0, le=1, description="An instance sharing more than this share of the smaller area with a better-scoring one is a duplicate and dropped (1.0 = keep all). 0.6 removed 88% of the extra instances on the demo chip (1974 -> 229) for 16 more misses of 12039 cells.")

    @model_validator(mode="after")
    def _levels_match(self) -> SegmenterProfile:
        if len(self.anchor_sizes) != len(self.returned_layers) + 1:
            raise ValueError(f"{len(self.anchor_sizes)} anchor sizes for {len(self.returned_layers) + 1} FPN levels")
        return self


class SegmenterTrainConfig(_Strict):
    """The training recipe of ``train_segmenter``.

    Loss (paper Eq. 1 and 6, symbols reconstructed): ``L = L_rpn + L_cls + w_box L_box +
    w_mask L_mask`` with, for LOCSNET, ``L_mask = w_whole L_w + w_overlap L_o +
    w_complement L_c`` (Eqs. 2-5); the paper says its weights are "set by the training
    process" without values, we default all of them to 1 as torchvision does.
    """

    kind: SegmenterKind = Field("locsnet", description="'locsnet' (three fused mask heads) or 'mask_rcnn' (the baseline).")
    profile: SegmenterProfile = Field(default_factory=SegmenterProfile, description="Model profile to build and train.")
    num_classes: int = Field(2, ge=2, description="Including background; 2 = background + cell (cell types come from the classifier).")
    epochs: int = Field(3, ge=1, description="Passes over the training samples.")
    batch_size: int = Field(8, ge=1, description="Well crops per optimisation step.")
    lr: float = Field(1e-3, gt=0, description="Peak AdamW learning rate (cosine decay to lr_final_fraction x lr).")
    lr_final_fraction: float = Field(0.05, ge=0, le=1, description="Learning rate at the end, as a fraction of lr.")
    warmup_steps: int = Field(50, ge=0, description="Linear learning-rate warm-up steps.")
    weight_decay: float = Field(1e-4, ge=0, description="AdamW weight decay.")
    grad_clip_norm: float = Field(10.0, gt=0, description="Global gradient-norm clip.")
    w_box: float = Field(1.0, ge=0, description="Weight of the box-regression loss (alpha of Eq. 1).")
    w_mask: float = Field(1.0, ge=0, description="Weight of the mask loss (beta of Eq. 1 / Eq. 6).")
    w_whole: float = Field(1.0, ge=0, description="Weight of the whole-mask BCE inside L_mask.")
    w_overlap: float = Field(1.0, ge=0, description="Weight of the overlap-mask BCE inside L_mask (LOCSNET only).")
    w_complement: float = Field(1.0, ge=0, description="Weight of the complement-mask BCE inside L_mask (LOCSNET only).")
    augment: bool = Field(True, description="Random flips, 90-degree rotations, intensity gain/offset jitter and noise in training.")
    intensity_jitter: float = Field(0.15, ge=0, description="Sd of the random gain (log-scale) and offset applied to normalised crops.")
    noise_sd: float = Field(0.03, ge=0, description="Max sd of additive Gaussian noise on normalised crops.")
    time_budget_min: float | None = Field(None, gt=0, description="Stop after the step that exceeds this wall time (minutes); None = run all epochs.")
    lr_schedule: Literal["steps", "time"] = Field("steps", description="What the cosine decay runs over: 'steps' (epochs x steps per epoch) or 'time' (the wall clock of time_budget_min, so a run of any speed ends at the low rate; epochs is then only a ceiling). 'time' needs time_budget_min.")
    loader_workers: int = Field(0, ge=0, description="DataLoader worker processes preparing and augmenting crops (0: in the training process; a GPU wants a few).")
    eval_batch_size: int = Field(32, ge=1, description="Crops per forward pass in validation.")
    seed: int = Field(0, description="Seed of initialisation, sample order and augmentation.")
    num_threads: int = Field(2, ge=1, description="torch CPU threads (ignored on GPU).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="'auto' picks cuda when available.")

    @model_validator(mode="after")
    def _time_schedule_has_budget(self) -> SegmenterTrainConfig:
        if self.lr_schedule == "time" and self.time_budget_min is None:
            raise ValueError("lr_schedule 'time' needs time_budget_min")
        return self

    def loss_weights(self) -> dict[str, float]:
        """Weight of each loss term the model returns (keys of its loss dict)."""
        return {"loss_objectness": 1.0, "loss_rpn_box_reg": 1.0, "loss_classifier": 1.0,
                "loss_box_reg": self.w_box, "loss_mask": self.w_mask * self.w_whole,
                "loss_overlap": self.w_mask * self.w_overlap, "loss_complement": self.w_mask * self.w_complement}


SEGMENTATION_CORPUS = CorpusConfig(chip_id="seg-{preset}-s{seed}", n_chips=10, first_seed=TRAINING_SEED_START,
                                   seed_floor=TRAINING_SEED_START, n_fields=1, n_frames=12)
"""The segmenters' simulated chips (the ``locsnet`` asset's corpus; its size, ``n_chips``, is
what distinguishes LOCSNET v1/v2/v3 as in the paper)."""


class CorpusSampling(_Strict):
    """Which well-frames of the corpus chips become samples, and how they are cut."""

    frame_step: int = Field(2, ge=1, description="Use every frame_step-th frame as a sample (neighbouring 5-min frames are near duplicates).")
    crop_size: int = Field(96, ge=32, description="Side of the square sample crop (px) centred on each well's ground-truth box.")
    keep_empty: float = Field(1.0, ge=0, le=1, description="Fraction of cell-free well-frames kept (they teach 'no cell here').")


PROFILES: dict[str, SegmenterProfile] = {
    "cpu": SegmenterProfile(),
    "paper": SegmenterProfile(
        name="paper", backbone="resnet50", returned_layers=(1, 2, 3, 4), fpn_channels=256, input_scale=2.0,
        box_batch_size_per_image=512,
        anchor_sizes=(16, 32, 64, 128, 256), aspect_ratios=(0.5, 1.0, 2.0),
        rpn_pre_nms_top_n_train=2000, rpn_post_nms_top_n_train=2000, rpn_pre_nms_top_n_test=1000,
        rpn_post_nms_top_n_test=1000, rpn_batch_size_per_image=256, box_head_dim=1024, max_detections=100,
    ),
}


def segmenter_profile(name: SegmenterProfileName = "cpu") -> SegmenterProfile:
    """The named profile (``cpu`` or ``paper``)."""
    if name not in PROFILES:
        raise ValueError(f"unknown segmenter profile {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[name]


def train_config(name: SegmenterProfileName = "cpu", *, kind: SegmenterKind = "locsnet",
                 **overrides: object) -> SegmenterTrainConfig:
    """Training recipe for a named profile and model kind; ``overrides`` (epochs, lr, ...) win.

    The ``paper`` recipe trains longer (a GPU is assumed).
    """
    base: dict[str, object] = {"profile": segmenter_profile(name), "kind": kind}
    if name == "paper":
        base.update(epochs=24, batch_size=8, lr=5e-4, warmup_steps=200)
    base.update(overrides)
    return SegmenterTrainConfig(**base)
