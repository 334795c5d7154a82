"""Parameters of the well-geometry stages (lattice fit, drift, crops): one pydantic model.

Units: px are raw field pixels unless a name says ``canonical``; um micrometres.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class WellGridParams(BaseModel):
    """Lattice fit, per-frame drift and crop resampling of one field of view."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # crops
    canonical_um_per_px: float = Field(0.65, gt=0, description="Pixel size of every well crop (um/px).")
    crop_size_px: int = Field(96, ge=8, description="Side S of a square well crop (canonical px); 96 x 0.65 um "
                              "= 62 um holds a 50 um well and its rim.")
    crop_fill_value: int = Field(0, ge=0, le=65535, description="Value of crop pixels that fall outside the field.")

    # drift
    drift_mode: Literal["reference", "chained"] = Field(
        "reference", description="'reference': register every frame to the reference frame, searching near "
        "the previous drift plus the consecutive-frame shift (no error accumulation; measured best); "
        "'chained': sum consecutive-frame shifts.")
    drift_reference: int = Field(0, ge=0, description="Frame the drift is measured against (drift[reference] = 0).")
    drift_upsample: int = Field(20, ge=1, description="Phase-correlation upsampling: precision 1/upsample px.")
    drift_highpass_sigma_px: float = Field(
        12.0, gt=0, description="Gaussian high-pass scale (px): removes vignetting and lamp flicker so the "
        "sharp well rims dominate the correlation.")
    drift_lowpass_sigma_px: float = Field(
        1.0, ge=0, description="Gaussian low-pass (px) of both frames: the sharp rims are undersampled, and "
        "their aliased high frequencies pull sub-pixel estimates towards whole pixels.")
    drift_clip_mad: float = Field(
        3.0, ge=0, description="Band-passed frames are clipped at this many robust sd (MAD): bright cell "
        "halos would otherwise outweigh the well rims; 0 = no clipping.")
    drift_whitening: float = Field(
        0.0, ge=0, le=1, description="Cross-power spectrum divided by its magnitude to this power: 1 = phase "
        "correlation, 0 = plain (high-passed) cross-correlation.")
    max_step_px: float = Field(30.0, gt=0, description="Search radius per axis (px) of the frame-to-frame "
                               "shift; keep below half the well pitch (the lattice repeats).")
    max_drift_px: float = Field(60.0, gt=0, description="Largest plausible |drift| per axis (px) from the "
                                "reference; larger fails ``drift_problems`` (the drift asset check).")
    drift_guide_radius_px: float = Field(
        2.0, ge=1, description="Mode 'reference': the peak against the reference is searched within this "
        "radius (px) of the previous frame's drift plus the frame-to-frame shift, so a change of focus "
        "cannot send it to a lattice-periodic false peak.")

    # lattice
    min_score: float = Field(0.3, ge=0, le=1, description="Detections scoring below this are ignored by the fit.")
    min_detections: int = Field(4, ge=3, description="Fewer usable detections than this cannot support a lattice.")
    min_inlier_fraction: float = Field(0.3, gt=0, le=1, description="The fitted lattice must explain at least "
                                       "this share of the block's wells (n_rows x n_cols) with detections.")
    pitch_tolerance: float = Field(0.2, gt=0, lt=0.5, description="Relative deviation of the fitted pitch from the "
                                   "nominal pitch that is still accepted (0.2 = +/-20 %).")
    max_rotation_deg: float = Field(10.0, gt=0, le=45, description="Largest accepted lattice rotation (degrees).")
    inlier_tol: float = Field(0.2, gt=0, lt=0.5, description="A detection is a lattice inlier if it lies within "
                              "this fraction of the pitch of a lattice node (first pass).")
    residual_tol_px: float = Field(4.0, gt=0, description="Final inlier gate on the least-squares residual (px); "
                                   "partial boxes at the field edge and spurious boxes fall outside it.")
    edge_margin_px: float = Field(0.0, description="A well is kept only if its interior lies this far inside the "
                                  "field (px); negative values allow wells cut by up to that much.")
