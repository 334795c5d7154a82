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
    area_noise_reference: float | None = Field(0.015, gt=0, description="Typical frame-to-frame |log A| change of the masks w_area was set for (amodal true masks: ~0.015). Per well the detector's own change (``costs.area_change_noise`` on unambiguous links) is measured; when larger, w_area and w_elongation are scaled by reference / measured (area is less reliable evidence with noisier masks, e.g. LOCSNET ~0.04). None: both as they are.")
    w_shape: float = Field(3.0, ge=0, description="Weight of the shape dissimilarity 1 - IoU of centroid-aligned masks, in [0, 1] (0 without masks).")
    w_appearance: float = Field(35.0, ge=0, description="Weight of the appearance dissimilarity 1 - e_i . e_j of re-identification embeddings (``reid``; unit vectors, so in [0, 2]); only when the detections carry embeddings. Tuned on LOCSNET detections of chips 43/44 with the greedy linker (0, 2, 5, 10, 20: MOTA 0.930, 0.935, 0.937, 0.939, 0.941); under the beam, with miss_cost, on true masks of 11/12 and LOCSNET masks of 43/44, ID switches for 20/30/35/40: 104/74/70/74 and 615/622/606/625 (miss_cost 0/10/10/5).")
    w_elongation: float = Field(40.0, ge=0, description="Weight of the polarized-elongation term |log e_j - log e_i| (``costs.elongation_dissimilarity``: a polarized detection against the median of its track's last polarized mask elongations; needs masks). Each migrating cell has its own elongation where position and size cannot tell two effectors apart. Tuned on chips 11/12 (true masks: ``benchmarks/tracking.py --chips standard:11 hard:12 --params``) and 43/44 (LOCSNET masks, ad-hoc harness), ID switches for w_elongation 0/10/20/40: true masks without re-ID 393/341/319/340; LOCSNET masks with re-ID v1 855/-/841/805; with the GPU-trained re-ID v3, true masks 181/-/147/130 and LOCSNET masks -/-/815/801. Scaled down with w_area for noisy masks (``area_noise_reference``).")
    elongation_history: int = Field(8, ge=1, description="Polarized detections whose median elongation is a track's reference e_i.")
    elongation_split: float = Field(1.2, gt=1, description="Masks more elongated than this are polarized (a migrating cell); only those enter the elongation term.")
    appearance_precision: Literal["auto", "float32", "bfloat16"] = Field("auto", description="Compute dtype of the re-identification embedding's convolutions (``models.precision.inference_dtype``): 'auto' is bfloat16 on a CPU or GPU that computes it natively, float32 elsewhere. Embeddings stay within cosine 0.99 of float32 ones (tests/reid/test_inference.py); ``benchmarks/tracking.py --params '{\"appearance_precision\": \"float32\"}'`` against the default measures the effect on MOTA (README, cell_tracks per core).")
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
    debris_max_area_px: float = Field(70.0, ge=0, description="Static debris (``debris``): only detections of at most this area (px of the crop at its canonical um/px; 70 px is ~30 um^2 at 0.65 um/px, below any lymphocyte) can be debris; 0 turns the filter off. Simulated debris gave LOCSNET masks of 45-60 px, cell tracks on the tuning chips 43/44 a median area of at least 77 px.")
    debris_max_spread_px: float = Field(1.5, ge=0, description="A static small object is debris when its detected centroids stay within this RMS distance (px) of their mean: 0.2-0.9 px for simulated debris; every cell track on chips 43/44 spread more than 0.8 px, those below 80 px more than 2 px.")
    debris_min_frames: int = Field(12, ge=2, description="...and when it is seen in at least this many frames (an hour at 5-min frames); a shorter movie says too little about who moves, so nothing is debris there.")
    debris_link_px: float = Field(1.5, gt=0, description="Small detections of different frames closer than this (px) are chained into one object.")
    miss_cost: float = Field(10.0, ge=0, description="When a frame has fewer detections than tracks, a track that started with the movie or by a birth pays this (Eq. 7 units) for taking none; one that 'appeared' later (often an extra instance of the detector that persisted) misses for free. So a detection that fits both about as well stays with the cell the well held (0 let such a track take over a real cell in one LOCSNET well of chip 43 at w_appearance 30: 3 -> 51 false positives there).")
    beam_width: int = Field(8, ge=1, description="Association hypotheses kept per frame (multiple-hypothesis linking, ``linking.link_pass``): 1 is the greedy frame-by-frame Hungarian; more keeps the next-best assignments (``linking.k_best_assignments``) alive, so that later frames (appearance, elongation, motion) can overrule an early wrong link between look-alike cells. Tuned with beam_margin and beam_scale_weight on chips 11/12 (true masks) and 43/44 (LOCSNET masks), at w_appearance 20 without miss_cost, summed ID switches: greedy 130 + 801; width 8, margin 5, scale weight 1.5/2: 84 + 658 / 104 + 615; margin 8, scale weight 2: 110 + 601 (link step 2.2x the greedy one's time; margin 5: 1.6x).")
    beam_margin: float = Field(5.0, ge=0, description="A hypothesis is kept only while its score is within this of the best one's (Eq. 7 cost units).")
    beam_scale_weight: float = Field(2.0, ge=0, description="A hypothesis' score is the sum of its Eq. 7 link costs plus this x log(s_i) per link (s_i: the track's motion scale). The motion terms are distances in units of s_i, so without it a hypothesis whose wrong jumps inflate its motion scales makes its later links cheap; 2 log s is the normaliser of a 2-D density of scale s. Measured (w_appearance 20, no miss_cost): 0 gave more ID switches than the greedy linker (162 vs 130 on true masks of chips 11/12).")
    reconcile: bool = Field(True, description="Swap track tails where the backward pass disagrees and its linking is cheaper in the symmetric (forward + backward) Eq. 7 cost.")

    merged_area_ratio: float = Field(1.2, ge=0, description="Step 2: a track without a detection at a frame is placed at another track's detection there when that detection is at least this times the other track's median area (two overlapping cells detected as one; ``gaps.hidden_in_merged``) and within reach; 0 turns it off (straight-line fill only).")
    merged_reach_factor: float = Field(2.0, gt=0, description="Step 2: how far the merged mask may lie from the missed track's nearest detection before or after, in its typical steps (RMS over its detections, at least min_motion_px) per frame between them.")

    # Step 3: Eq. 8 refinement.
    refine: bool = Field(True, description="Run step 3; off, positions are the step-2 positions clipped to the well.")
    smoothness: float = Field(0.002, ge=0, description="Weight lambda of the squared second differences (acceleration) against fidelity in Eq. 8. Small: with 5-min frames an effector really accelerates by tens of px, so smoothing must not move detected centroids (0.002 moves them < 1 px; 0.05 moved them up to 14 px on simulated wells); it shapes interpolated frames and the walls.")
    interpolated_fidelity: float = Field(0.1, ge=0, description="Fidelity weight of step-2 interpolated frames relative to detected frames (1).")
    wall_margin_px: float = Field(0.0, ge=0, description="Centroids are kept this far inside the well box (px).")
    solver_eps: float = Field(1e-9, gt=0, description="OSQP absolute and relative tolerance for the refinement QP.")
