"""Tracker parameters: one pydantic model for the three steps of paper section 2.3.

Distances are px of the well crop, times are frames. Eq. 7 costs are in px-equivalents:
the shape term (in [0, 1]) and the contact-swap penalty are scaled into px by their weights.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TrackerParams(BaseModel):
    """Parameters of ``track_well`` (steps 1-3 and count changes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Step 1: Eq. 7 link cost (dimensionless; see ``costs``). Defaults tuned on simulated
    # chips (seeds 11 standard, 12 hard), evaluated on others (``benchmarks/tracking.py``).
    w_distance: float = Field(0.5, ge=0, description="Weight of the centroid distance |c_j - c_i| in units of the track's motion scale s_i.")
    w_velocity: float = Field(0.5, ge=0, description="Weight of the deviation from the short-horizon constant-velocity prediction |c_j - c_i - v_i| / s_i.")
    w_area: float = Field(60.0, ge=0, description="Weight of the area change |log(A_j / A_i)| (A_i: median of the track's last areas); 60 makes a 10% size change cost 6 motion steps.")
    area_noise_reference: float | None = Field(0.015, gt=0, description="Typical frame-to-frame |log A| change of the masks w_area was set for (amodal true masks: ~0.015). Per well the detector's own change (``costs.area_change_noise`` on unambiguous links) is measured; when larger, w_area is scaled by reference / measured (area is less reliable evidence with noisier masks, e.g. LOCSNET ~0.04). None: w_area as is.")
    w_shape: float = Field(3.0, ge=0, description="Weight of the shape dissimilarity 1 - IoU of centroid-aligned masks, in [0, 1] (0 without masks).")
    w_appearance: float = Field(20.0, ge=0, description="Weight of the appearance dissimilarity 1 - e_i . e_j of re-identification embeddings (``reid``; unit vectors, so in [0, 2]); only when the detections carry embeddings. Tuned on LOCSNET detections of chips 43/44 (0, 2, 5, 10, 20: MOTA 0.930, 0.935, 0.937, 0.939, 0.941).")
    appearance_history: int = Field(8, ge=1, description="Detections whose mean embedding is a track's reference appearance e_i.")
    contact_swap_penalty: float = Field(2.0, ge=0, description="Penalty P added to a link that puts a track on its contact partner's side right after a contact (the paper's ~100 is in px units; ours are motion-scale units).")
    swap_max_motion_factor: float = Field(1.0, ge=0, description="The swap term applies to a touching pair only when the sum of their motion scales is at most this factor * (r_a + r_b): faster pairs can pass each other in one frame, so sides say nothing.")
    min_motion_px: float = Field(3.0, gt=0, description="Floor of the motion scale s_i (px per frame): a resting cell is not pinned tighter than this.")
    motion_history: int = Field(4, ge=1, description="Steps between a track's last detections that its motion scale s_i is the RMS of.")
    area_history: int = Field(8, ge=1, description="Detections whose median area is a track's reference area A_i.")
    contact_factor: float = Field(1.15, gt=0, description="Two tracks are in contact when their centroid distance <= contact_factor * (r_a + r_b), r = sqrt(area / pi).")
    velocity_horizon: int = Field(2, ge=1, description="Frames back to the older of the two detections the velocity estimate v_i is taken from (>= 1; 1 = last step only).")
    wall_prediction: Literal["reflect", "clip", "none"] = Field("reflect", description="How a constant-velocity prediction that leaves the well is brought back: mirrored off the wall, clipped to it, or left as is.")
    gap_velocity_decay: float = Field(0.5, ge=0, le=1, description="Velocity multiplier per missed frame when predicting a track through a gap (0: hold, 1: keep going).")

    # Step 1: N and count changes.
    count_support_fraction: float = Field(0.25, gt=0, le=1, description="N is the largest count seen in at least this share of frames (misses only lower counts, so the plain mode is biased low).")
    min_new_track_frames: int = Field(3, ge=1, description="A detection not taken by an existing track starts a tentative track; it becomes a track after this many consecutive frames.")
    new_track_max_cost: float = Field(40.0, gt=0, description="Gate on the Eq. 7 cost for extending a tentative track (confirmed tracks are not gated: containment). Loose: at the movie start every cell is tentative, and a growing bud or a fast effector must still link (15 broke a yeast bud track on real data).")
    birth_distance_factor: float = Field(2.0, gt=0, description="A new track whose first centroid lies within this factor * (r_new + r_parent) of an existing track is a birth from it (mitosis or fragment).")
    sibling_area_ratio: float = Field(1.5, gt=1, description="A birth is a mitosis only when the new track and its mother's track from the birth on (the two daughters) differ in median area by less than this factor; otherwise the new cell 'appeared' (typically a cell hidden in a merged mask until then, next to a cell of another size).")
    mitosis_area_drop: float = Field(0.8, gt=0, description="A birth is a mitosis only when the mother's track shrinks at it: its median area from the birth on is below this share of its median area before (a dividing cell halves; 1+: no such check).")
    fragment_area_ratio: float = Field(0.35, gt=0, lt=1, description="A birth whose area is below this share of the parent's median area is a fragment of a dying cell, else a mitosis.")
    max_tail_gap: int = Field(12, ge=0, description="A track whose detections stop this many frames or fewer before the movie end is held to the end (containment); longer, it ends with a reason.")
    min_track_detections: int = Field(3, ge=1, description="Tracks with fewer detections are dropped as false positives.")
    surplus_max_coverage: float = Field(0.5, ge=0, le=1, description="When more tracks start without a birth than the well holds cells (N), the extra ones with the lowest coverage (detections per frame from their first detection on) are dropped if their coverage is below this (0: keep all). An extra instance of the detector persists a few frames; a real cell is detected in most.")
    reconcile: bool = Field(True, description="Swap track tails where the backward pass disagrees and its linking is cheaper in the symmetric (forward + backward) Eq. 7 cost.")

    # Step 3: Eq. 8 refinement.
    refine: bool = Field(True, description="Run step 3; off, positions are the step-2 positions clipped to the well.")
    smoothness: float = Field(0.002, ge=0, description="Weight lambda of the squared second differences (acceleration) against fidelity in Eq. 8. Small: with 5-min frames an effector really accelerates by tens of px, so smoothing must not move detected centroids (0.002 moves them < 1 px; 0.05 moved them up to 14 px on simulated wells); it shapes interpolated frames and the walls.")
    interpolated_fidelity: float = Field(0.1, ge=0, description="Fidelity weight of step-2 interpolated frames relative to detected frames (1).")
    wall_margin_px: float = Field(0.0, ge=0, description="Centroids are kept this far inside the well box (px).")
    solver_eps: float = Field(1e-9, gt=0, description="OSQP absolute and relative tolerance for the refinement QP.")
