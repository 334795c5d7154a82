"""Re-identification parameters: the profile (architecture + training recipe) and what a
registered version stores to rebuild its network.

Two named profiles: ``cpu`` (32 px patches, 3 conv stages, 32-d embedding, phase cut-out
only, 300 s on 2 cores) and ``paper`` (48 px, 4 stages, 64-d, phase and mask, for a GPU). Sizes are px of the well crop
(canonical 0.65 um/px). Same code, different numbers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MODEL_NAME = "reid_embedding"
"""The MLflow registered model."""


class ReidProfile(BaseModel):
    """Architecture and training recipe of the re-identification embedding."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    patch_size: int = Field(32, ge=8, description="Side of the square phase + mask window (crop px) centred on the cell.")
    phase_gain: float = Field(4.0, gt=0, description="As the classifiers: (intensity / frame median - 1) x gain.")
    channels: tuple[int, ...] = Field((32, 64, 96), description="Conv widths; each stage conv-BN-ReLU-maxpool.")
    embedding_dim: int = Field(32, ge=2)
    mask_weight: float = Field(1.0, ge=0, description="Scale of the mask channel (0: phase only).")
    outside_weight: float = Field(0.0, ge=0, le=1, description="Phase outside the cell's mask dilated by mask_dilation_px is multiplied by this (1: whole window; 0: the cell alone, so a touching neighbour does not enter its embedding).")
    mask_dilation_px: int = Field(2, ge=0, description="Dilation of the mask that bounds the kept phase (the halo).")
    train_seconds: float = Field(300.0, gt=0, description="Wall-clock training budget (the loop stops after it).")
    max_steps: int = Field(4000, ge=1)
    wells_per_batch: int = Field(24, ge=1, description="Wells drawn per batch; every cell of a drawn well is a class.")
    views_per_cell: int = Field(4, ge=2, description="Frames drawn per cell per batch (positives of each other).")
    frame_window: int = Field(6, ge=0, description="Views of a cell are drawn within +- this many frames of one frame.")
    jitter_px: int = Field(2, ge=0, description="Training views are shifted by up to this many px (the segmenter's centroids are not the truth's).")
    mask_jitter: bool = Field(True, description="Training masks are randomly grown or shrunk by one px (the segmenter's masks are not the truth's).")
    segmented_mask_share: float = Field(0.5, ge=0, le=1, description="Share of training views that take the segmenter's mask instead of the true one, for tracks that carry both (``segmented.attach_segmented_masks``; the bundled recipe's LOCSNET).")
    negatives: Literal["batch", "well"] = Field("batch", description="Which other cells a view is contrasted with: every cell of the batch, or only the cells of its own well (the tracker's choice among look-alikes). Measured (cpu, 300 s): 'well' verified effector pairs of a held-out corpus chip as well as 'batch' (0.910 vs 0.907) and tracked LOCSNET detections of tuning chips 43/44 no better (MOTA 0.937 vs 0.941).")
    temperature: float = Field(0.1, gt=0)
    lr: float = Field(2e-3, gt=0)
    lr_schedule: Literal["constant", "cosine"] = Field("constant", description="Learning rate over the steps: constant, or cosine from lr down to 0 at max_steps (a run stopped earlier by train_seconds ends above 0).")
    weight_decay: float = Field(1e-4, ge=0)
    seed: int = 0


PROFILES = {
    # phase only on 2 cores: with LOCSNET's masks in training (the bundled recipe) the mask channel made tracking on
    # LOCSNET detections no better (README, Re-identification), and fine-tuning the shipped champion (mask_weight 0)
    # must see what it saw
    "cpu": ReidProfile(name="cpu", mask_weight=0.0),
    "paper": ReidProfile(name="paper", patch_size=48, channels=(64, 128, 192, 256), embedding_dim=64,
                         train_seconds=1800.0, max_steps=40000, wells_per_batch=48),
}


def reid_profile(name: str, **overrides: object) -> ReidProfile:
    """The named profile ('cpu' for 2 cores, 'paper' for a GPU) with ``overrides``."""
    if name not in PROFILES:
        raise ValueError(f"unknown re-identification profile {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[name].model_copy(update=overrides)


def registry_config(profile: ReidProfile) -> dict[str, object]:
    """What a registered version stores as its config (``model.reid_from_registry`` reads
    it): ``{"kind": "reid_embedding", "profile": <ReidProfile as JSON>}``, the same dict
    versions registered by ``lftiming_ml.tracking.reid`` stored."""
    return {"kind": MODEL_NAME, "profile": profile.model_dump(mode="json")}
