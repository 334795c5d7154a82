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

Fine-tuning adds curated labels (``lftiming_ml.annotations``) to a model's simulated corpus:
an ``AnnotationCorpus`` names ``AnnotationSelection``s (a chip, the version of its
annotations, which provenances, train or validation side) and the share of training
samples they make up; ``mix_parts`` draws the training set in that proportion. Resolving a
selection against the annotations store is ``annotations.selection``.

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

import re

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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


# --- curated labels in a training corpus ----------------------------------------------------

PROVENANCE_KINDS = ("human", "fluorescence", "model", "simulator")
"""What a provenance filter entry starts with (``human`` matches every ``human:<name>``)."""
_SELECTION = re.compile(r"^(?P<chip>[A-Za-z0-9][A-Za-z0-9._-]{0,63})(?:@(?P<version>[0-9a-f]{8,64}))?$")


class AnnotationSelection(BaseModel):
    """Curated labels of one chip that a training run uses."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chip_id: str = Field(description="The annotated chip (its annotations store under data/annotations/<chip_id>).")
    version: str | None = Field(None, description="Annotations version (sha256, or a unique prefix of >= 8 hex digits); None: the chip's current version when the run starts (the run records which).")
    provenances: tuple[str, ...] = Field((), description="Only labels whose provenance is one of these or starts with one followed by ':' (e.g. 'human' = every human:<name>, 'fluorescence'); empty: every label.")
    split: Literal["train", "validation"] = Field("train", description="Train on these labels, or validate on them (besides the simulated validation chips).")

    @field_validator("provenances")
    @classmethod
    def _known_provenances(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for p in value:
            if p.split(":", 1)[0] not in PROVENANCE_KINDS:
                raise ValueError(f"provenance filter {p!r} must start with one of {list(PROVENANCE_KINDS)}")
        return value

    @classmethod
    def parse(cls, spec: str, **fields: object) -> AnnotationSelection:
        """``CHIP`` or ``CHIP@VERSION`` (the command line's and the Dagster config's form)."""
        m = _SELECTION.match(spec.strip())
        if m is None:
            raise ValueError(f"annotation selection {spec!r} is not CHIP or CHIP@VERSION (a chip id, then '@' and "
                             "an annotations version: >= 8 hex digits of its sha256)")
        return cls(chip_id=m["chip"], version=m["version"], **fields)

    def matches(self, provenance: str) -> bool:
        """The filter keeps labels of ``provenance``."""
        return not self.provenances or any(provenance == p or provenance.startswith(p + ":")
                                           for p in self.provenances)


class AnnotationCorpus(BaseModel):
    """Curated labels added to a model's simulated corpus, and in what proportion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    selections: tuple[AnnotationSelection, ...] = Field((), description="Annotated chips (and versions) to use.")
    share: float | None = Field(None, ge=0, le=1, description="Share of the training samples drawn from the selections (the rest simulated; each part drawn with repetition when it is short); None: every sample of both once, in their natural proportion.")

    @classmethod
    def from_specs(cls, train: Sequence[str] = (), validation: Sequence[str] = (), *,
                   provenances: Sequence[str] = (), share: float | None = None) -> AnnotationCorpus:
        """From ``CHIP[@VERSION]`` strings (``AnnotationSelection.parse``), one filter for all."""
        return cls(selections=tuple(
            [AnnotationSelection.parse(s, provenances=tuple(provenances), split="train") for s in train]
            + [AnnotationSelection.parse(s, provenances=tuple(provenances), split="validation") for s in validation]),
            share=share)

    @model_validator(mode="after")
    def _one_selection_per_chip_and_side(self) -> AnnotationCorpus:
        keys = [(s.chip_id, s.split) for s in self.selections]
        if len(set(keys)) != len(keys):
            raise ValueError(f"a chip is selected twice on one side: {sorted(keys)}")
        return self


def mix_parts(simulated: Sequence[T], annotated: Sequence[T], share: float | None, *,
              seed: int = 0) -> tuple[list[T], dict[str, float | None]]:
    """The training set: ``simulated`` and ``annotated`` items with ``share`` of the total
    (``len(simulated) + len(annotated)``) from ``annotated``; a part shorter than its quota is
    drawn whole as often as it fits, the rest at random without repetition (deterministic by
    ``seed``). ``share`` None: both parts once. Returns the list (simulated first) and the
    counts the manifest records. ValueError when a share asks for a part that is empty."""
    n_sim, n_ann = len(simulated), len(annotated)
    if share is None:
        out, quota_ann = [*simulated, *annotated], n_ann
    else:
        if share > 0 and n_ann == 0:
            raise ValueError(f"annotation share {share} asked for, but the annotation selections give no sample")
        if share < 1 and n_sim == 0:
            raise ValueError(f"annotation share {share} leaves {1 - share:.2f} to simulated samples, but there are none")
        total = n_sim + n_ann
        quota_ann = int(round(share * total))
        rng = np.random.default_rng(seed)

        def draw(items: Sequence[T], k: int) -> list[T]:
            if k == 0:
                return []
            full, rest = divmod(k, len(items))
            return [*list(items) * full, *(items[i] for i in sorted(rng.choice(len(items), rest, replace=False)))]

        out = [*draw(simulated, total - quota_ann), *draw(annotated, quota_ann)]
    n = len(out)
    return out, {"simulated_available": float(n_sim), "annotated_available": float(n_ann),
                 "simulated_drawn": float(n - quota_ann), "annotated_drawn": float(quota_ann),
                 "share_requested": None if share is None else float(share),
                 "share_drawn": quota_ann / n if n else 0.0}

