"""Simulated training corpora: which chips, and the one split (simulating them is
``lftiming_ml.sim.corpus.simulate_corpus``; this module stays free of the simulator, so the
models' configs can name their corpus).

Every model trained here learns from chips of the simulator (``lftiming_ml.sim``) whose
ground truth (``gt/``) gives the labels. A ``CorpusConfig`` names the chips; each model
package defines its corpus beside its other parameters:

- ``WELL_DETECTOR_CORPUS`` (``wells.detector_config``): chips
  ``wells-{preset}-s{seed}-f{n_fields}-t{n_frames}``, seeds from 10 000;
- ``SEGMENTATION_CORPUS`` (``segmentation.config``): ``seg-{preset}-s{seed}``, from 20 000;
- ``CLASSIFICATION_CORPUS`` (``classification.config``): ``cls-{preset}-s{seed}{mitosis}``,
  from 40 000.

The re-identification embedding trains on ``CLASSIFICATION_CORPUS`` (the same cached chips).
Seeds below 10 000 belong to held-out benchmarks; each model's ``seed_floor`` keeps its
chips out of the others' ranges too.

- ``corpus_chips``: chip i is ``presets[i % len(presets)]`` with seed ``first_seed + i``.
- ``sim.corpus.simulate_corpus``: simulates the chips missing under a root, optionally ``workers`` at a
  time in spawned processes; a chip folder already there is reused (simulation is
  deterministic by seed and a chip is written atomically, so a folder present is complete).
- ``split_by_chip``: the one train/validation rule. Never by frame or well: the frames of a
  chip show the same cells, its wells the same field.

The split rule: the last fifth of the chips, rounded up, validates (2 chips: 1, 4: 1,
10: 2, 12: 3, 50: 10). Until #21 each model had its own rule: the well detector validated
on its last chip only, segmentation on the last fifth rounded down, the classifiers and
re-ID on the last quarter rounded down (at least one chip each). Every size the defaults
and the README's measurements use keeps its split (segmentation 10 and 50 chips, the
classifiers and re-ID 4 and 12); what changes:

- the well detector: with its default 10 chips, ``wells-standard-s10008-f2-t12`` now
  validates with ``wells-hard-s10009-f2-t12`` (9 training chips -> 8); in general
  ceil(n/5) chips validate instead of 1;
- segmentation at sizes that are not a multiple of 5 and above 5: one more validation chip
  (e.g. 6-9 chips: 2 instead of 1; 11-14: 3 instead of 2);
- the classifiers and re-ID where ceil(n/5) differs from n // 4: 6 and 7 chips validate 2
  instead of 1, 11 chips 3 instead of 2, 20 chips 4 instead of 5, and so on.
"""

from __future__ import annotations

from collections.abc import Sequence
from string import Formatter
from typing import Literal, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

TRAINING_SEED_FLOOR = 10_000
"""Training chips use seeds from here on; seeds below belong to held-out benchmarks."""
VALIDATION_ONE_IN = 5
"""``split_by_chip``: one chip in this many, rounded up, validates."""
CHIP_ID_FIELDS = ("preset", "seed", "n_fields", "n_frames", "mitosis")
"""The names a ``CorpusConfig.chip_id`` template may use."""

T = TypeVar("T")


class CorpusConfig(BaseModel):
    """The simulated chips of one model's training corpus (train and validation together)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chip_id: str = Field(description="Folder name of each chip: a format string over {preset}, {seed}, {n_fields}, {n_frames} and {mitosis} ('-m25' for target_mitosis_prob 0.25, '' without an override); must name {seed}. A folder of that name already under the root is reused as it is, so corpora that differ in anything the name leaves out need different roots.")
    presets: tuple[Literal["easy", "standard", "hard", "other-scope", "other-scope-hard"], ...] = Field(("standard", "hard"), min_length=1, description="Simulator presets cycled over the chips (chip i uses presets[i % len]).")
    n_chips: int = Field(ge=1, description="Chips in the corpus, training and validation together.")
    first_seed: int = Field(description="Seed of chip 0; chip i uses first_seed + i.")
    seed_floor: int = Field(TRAINING_SEED_FLOOR, ge=TRAINING_SEED_FLOOR, description="Lowest seed this corpus may use: seeds below belong to other models' corpora or to held-out benchmarks (< 10 000).")
    n_fields: int = Field(1, ge=1, description="Fields per chip (36 wells each).")
    n_frames: int = Field(ge=1, description="Frames simulated per field (5 min apart).")
    target_mitosis_prob: float | None = Field(None, ge=0, le=1, description="Overrides the preset's probability that a live target divides (3-6%); None keeps the preset's.")

    @model_validator(mode="after")
    def _seeds_and_names(self) -> CorpusConfig:
        if self.first_seed < self.seed_floor:
            raise ValueError(f"first_seed {self.first_seed} is below this corpus's seed floor {self.seed_floor} "
                             "(lower seeds belong to other models or to held-out benchmarks)")
        try:
            names = {name for _, name, _, _ in Formatter().parse(self.chip_id) if name is not None}
        except ValueError as e:
            raise ValueError(f"chip_id {self.chip_id!r} is not a format string: {e}") from e
        if names - set(CHIP_ID_FIELDS):
            raise ValueError(f"chip_id {self.chip_id!r} may use only {{{'}, {'.join(CHIP_ID_FIELDS)}}}, "
                             f"not {sorted(names - set(CHIP_ID_FIELDS))}")
        if "seed" not in names:
            raise ValueError(f"chip_id {self.chip_id!r} must name {{seed}}: every chip needs its own folder")
        return self

    def replace(self, **changes: object) -> CorpusConfig:
        """A copy with ``changes``, validated (``model_copy`` would skip the checks)."""
        return CorpusConfig.model_validate({**self.model_dump(), **changes})


class CorpusChip(NamedTuple):
    """One chip of a corpus: its folder name, preset and seed."""

    chip_id: str
    preset: str
    seed: int


def corpus_chips(corpus: CorpusConfig) -> list[CorpusChip]:
    """The ``n_chips`` chips of ``corpus`` in order: chip i is ``presets[i % len]`` with seed
    ``first_seed + i``, named by ``corpus.chip_id``."""
    mitosis = "" if corpus.target_mitosis_prob is None else f"-m{round(100 * corpus.target_mitosis_prob)}"
    out = []
    for i in range(corpus.n_chips):
        preset, seed = corpus.presets[i % len(corpus.presets)], corpus.first_seed + i
        name = corpus.chip_id.format(preset=preset, seed=seed, n_fields=corpus.n_fields, n_frames=corpus.n_frames,
                                     mitosis=mitosis)
        out.append(CorpusChip(name, preset, seed))
    return out


def n_validation_chips(n_chips: int) -> int:
    """How many of ``n_chips`` chips validate: one in ``VALIDATION_ONE_IN``, rounded up."""
    return -(-n_chips // VALIDATION_ONE_IN)


def split_by_chip(chips: Sequence[T]) -> tuple[list[T], list[T]]:
    """(train, validation): the last ``n_validation_chips`` of ``chips`` (corpus order)
    validate, the others train; every chip is on exactly one side. Needs at least 2 chips."""
    if len(chips) < 2:
        raise ValueError(f"a corpus of {len(chips)} chip(s) cannot be split: training and validation need "
                         "at least one chip each (the split is by chip)")
    n_val = n_validation_chips(len(chips))
    return list(chips[:-n_val]), list(chips[-n_val:])
