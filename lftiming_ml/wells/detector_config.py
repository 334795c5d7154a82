"""Well-detector parameters: the model profile, the training recipe and the training corpus.

Sizes are px of the *model input* unless a name says ``field`` (px of the full-resolution
field image). ``input_scale`` links the two: model px = field px x ``input_scale``.
Two named profiles: ``cpu`` (ResNet-18 FPN at half resolution, minutes on 2 cores) and
``paper`` (ResNet-50 FPN at full resolution with torchvision's default RPN/ROI sizes, for
a GPU). Same code, different numbers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lftiming_ml.corpus import CorpusConfig

DetectorProfileName = Literal["cpu", "paper"]
TRAINING_SEED_START = 10_000  # simulated chips for training use seeds >= this; benchmarks use smaller ones


MODEL_NAME = "well_detector"
"""Registered MLflow model name of the well detector."""

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DetectorProfile(_Strict):
    """Architecture, input scaling and post-processing of the well detector."""

    name: str = Field("cpu", description="Profile name, logged with the model.")
    backbone: Literal["resnet18", "resnet34", "resnet50"] = Field("resnet18", description="torchvision ResNet trunk, built with weights=None.")
    returned_layers: tuple[int, ...] = Field((2, 3), description="ResNet stages fed to the FPN (1 = stride 4 ... 4 = stride 32); FPN adds a max-pool level on top.")
    fpn_channels: int = Field(128, ge=16, description="Channels of every FPN level (torchvision default 256).")
    norm: Literal["batch", "group"] = Field("batch", description="Normalisation in the trunk: trainable BatchNorm or GroupNorm(32). (Frozen BN is meaningless without pretrained weights.)")
    input_scale: float = Field(0.5, gt=0, le=1, description="Field image is resampled by this factor before the network (736 px field -> 368 px; 77 px wells -> ~38 px).")
    um_per_px: float = Field(0.65, gt=0, description="Pixel size (um) of the fields the detector learns on (the simulator's standard camera). A chip of another pixel size is resampled by input_scale x its pixel / um_per_px, so its wells have the size in model px the detector learned.")
    anchor_sizes: tuple[int, ...] = Field((32, 40, 52), description="One square anchor size (model px) per FPN level, lowest stride first; must match len(returned_layers) + 1.")
    aspect_ratios: tuple[float, ...] = Field((1.0,), description="Anchor aspect ratios (wells are square).")
    intensity_percentiles: tuple[float, float] = Field((0.5, 99.5), description="Per-image percentiles mapped to 0 and 1 before the network.")
    intensity_clip: tuple[float, float] = Field((-1.0, 2.0), description="Normalised intensities are clipped to this range (tames bright halos and debris).")
    rpn_pre_nms_top_n_train: int = Field(600, ge=1, description="RPN proposals kept before NMS, per level, in training.")
    rpn_post_nms_top_n_train: int = Field(300, ge=1, description="RPN proposals kept after NMS in training.")
    rpn_pre_nms_top_n_test: int = Field(300, ge=1, description="RPN proposals kept before NMS, per level, at inference.")
    rpn_post_nms_top_n_test: int = Field(100, ge=1, description="RPN proposals kept after NMS at inference (a field has 36 wells).")
    rpn_batch_size_per_image: int = Field(128, ge=1, description="Anchors sampled per image for the RPN loss.")
    box_batch_size_per_image: int = Field(128, ge=1, description="Proposals sampled per image for the ROI-head loss.")
    box_head_dim: int = Field(256, ge=16, description="Width of the two-layer MLP box head (torchvision default 1024).")
    score_thresh: float = Field(0.5, ge=0, le=1, description="Minimum well score (1 - P(background)) kept by ``detect_wells``.")
    nms_iou: float = Field(0.3, gt=0, le=1, description="Class-agnostic NMS IoU in ``detect_wells`` (wells never overlap).")
    max_detections: int = Field(100, ge=1, description="Most wells returned per field.")


class DetectorTrainConfig(_Strict):
    """The training recipe of ``train_detector``."""

    profile: DetectorProfile = Field(default_factory=DetectorProfile, description="Model profile to build and train.")
    epochs: int = Field(10, ge=1, description="Passes over the training samples (cpu: 54 samples x 10 = 270 steps of 2 fields).")
    batch_size: int = Field(2, ge=1, description="Fields per optimisation step.")
    lr: float = Field(1e-3, gt=0, description="Peak AdamW learning rate (cosine decay to lr_final_fraction x lr).")
    lr_final_fraction: float = Field(0.05, ge=0, le=1, description="Learning rate at the end, as a fraction of lr.")
    warmup_steps: int = Field(30, ge=0, description="Linear learning-rate warm-up steps.")
    weight_decay: float = Field(1e-4, ge=0, description="AdamW weight decay.")
    grad_clip_norm: float = Field(10.0, gt=0, description="Global gradient-norm clip.")
    augment: bool = Field(True, description="Random flips, 90-degree rotations and intensity jitter in training.")
    intensity_jitter: float = Field(0.15, ge=0, description="Sd of the random gain (log-scale) and offset applied to normalised images.")
    noise_sd: float = Field(0.03, ge=0, description="Max sd of additive Gaussian noise on normalised images.")
    frames: tuple[int, ...] = Field((0, 5, 11), description="Frames of each training field used as samples (clipped to the movie); frame 0 plus later ones for drift and defocus.")
    val_frames: tuple[int, ...] = Field((0,), description="Frames of each validation field evaluated.")
    iou_match: float = Field(0.5, gt=0, le=1, description="IoU at which a detection matches a ground-truth well in ``evaluate``.")
    seed: int = Field(0, description="Seed of initialisation, sample order and augmentation.")
    time_budget_min: float | None = Field(None, gt=0, description="Stop after the step that exceeds this wall time (minutes; the learning rate still follows the epochs' cosine); None = run all epochs. Fine-tuning on a lab's grid labels uses it.")
    num_threads: int = Field(2, ge=1, description="torch CPU threads (ignored on GPU).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="'auto' picks cuda when available.")


WELL_DETECTOR_CORPUS = CorpusConfig(
    chip_id="wells-{preset}-s{seed}-f{n_fields}-t{n_frames}", n_chips=10, first_seed=TRAINING_SEED_START,
    seed_floor=TRAINING_SEED_START, n_fields=2, n_frames=12)
"""The detector's simulated chips (training and validation): 2 fields of 12 frames each; only
``DetectorTrainConfig.frames`` of them are samples, the later ones for drift and defocus."""


PROFILES: dict[str, DetectorProfile] = {
    "cpu": DetectorProfile(),
    "paper": DetectorProfile(
        name="paper", backbone="resnet50", returned_layers=(1, 2, 3, 4), fpn_channels=256, norm="batch",
        input_scale=1.0, anchor_sizes=(32, 64, 128, 256, 512), aspect_ratios=(0.5, 1.0, 2.0),
        rpn_pre_nms_top_n_train=2000, rpn_post_nms_top_n_train=2000, rpn_pre_nms_top_n_test=1000,
        rpn_post_nms_top_n_test=1000, rpn_batch_size_per_image=256, box_batch_size_per_image=512,
        box_head_dim=1024,
    ),
}


def detector_profile(name: DetectorProfileName = "cpu") -> DetectorProfile:
    """The named profile (``cpu`` or ``paper``)."""
    if name not in PROFILES:
        raise ValueError(f"unknown detector profile {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[name]


def train_config(name: DetectorProfileName = "cpu", **overrides: object) -> DetectorTrainConfig:
    """Training recipe for a named profile; ``overrides`` (epochs, lr, ...) win.

    The ``paper`` recipe trains longer with larger batches (a GPU is assumed).
    """
    base: dict[str, object] = {"profile": detector_profile(name)}
    if name == "paper":
        base.update(epochs=24, batch_size=4, lr=5e-4)
    base.update(overrides)
    return DetectorTrainConfig(**base)
