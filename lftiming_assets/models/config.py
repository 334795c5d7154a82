"""``TrainModelConfig``: the one run config of every model asset (well detector, segmenters,
re-ID embedding, classifiers).

The common knobs are fields (profile, corpus size, epochs, time budget, alias); anything else
of a model's recipe goes in ``overrides``, which ``recipe`` applies to the profile's recipe
and validates with that recipe's own pydantic model (``train_config(profile, ...)`` of the
segmenters, classifiers and well detector, ``reid_profile(profile)`` of the re-ID
embedding), so a wrong key or value fails with the library's message naming the field.
Nested models merge: ``{"profile": {"backbone": "resnet34"}}`` changes the backbone of the
named profile and keeps the rest of it.

Fine-tuning (every model; the well detector learns from grid labels, the others from well
labels): ``init`` names the weights to
start from (``champion``, a version, a bundle folder) and ``annotations`` /
``validate_annotations`` the curated labels (``CHIP`` or ``CHIP@VERSION``) to train or
validate on, filtered by ``annotation_provenances`` and drawn with ``annotation_share``;
``annotation_corpus`` validates them with the library's ``corpus.AnnotationCorpus``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

import dagster as dg
from pydantic import BaseModel, Field

from lftiming_ml.corpus import AnnotationCorpus, CorpusConfig

M = TypeVar("M", bound=BaseModel)


class TrainModelConfig(dg.Config):
    """What to train: the named profile's recipe, with these fields and ``overrides`` winning."""

    profile: Literal["cpu", "paper"] = Field(
        "cpu", description="Named recipe: 'cpu' (minutes on 2 cores) or 'paper' (the paper's sizes, for a GPU).")
    n_chips: int | None = Field(
        None, ge=1, description="Simulated corpus chips (the last ones validate). None: the model's default "
                                "(10 short chips for the well detector and segmenters, 4 full chips for the "
                                "classifiers and reid_embedding).")
    epochs: int | None = Field(
        None, ge=1, description="Passes over the training data (the recipe's epochs). None: the profile's. "
                                "Not for reid_embedding, which trains for a time budget.")
    time_budget_min: float | None = Field(
        None, gt=0, description="Stop training after this many minutes (reid_embedding: its train_seconds). "
                                "None: the profile's.")
    cv_folds: int = Field(
        0, ge=0, description="Classifiers only: >= 2 runs a k-fold cross-validation grouped by chip first, "
                             "logged to the same MLflow run.")
    alias: str = Field("champion", description="Alias the new version gets (the pipeline uses 'champion').")
    init: str | None = Field(
        None, description="Fine-tune: start from these weights of the same model: an alias ('champion'), a "
                          "registered version ('3' or 'v3') or a training bundle folder; same architecture or "
                          "refused. None: from scratch.")
    annotations: list[str] = Field(
        default_factory=list, description="Curated labels to train on, each 'CHIP' (its current annotations "
                                          "version, recorded) or 'CHIP@VERSION' (>= 8 hex digits of the version).")
    validate_annotations: list[str] = Field(
        default_factory=list, description="Curated labels to validate on (scored apart as val_annotations_*).")
    annotation_provenances: list[str] = Field(
        default_factory=list, description="Only labels of these provenances: human, human:<name>, fluorescence, "
                                          "model, simulator. Empty: every label.")
    annotation_share: float | None = Field(
        None, ge=0, le=1, description="Share of the training samples drawn from the annotations (the rest "
                                      "simulated). None: every sample once.")
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="Any other field of the model's recipe (see the model's config in lftiming_ml), e.g. "
                    "{\"lr\": 0.0005, \"batch_size\": 16} or, nested models merged into the profile's, "
                    "{\"profile\": {\"backbone\": \"resnet34\"}}. Validated by the recipe's pydantic model: "
                    "an unknown key or a bad value fails naming the field.")

    def annotation_corpus(self) -> AnnotationCorpus | None:
        """The curated labels as the library's ``AnnotationCorpus`` (None without any);
        ValueError naming a malformed selection or provenance, or a share without labels."""
        if not (self.annotations or self.validate_annotations):
            if self.annotation_share is not None or self.annotation_provenances:
                raise ValueError("annotation_share and annotation_provenances apply to annotations; none are given")
            return None
        return AnnotationCorpus.from_specs(self.annotations, self.validate_annotations,
                                           provenances=self.annotation_provenances, share=self.annotation_share)

    def finetune_metadata(self, corpus: AnnotationCorpus | None) -> dict[str, str]:
        """What the materialization shows of the fine-tuning: the init and the selections."""
        return {"init": self.init or "scratch",
                "annotations": ", ".join(f"{s.chip_id}@{s.version or 'current'} ({s.split})"
                                         for s in corpus.selections) if corpus else "none"}

    def corpus(self, default: CorpusConfig) -> CorpusConfig:
        """The model's corpus (``default``, e.g. ``SEGMENTATION_CORPUS``) with ``n_chips`` when given."""
        return default if self.n_chips is None else default.replace(n_chips=self.n_chips)

    def recipe(self, base: M, *, epochs_field: str | None = "epochs", budget_field: str | None = "time_budget_min",
               budget_per_min: float = 1.0, cross_validates: bool = False) -> tuple[M, dict[str, object]]:
        """``base`` (the profile's recipe) with ``epochs``, ``time_budget_min`` (as
        ``budget_field``, ``budget_per_min`` of its units per minute) and ``overrides`` applied,
        validated by ``type(base)``; and the fields that differ from ``base`` (what the
        library's ``train_and_register(overrides=...)`` takes).

        Raises ValueError when ``epochs``, ``time_budget_min`` or ``cv_folds`` (only where
        ``cross_validates``) does not apply to the model or a setting is given both as a field
        and in ``overrides``, and pydantic's ValidationError naming the field for an unknown
        key or a bad value.
        """
        name = type(base).__name__
        if self.cv_folds and not cross_validates:
            raise ValueError(f"cv_folds applies to the classifiers only, not to {name}")
        fields: dict[str, object] = {}
        for value, field, what in ((self.epochs, epochs_field, "epochs"),
                                   (self.time_budget_min, budget_field, "time_budget_min")):
            if value is None:
                continue
            if field is None:
                raise ValueError(f"{what} does not apply to this model ({name} has no such setting)")
            fields[field] = value if what == "epochs" else value * budget_per_min
        twice = sorted(set(fields) & set(self.overrides))
        if twice:
            raise ValueError(f"{twice} set both as a config field and in overrides; set each once")
        config = type(base).model_validate(merge(base.model_dump(), {**fields, **self.overrides}))
        changed = {k: getattr(config, k) for k in type(config).model_fields if getattr(config, k) != getattr(base, k)}
        return config, changed


def merge(data: Mapping[str, object], overrides: Mapping[str, object]) -> dict[str, object]:
    """``data`` with ``overrides`` winning; a mapping over a mapping merges key by key."""
    out = dict(data)
    for key, value in overrides.items():
        current = out.get(key)
        out[key] = merge(current, value) if isinstance(value, Mapping) and isinstance(current, Mapping) else value
    return out


__all__ = ["TrainModelConfig", "merge"]
