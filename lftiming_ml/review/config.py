"""Parameters of the review queue: one pydantic model (``ReviewParams``).

The signals' thresholds (what counts as an area jump, an uncertain death probability), how
reasons are chosen, and whether fluorescence is read. Dye and Annexin V calls inside a track's
masks use the rules that label training chips (``classification.config.LabellerParams``
defaults), so the review checks a call the way the training labels were made. The weights that turn signals into a
score are not parameters: they are fitted constants of ``queue`` (``WEIGHTS``), chosen on
tuning chips by ``benchmarks/review_queue.py --tuning``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lftiming_ml.metrics.classification import DEATH_TOLERANCE_FRAMES


class ReviewParams(BaseModel):
    """Parameters of ``queue.review_queue`` and the signals it combines."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    area_jump: float = Field(
        0.25, gt=0,
        description="A track's mask area 'flickers' between two consecutive detected frames when |ln(area_t / "
                    "area_t-1)| exceeds this (0.25: a change of about 28%); cells change area slowly, masks that "
                    "lose or gain a neighbour's pixels do not.")
    death_p_low: float = Field(
        0.2, ge=0, le=1,
        description="An apoptosis probability in [death_p_low, death_p_high] is undecided; a track's frames "
                    "inside that band measure how unsure its death (or its survival) is.")
    death_p_high: float = Field(0.8, ge=0, le=1, description="Upper end of the undecided band (see death_p_low).")
    death_tolerance_frames: int = Field(
        DEATH_TOLERANCE_FRAMES, ge=0,
        description="Annexin V onset and the classifier's death frame disagree when more than this many frames "
                    "apart (or one says death and the other not); the evaluation's death-frame tolerance.")
    use_fluorescence: bool = Field(
        True, description="Read the dye channels (on chips whose manifest has them) for the fluorescence signals.")
    max_reasons: int = Field(3, ge=1, description="At most this many reasons are listed per well.")
    reason_min_logit: float = Field(
        0.4, ge=0,
        description="A signal is listed as a reason when it adds at least this much to the well's log-odds of an "
                    "error (its weight x its normalised value).")

    @model_validator(mode="after")
    def _band(self) -> ReviewParams:
        if not self.death_p_low < self.death_p_high:
            raise ValueError(f"death_p_low ({self.death_p_low}) must be below death_p_high ({self.death_p_high})")
        return self


__all__ = ["ReviewParams"]
