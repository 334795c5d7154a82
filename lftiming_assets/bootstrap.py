"""One round of the bootstrap (``lftiming bootstrap``, issue 18): fit the models to a lab's scope.

A round, on chips of the new microscope (``chips``, with dye channels):

1. the pipeline with the champion models on each chip (skipped where its ``review_queue``
   table exists already);
2. free labels from the dye channels (``annotations.sources.fluorescence_records``, doubtful
   cells left out) written into each chip's annotations store, provenance ``fluorescence``;
3. proofreading of ``review`` wells: the first of the chips' review queues pooled by score
   (``review_order="queue"``) or drawn at random (``"random"``, the control). The reviewer
   is the simulated one (``reviewer="simulator"``: the chip's truth copied into those wells,
   provenance ``simulator``; it stands in for a human in benchmarks) or ``"human"`` (the
   wells were proofread in ``lftiming review``; their ``human:<name>`` labels are used as
   they are);
4. fine-tuning of each of ``models`` from the champion (``init``; None trains from scratch)
   on the simulated corpus and the chips' labels (``annotation_share``), registered under
   ``alias`` with its corpus manifest (annotation versions, label counts, init version);
5. scoring on ``held_out`` chips of the new scope that have ground truth (simulated): the
   pipeline with the champion and with the candidate (the champion's version of every model
   not fine-tuned), each chip scored by ``lftiming evaluate``'s sections;
6. the decision: the candidate is promoted (alias ``champion`` moved to its versions) when
   each fine-tuned model's own score (``PRIMARY``) is higher than the champion's, averaged
   over the held-out chips, and no other score of ``SCORES`` is worse by more than
   ``TOLERANCE``; otherwise the champion stays and the round says which score stopped it.

Every step is an existing command's code path (``run_chip``, ``write_wells``, the
``train_models`` job), so the Dagster and MLflow UIs show the round as they show those.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dagster as dg
import numpy as np

from lftiming_ml.store.layout import ChipStore, DataLayout

FINE_TUNABLE = ("locsnet", "reid_embedding", "celltype_classifier", "apoptosis_classifier")
PIPELINE_MODELS = ("well_detector", "locsnet", "reid_embedding", "celltype_classifier", "apoptosis_classifier")

SCORES: dict[str, tuple[tuple[str, ...], bool]] = {
    "segmentation mIoU": (("segmentation", "overall", "miou_mean"), True),
    "tracking MOTA": (("tracking", "overall", "mota_mean"), True),
    "cell type accuracy": (("classification", "celltype", "overall", "accuracy"), True),
    "apoptosis accuracy": (("classification", "apoptosis", "overall", "accuracy"), True),
    "contact FN rate": (("contacts", "frame_matched_fn_rate"), False),
}
"""The scores a round compares: name -> (path in ``evaluate_chip``'s report, higher is better)."""

PRIMARY = {"locsnet": "segmentation mIoU", "reid_embedding": "tracking MOTA",
           "celltype_classifier": "cell type accuracy", "apoptosis_classifier": "apoptosis accuracy"}
TOLERANCE = 0.01
"""How much worse (absolute) a score other than the fine-tuned models' own may get in a promoted round."""


@dataclass(frozen=True)
class RoundPlan:
    chips: tuple[str, ...]
    held_out: tuple[str, ...]
    models: tuple[str, ...] = ("locsnet",)
    review: int = 20
    review_order: str = "queue"
    reviewer: str = "simulator"
    init: str | None = "champion"
    time_budget_min: float = 4.0
    epochs: int | None = None
    """Passes over the data for the models trained by epochs (all but the re-ID embedding, which trains
    for its time budget); None: their recipe's. The time budget still stops them first."""
    n_chips: int = 2
    annotation_share: float | None = 0.5
    provenances: tuple[str, ...] = ("fluorescence", "simulator", "human")
    alias: str = "candidate"
    seed: int = 0
    promote: bool = True

    def __post_init__(self) -> None:
        if not self.chips:
            raise ValueError("a bootstrap round needs at least one chip of the new scope (--chips)")
        bad = [m for m in self.models if m not in FINE_TUNABLE]
        if bad or not self.models:
            raise ValueError(f"models {bad or '(none)'}: a round fine-tunes one or more of {', '.join(FINE_TUNABLE)}")
        if self.review_order not in ("queue", "random"):
            raise ValueError(f"review order {self.review_order!r}: 'queue' or 'random'")
        if self.reviewer not in ("simulator", "human"):
            raise ValueError(f"reviewer {self.reviewer!r}: 'simulator' (benchmarks) or 'human'")
        if self.review < 0:
            raise ValueError(f"review {self.review}: the number of wells to proofread, >= 0")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs {self.epochs}: >= 1, or None for the recipe's")
        if self.alias == "champion":
            raise ValueError("the candidate's alias cannot be 'champion': the round promotes it only if it is better")


@dataclass
class RoundResult:
    plan: RoundPlan
    annotation_versions: dict[str, str] = field(default_factory=dict)
    reviewed: dict[str, list[str]] = field(default_factory=dict)
    champion: dict[str, int] = field(default_factory=dict)
    candidate: dict[str, int] = field(default_factory=dict)
    scores: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)
    reports: dict[str, dict[str, dict]] = field(default_factory=dict)
    promoted: bool = False
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {**asdict(self), "plan": asdict(self.plan)}


def data_layout() -> DataLayout:
    from lftiming_assets.resources import default_data_dir

    return DataLayout(Path(default_data_dir()))


def tracking_uri() -> str:
    from lftiming_assets.resources import build_resources

    return build_resources()["mlflow"].tracking_uri


def definitions_with_alias(alias: str) -> dg.Definitions:
    """The code location's Definitions with the models of ``alias`` instead of ``champion``."""
    from lftiming_assets.definitions import defs
    from lftiming_assets.resources import ModelRegistry, build_resources

    resources = {**build_resources(), "registry": ModelRegistry(tracking_uri=tracking_uri(), alias=alias)}
    return dg.Definitions(assets=list(defs.assets), jobs=list(defs.jobs), resources=resources, loggers=defs.loggers)


def run_or_fail(chip_id: str, *, job: str = "chip_pipeline", defs: dg.Definitions | None = None) -> None:
    from lftiming_assets.cli import run_chip

    run = run_chip(chip_id, job, defs=defs)
    if run.exit_code == 1:
        raise RuntimeError(f"chip {chip_id}: {job} failed (log: {run.log_path})")


def has_well_movies(chip: ChipStore) -> bool:
    from lftiming_ml.store.movies import list_well_movies

    return chip.zarr_path.is_dir() and bool(list_well_movies(chip.zarr_path))


def ensure_pipeline(chip: ChipStore, log: Callable[[str], None]) -> None:
    """The chip's outputs with the champion models, unless its review queue is there: the
    whole pipeline, or from the masks on where its well movies exist (e.g. cut at a grid
    fixed by hand)."""
    from lftiming_ml.store.tables import chip_table_path

    if chip_table_path(chip.tables_dir, "review_queue", chip.chip_id).is_file():
        log(f"{chip.chip_id}: pipeline outputs there")
        return
    job = "segment_chips" if has_well_movies(chip) else "chip_pipeline"
    log(f"{chip.chip_id}: {job} with the champion models ...")
    run_or_fail(chip.chip_id, job=job)


def free_labels(chip: ChipStore, log: Callable[[str], None]) -> str:
    """Write the chip's dye-channel labels; its annotations version after."""
    from lftiming_ml.annotations.sources import fluorescence_records
    from lftiming_ml.annotations.store import write_wells

    records, cells = fluorescence_records(chip)
    if not records:
        raise ValueError(f"chip {chip.chip_id}: its dye channels show no sure cell: no free labels")
    result = write_wells(chip, records)
    log(f"{chip.chip_id}: free labels in {len(records)} wells ({int(cells['kept'].sum())} of {len(cells)} cells sure), "
        f"annotations version {result.version[:12]}")
    return result.version


def select_wells(chips: Sequence[ChipStore], k: int, order: str, seed: int) -> dict[str, list[str]]:
    """``k`` wells over ``chips``: the first of their review queues pooled by score, or drawn at
    random among the wells the pipeline cropped (``seed``)."""
    from lftiming_ml.annotations.review_wells import wells_to_review

    pool = [(c.chip_id, w.well, w.score) for c in chips for w in wells_to_review(c)]
    if order == "queue":
        chosen = sorted(pool, key=lambda t: (-t[2], t[0], t[1]))[:k]
    else:
        chosen = random.Random(seed).sample(sorted(pool), min(k, len(pool)))
    out: dict[str, list[str]] = {c.chip_id: [] for c in chips}
    for chip_id, well, _ in chosen:
        out[chip_id].append(well)
    return out


def simulated_review(chip: ChipStore, wells: Sequence[str]) -> str:
    """The simulated reviewer: the truth of ``wells`` written over their labels."""
    from lftiming_ml.annotations.store import read_manifest, write_wells
    from lftiming_ml.truth.annotations import simulator_records

    if not wells:
        return read_manifest(chip).version
    return write_wells(chip, simulator_records(chip, list(wells))).version


def fine_tune(plan: RoundPlan, versions: Mapping[str, str], log: Callable[[str], None]) -> dict[str, int]:
    """Train each of ``plan.models`` on the simulated corpus and ``versions``' labels; the new
    versions (registered under ``plan.alias``)."""
    from lftiming_assets.cli import materialize_models, train_run_config
    from lftiming_ml.models.registry import resolve_alias

    out = {}
    for model in plan.models:
        log(f"{model}: {'fine-tuning from ' + plan.init if plan.init else 'training from scratch'} for "
            f"{plan.time_budget_min:g} min on {plan.n_chips} simulated chips and the labels of "
            f"{', '.join(f'{c}@{v[:12]}' for c, v in versions.items())} ...")
        config = train_run_config(model, n_chips=plan.n_chips, time_budget_min=plan.time_budget_min,
                                  epochs=None if model == "reid_embedding" else plan.epochs,
                                  init=plan.init, alias=plan.alias,
                                  annotations=[f"{c}@{v}" for c, v in versions.items()],
                                  annotation_provenances=list(plan.provenances),
                                  annotation_share=plan.annotation_share)
        if not materialize_models([model], config):
            raise RuntimeError(f"{model}: training failed (see the run's log above)")
        out[model] = resolve_alias(tracking_uri=tracking_uri(), model_name=model, alias=plan.alias).version
        log(f"{model}: version {out[model]} (alias {plan.alias})")
    return out


def champion_versions() -> dict[str, int]:
    from lftiming_ml.models.registry import resolve_alias

    return {m: resolve_alias(tracking_uri=tracking_uri(), model_name=m).version for m in PIPELINE_MODELS}


SCORE_METRICS = {"segmentation mIoU": "segmentation_miou", "tracking MOTA": "tracking_mota",
                 "cell type accuracy": "celltype_accuracy", "apoptosis accuracy": "apoptosis_accuracy",
                 "contact FN rate": "contact_fn_rate"}
"""MLflow metric name (after ``heldout_<chip>_``) of each of ``SCORES``."""


def score_versions(held_out: Sequence[str], versions: Mapping[str, int], alias: str,
                   log: Callable[[str], None], log_on: Sequence[str] = ()) -> dict[str, dict]:
    """Point ``alias`` at ``versions`` (every pipeline model), run the pipeline with them on
    each held-out chip (from the masks on when its well movies exist) and score it: chip ->
    ``evaluate_chip`` report. The scores are logged as ``heldout_<chip>_<score>`` metrics on
    the MLflow run of each ``log_on`` model's version (so MLflow and ``lftiming compare``
    show champion and candidate side by side)."""
    from lftiming_ml.evaluation.chip import evaluate_chip
    from lftiming_ml.models.registry import log_held_out, move_alias
    from lftiming_ml.truth.files import has_truth

    layout = data_layout()
    for model, version in versions.items():
        move_alias(tracking_uri=tracking_uri(), model_name=model, version=version, alias=alias)
    defs = definitions_with_alias(alias)
    reports = {}
    for chip_id in held_out:
        chip = layout.chip(chip_id)
        if not has_truth(chip.raw_dir):
            raise ValueError(f"held-out chip {chip_id}: no ground truth ({chip.raw_dir / 'gt'}); the round scores "
                             "on chips with truth (simulated chips of the new scope)")
        job = "segment_chips" if has_well_movies(chip) else "chip_pipeline"
        log(f"{chip_id}: {job} with {', '.join(f'{m} v{v}' for m, v in versions.items())} ...")
        run_or_fail(chip_id, job=job, defs=defs)
        reports[chip_id] = evaluate_chip(chip)
        scores = {f"{chip_id}_{SCORE_METRICS[name]}": value for name, (path, _) in SCORES.items()
                  if (value := score_of(reports[chip_id], path)) is not None and np.isfinite(value)}
        for model in log_on:
            log_held_out(tracking_uri=tracking_uri(), model_name=model, version=versions[model], scores=scores)
    return reports


def score_of(report: Mapping, path: Sequence[str]) -> float | None:
    node: object = report
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return None if node is None else float(node)


def mean_scores(reports: Mapping[str, Mapping]) -> dict[str, float | None]:
    out = {}
    for name, (path, _) in SCORES.items():
        values = [v for v in (score_of(r, path) for r in reports.values()) if v is not None]
        out[name] = float(np.mean(values)) if values else None
    return out


def decide(models: Sequence[str], champion: Mapping[str, float | None],
           candidate: Mapping[str, float | None]) -> tuple[bool, list[str]]:
    """(promote, reasons): each model's own score better, no other worse by > TOLERANCE."""
    reasons, ok = [], True
    own = {PRIMARY[m] for m in models}
    for name, (_, higher) in SCORES.items():
        a, b = champion.get(name), candidate.get(name)
        if a is None or b is None:
            continue
        gain = (b - a) if higher else (a - b)
        if name in own and gain <= 0:
            ok = False
            reasons.append(f"{name}: candidate {b:.4f} vs champion {a:.4f}, not better")
        elif name not in own and gain < -TOLERANCE:
            ok = False
            reasons.append(f"{name}: candidate {b:.4f} vs champion {a:.4f}, worse by more than {TOLERANCE}")
        else:
            reasons.append(f"{name}: candidate {b:.4f} vs champion {a:.4f}")
    return ok, reasons


def label_chips(plan: RoundPlan, log: Callable[[str], None]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Steps 1-3: pipeline, free labels, proofreading; per chip its annotations version and
    the wells proofread."""
    layout = data_layout()
    chips = [layout.chip(c) for c in plan.chips]
    versions = {}
    for chip in chips:
        ensure_pipeline(chip, log)
        versions[chip.chip_id] = free_labels(chip, log)
    reviewed = select_wells(chips, plan.review, plan.review_order, plan.seed) if plan.review else {}
    for chip in chips:
        wells = reviewed.get(chip.chip_id, [])
        if plan.reviewer == "simulator" and wells:
            versions[chip.chip_id] = simulated_review(chip, wells)
            log(f"{chip.chip_id}: simulated reviewer proofread {len(wells)} wells ({plan.review_order}), "
                f"annotations version {versions[chip.chip_id][:12]}")
        elif wells:
            log(f"{chip.chip_id}: to proofread in `lftiming review --chip {chip.chip_id} --wells {' '.join(wells)}` "
                "(human reviewer: their labels are used once saved)")
    return versions, reviewed


def bootstrap_round(plan: RoundPlan, log: Callable[[str], None] = print) -> RoundResult:
    """One round, steps 1-6 of the module docstring."""
    from lftiming_ml.models.registry import move_alias

    from lftiming_ml.truth.files import has_truth

    no_truth = [c for c in plan.held_out if not has_truth(data_layout().chip(c).raw_dir)]
    if no_truth:  # refused before anything is trained
        raise ValueError(f"held-out chips {', '.join(no_truth)} have no ground truth; the round scores on chips "
                         "with truth (simulated chips of the new scope)")
    result = RoundResult(plan)
    result.annotation_versions, result.reviewed = label_chips(plan, log)
    result.champion = champion_versions()
    result.candidate = {**result.champion, **fine_tune(plan, result.annotation_versions, log)}
    if not plan.held_out:
        result.reasons = ["no held-out chips: the candidate was not scored and stays under alias " + plan.alias]
        return result
    result.reports["champion"] = score_versions(plan.held_out, result.champion, "bootstrap-champion", log,
                                                log_on=plan.models)
    result.reports["candidate"] = score_versions(plan.held_out, result.candidate, plan.alias, log,
                                                 log_on=plan.models)
    result.scores = {arm: mean_scores(r) for arm, r in result.reports.items()}
    better, result.reasons = decide(plan.models, result.scores["champion"], result.scores["candidate"])
    if better and plan.promote:
        for model in plan.models:
            move_alias(tracking_uri=tracking_uri(), model_name=model, version=result.candidate[model])
        result.promoted = True
    return result


__all__ = ["FINE_TUNABLE", "PRIMARY", "SCORES", "SCORE_METRICS", "TOLERANCE", "RoundPlan", "RoundResult", "bootstrap_round",
           "champion_versions", "decide", "fine_tune", "label_chips", "mean_scores", "score_versions", "select_wells"]
