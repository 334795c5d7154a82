"""Parameters of the interaction stage: one pydantic model for contacts, one for kinetics.

Distances are um (converted with the chip's ``pixel_size_um``), times are frames (converted
to minutes with the chip's ``frame_interval_min``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ContactParams(BaseModel):
    """Parameters of ``contacts.contact_frames`` and ``contacts.contact_events``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tolerance_um: float = Field(
        0.5, ge=0,
        description="An effector and a target are in contact at a frame when their masks overlap or the gap "
                    "between their boundaries is at most this (um). The gap is the smallest distance between "
                    "a pixel centre of one mask and a pixel centre of the other, minus one pixel (so masks on "
                    "adjacent pixels have gap 0). At 0.65 um/px, 0.5 um counts edge and corner neighbours "
                    "(the simulator's 'within 1 px' truth) and not a one-pixel gap.")
    max_gap_frames: int = Field(
        1, ge=0,
        description="Contact events of one pair separated by at most this many non-contact frames are merged "
                    "into one event (0: no merging). The paper notes missed contact frames usually convert "
                    "within the next 1-2 frames. Merging changes events only, never the per-frame table.")
    min_event_frames: int = Field(
        1, ge=1,
        description="Events (after merging) shorter than this many contact frames are dropped as "
                    "spurious touches (1 keeps every contact).")


SEGMENTED_MASK_TOLERANCE_UM = 0.7
"""``tolerance_um`` for masks from the segmenter (what the pipeline uses). ``ContactParams()``'s
0.5 um reproduces the simulator's contact truth exactly on true masks, but a segmenter's
boundaries lie up to a pixel inside the true ones, so touching cells show a 1-px gap
(0.65 um). Chosen on the tuning chips 43/44 only (LOCSNET v3 tracks, `benchmarks/
tracking_pipeline.py --chips standard:43 hard:44`, then `benchmarks/kinetics.py` on them at
0.5 / 0.7 / 0.9 um): with the champion classifiers, pair-frames 0.925 / FN 0.198 -> 0.929 /
0.150, frame-matched 0.965 / 0.114 -> 0.972 / 0.062, well-frames 0.956 / 0.050 -> 0.968 /
0.023 at 0.5 -> 0.7 um; 0.9 um lowered FN further but also accuracy (it counts the 0.80 um
knight's-move gap)."""


class KineticsParams(BaseModel):
    """Parameters of ``kinetics`` (interaction, effector, target and well outcomes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    killing_unit: Literal["well", "target"] = Field(
        "well",
        description="Unit of the killing frequency: 'well' = share of wells with at least one target killed "
                    "(wells are independent, so the Wilson CI is honest); 'target' = share of loaded targets "
                    "killed (targets in one well are not independent: the CI is optimistic).")
    contact_rich_fraction: float = Field(
        0.25, gt=0, le=1,
        description="A well is contact-rich when an effector touches a target in at least this share of its "
                    "frames (``metrics.strata.is_contact_rich``).")
    ci_level: float = Field(0.95, gt=0, lt=1, description="Confidence level of the Wilson intervals.")
