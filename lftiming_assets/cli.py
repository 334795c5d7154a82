"""The ``lftiming`` command: simulate, validate, run the pipeline, the demo, reports and pictures,
annotations, model versions.

Dagster is imported only by the commands that need it, so ``simulate`` and ``validate``
start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lftiming_ml.chip import ChipValidationError
from lftiming_ml.chip.reader import GT_DIR
from lftiming_ml.sim.config import PRESETS
from lftiming_ml.store.layout import DataLayout
from lftiming_ml.store.lock import ChipBusyError

DEMO_CHIP = "demo-standard-s0"


def project_home() -> Path:
    """The project folder (holds ``dagster.yaml`` and ``data/``): $LFTIMING_HOME or the cwd."""
    return Path(os.environ.get("LFTIMING_HOME", Path.cwd())).resolve()


def _dagster_env(home: Path) -> None:
    if not (home / "dagster.yaml").is_file():
        sys.exit(f"lftiming: {home / 'dagster.yaml'} not found; run from the project folder or set LFTIMING_HOME")
    os.environ.setdefault("DAGSTER_HOME", str(home))
    os.environ.setdefault("LFTIMING_DATA", str(home / "data"))
    os.environ.setdefault("LFTIMING_DAGSTER_DIR", str(home / "data" / "dagster"))
    os.environ.setdefault("LFTIMING_DAGSTER_LOGS", str(home / "data" / "dagster" / "logs"))
    # A terminal run prints one line per step: no MLflow progress bar per model download and
    # no MLflow INFO lines (database creation); the run's log file keeps Dagster's events.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


def cmd_simulate(args: argparse.Namespace) -> int:
    from lftiming_ml.sim.chip import simulate_chip
    from lftiming_ml.sim.config import preset_config

    overrides: dict[str, object] = {"seed": args.seed}
    if args.fields is not None:
        overrides["n_fields"] = args.fields
    if args.frames is not None:
        overrides["n_frames"] = args.frames
    config = preset_config(args.preset, **overrides)
    start = time.perf_counter()
    out = simulate_chip(Path(args.out), config, overwrite=args.overwrite)
    print(f"simulated chip {out.name} ({config.preset}, seed {config.seed}, {config.n_fields} fields x "
          f"{config.n_frames} frames) in {time.perf_counter() - start:.1f} s -> {out}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from lftiming_ml.chip import validate_chip

    manifest, stacks = validate_chip(Path(args.chip_dir))
    print(f"{args.chip_dir}: valid chip {manifest.chip_id}: {len(manifest.fields)} fields, "
          f"{manifest.n_frames} frames, {len(stacks)} stacks")
    return 0


def report_run(instance, run_id: str):
    """Write the run's whole event log to ``$LFTIMING_DAGSTER_LOGS/<run_id>.log`` and print one
    line per failed step with its cause and per failed check, then where that log is.
    Returns the run's summary (``runs.run_summary``) and the log's path."""
    from lftiming_assets.runs import run_summary, write_run_log

    summary = run_summary(instance, run_id)
    logs = Path(os.environ.get("LFTIMING_DAGSTER_LOGS", Path(instance.root_directory) / "logs"))
    log_path = write_run_log(instance, run_id, logs)
    for step, cause in summary.failed_steps:
        print(f"  step {step} FAILED: {cause}")
    for asset, check, hint in summary.failed_checks:
        print(f"  check {asset}:{check} FAILED: {hint}")
    print(f"  whole log of run {run_id}: {log_path}")
    return summary, log_path


class MissingModelsError(LookupError):
    """Models a job needs have no version under the alias the pipeline uses (the message
    names every one and the commands that make them)."""


def missing_models(registry, job_name: str) -> list[str]:
    """The models ``job_name`` loads (``jobs.JOB_MODELS``) that ``registry`` cannot resolve."""
    from lftiming_assets.jobs import JOB_MODELS
    from lftiming_ml.models.registry import ModelNotRegisteredError

    missing = []
    for name in JOB_MODELS.get(job_name, []):
        try:
            registry.resolve(name)
        except ModelNotRegisteredError:
            missing.append(name)
    return missing


def missing_models_message(job_name: str, missing: list[str], registry) -> str:
    commands = "\n".join(f"  lftiming train {name}" for name in missing)
    return (f"{job_name} needs {len(missing)} model(s) with no '{registry.alias}' version in "
            f"{registry.tracking_uri}: {', '.join(missing)}. Train and register them:\n{commands}\n"
            "or run `make demo`, which registers the bundled models of models/ for every model without a "
            "champion, or register bundles trained elsewhere with `lftiming register <bundle>`.")


@dataclass
class ChipRun:
    """What ``run_chip`` did: the run, its summary, the log file and the exit code of
    ``lftiming run`` (0 materialized, 1 a step failed, 3 materialized with failed checks)."""

    run_id: str
    summary: object
    log_path: Path

    @property
    def ok(self) -> bool:
        return self.summary.success

    @property
    def exit_code(self) -> int:
        return 1 if not self.summary.success else 3 if self.summary.failed_checks else 0


def run_chip(chip_id: str, job_name: str = "chip_pipeline", *, defs=None, wait: bool = False,
             verbose: bool = False) -> ChipRun:
    """Run ``job_name`` on chip ``chip_id`` in this process, recorded in the Dagster instance.

    Refuses (``ValueError``) a chip id that is not a safe name before registering it as a
    partition; holds the chip's run lock so a second ``lftiming run`` of the chip is refused
    (``ChipBusyError``; ``wait`` waits instead), as is a chip with a live run launched from
    the UI or the daemon; marks failed the chip's runs whose worker died; refuses
    (``MissingModelsError``) when any model the job needs is missing, naming them all. Then
    prints one line per step while it runs (``progress.progress_logger``; Dagster's event
    stream with ``verbose``), after it one line per failed step with its cause and per
    failed check, and where the run's whole log is (``report_run``). ``defs``: the
    Definitions to run (default the code location's)."""
    from lftiming_assets.runs import (chip_runs_in_progress, execute_in_code_location, get_instance, reap_dead_runs,
                                      worker_tags)
    from lftiming_assets.partitions import chips
    from lftiming_ml.chip.manifest import check_safe_id
    from lftiming_ml.store.layout import chip_work_dir
    from lftiming_ml.store.lock import ChipBusyError, chip_lock
    from lftiming_assets.progress import quiet_run_config

    check_safe_id(chip_id, "chip id")
    own_defs = defs is None
    if own_defs:
        from lftiming_assets.definitions import defs
    tables, registry = defs.resources["tables"], defs.resources["registry"]
    instance = get_instance()
    run_lock = chip_work_dir(tables.store_path(chip_id)) / "run.lock"
    busy_hint = "; wait for it to finish, or pass --wait to queue behind it"
    try:
        with chip_lock(run_lock, chip_id, what=f"lftiming run --job {job_name}", timeout_s=None if wait else 0,
                       on_wait=lambda busy: print(f"{busy}; waiting for it to finish", flush=True)):
            for run_id in reap_dead_runs(instance, chip_id):
                print(f"  run {run_id} of chip {chip_id} had no live worker (killed?): marked failed")
            while others := chip_runs_in_progress(instance, chip_id):
                if not wait:
                    raise ChipBusyError(f"chip {chip_id} has run {others[0].run_id} {others[0].status.value} in "
                                        f"Dagster (launched from the UI or the daemon){busy_hint}")
                time.sleep(2.0)
                reap_dead_runs(instance, chip_id)
            missing = missing_models(registry, job_name)
            if missing:
                raise MissingModelsError(missing_models_message(job_name, missing, registry))
            if not instance.has_dynamic_partition(chips.name, chip_id):
                instance.add_dynamic_partitions(chips.name, [chip_id])
            if own_defs:  # a run of the code location, listed in the UI like those it launches
                run_id = execute_in_code_location(instance, job_name, partition_key=chip_id, tags=worker_tags(),
                                                  run_config=quiet_run_config(verbose=verbose))
            else:  # other Definitions (e.g. a candidate model alias): not the UI's code location
                run_id = defs.resolve_job_def(job_name).execute_in_process(
                    partition_key=chip_id, instance=instance, raise_on_error=False, tags=worker_tags(),
                    run_config=quiet_run_config(verbose=verbose)).run_id
    except ChipBusyError as e:
        raise ChipBusyError(str(e) if busy_hint in str(e) else f"{e}{busy_hint}") from None
    summary, log_path = report_run(instance, run_id)
    return ChipRun(run_id, summary, log_path)


def cmd_run(args: argparse.Namespace) -> int:
    home = project_home()
    _dagster_env(home)
    chip_dir = DataLayout(Path(os.environ["LFTIMING_DATA"])).chip(args.chip).raw_dir
    if not (chip_dir / "chip.json").is_file():
        sys.exit(f"lftiming: no chip {args.chip!r}: {chip_dir / 'chip.json'} not found")
    run = run_chip(args.chip, args.job, wait=args.wait, verbose=args.verbose)
    state = ("materialized" if run.exit_code == 0 else "FAILED" if run.exit_code == 1 else
             f"materialized, but {len(run.summary.failed_checks)} check(s) FAILED (exit code 3)")
    print(f"chip {args.chip} ({args.job}): {state}")
    return run.exit_code


def materialize_models(selection: list[str], run_config: dict | None = None, *, verbose: bool = False) -> bool:
    """Materialize unpartitioned model assets in this process (recorded in the instance)."""
    import dagster as dg

    from lftiming_assets.definitions import defs
    from lftiming_assets.progress import quiet_run_config
    from lftiming_assets.runs import get_instance

    instance = get_instance()
    job = defs.resolve_job_def("train_models")
    result = job.execute_in_process(instance=instance, raise_on_error=False,
                                    asset_selection=[dg.AssetKey(k) for k in selection],
                                    run_config=quiet_run_config(run_config, verbose=verbose))
    report_run(instance, result.run_id)
    return result.success


def has_champion(model_name: str) -> bool:
    from lftiming_assets.resources import build_resources
    from lftiming_ml.models.registry import ModelNotRegisteredError

    try:
        build_resources()["registry"].resolve(model_name)
        return True
    except ModelNotRegisteredError:
        return False


def train_run_config(model: str, *, profile: str = "cpu", n_chips: int | None = None, epochs: int | None = None,
                     time_budget_min: float | None = None, **finetune: object) -> dict:
    """Run config of the ``train_models`` job for one model asset (``TrainModelConfig``);
    ``finetune``: its ``init``, ``alias``, ``annotations``, ``validate_annotations``,
    ``annotation_provenances``, ``annotation_share`` (None or empty: left out)."""
    config: dict[str, object] = {"profile": profile}
    for key, value in (("n_chips", n_chips), ("epochs", epochs), ("time_budget_min", time_budget_min),
                       *finetune.items()):
        if value or (key == "annotation_share" and value is not None):
            config[key] = value
    return {"ops": {model: {"config": config}}}


def cmd_train(args: argparse.Namespace) -> int:
    _dagster_env(project_home())
    if args.epochs and args.model == "reid_embedding":
        sys.exit("lftiming train: reid_embedding trains for a time budget (--time-budget-min), not epochs")
    finetune = {"init": args.init, "alias": args.alias, "annotations": args.annotations,
                "validate_annotations": args.validate_annotations, "annotation_provenances": args.provenance,
                "annotation_share": args.annotation_share}
    run_config = train_run_config(args.model, profile=args.profile, n_chips=args.n_chips, epochs=args.epochs,
                                  time_budget_min=args.time_budget_min, **finetune)
    ok = materialize_models([args.model], run_config, verbose=args.verbose)
    print(f"{args.model}: {f'trained and registered (alias {args.alias})' if ok else 'FAILED'}")
    return 0 if ok else 1


def cmd_register(args: argparse.Namespace) -> int:
    from lftiming_assets.resources import build_resources
    from lftiming_ml.bundled import check_bundle_builds, register_shipped
    from lftiming_ml.classification.serving import MODEL_NAMES as CLASSIFIER_NAMES
    from lftiming_ml.models.bundle import BundleError, read_bundle
    from lftiming_ml.models.card import CARD_JSON
    from lftiming_ml.models.registry import register_bundle
    from lftiming_ml.reid.config import MODEL_NAME as REID_NAME
    from lftiming_ml.segmentation.config import MODEL_NAMES
    from lftiming_ml.wells.detector_config import MODEL_NAME as DETECTOR_NAME

    offline = sorted([*MODEL_NAMES.values(), REID_NAME, DETECTOR_NAME, *CLASSIFIER_NAMES.values()])

    _dagster_env(project_home())
    mlflow = build_resources()["mlflow"]
    try:
        bundle = read_bundle(args.bundle)
        if bundle.model_name not in offline:
            sys.exit(f"lftiming register: {args.bundle}: model {bundle.model_name!r} is not one of {offline}")
        if (args.bundle / CARD_JSON).is_file():  # a bundled model: checksums checked, tagged source=bundled
            info = register_shipped(args.bundle, tracking_uri=mlflow.tracking_uri,
                                    artifact_location=mlflow.artifact_location(), alias=args.alias)
        else:
            check_bundle_builds(bundle, args.bundle)
            info = register_bundle(bundle, tracking_uri=mlflow.tracking_uri, alias=args.alias,
                                   artifact_location=mlflow.artifact_location(), source=str(args.bundle.resolve()))
    except BundleError as e:
        sys.exit(f"lftiming register: {e}")
    metrics = ", ".join(f"{k} {bundle.metrics[k]:.4f}" for k in ("val_miou", "val_effector_verification", "train_seconds")
                        if k in bundle.metrics)
    print(f"{info.name} version {info.version} registered (alias {info.alias}) from {args.bundle}"
          f"{f': {metrics}' if metrics else ''}")
    if info.name == "locsnet" and args.alias == "champion":
        print("the pipeline uses it from the next run; re-segment existing chips with "
              "`lftiming run --chip <id> --job segment_chips`")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from lftiming_assets.resources import build_resources
    from lftiming_ml.models.registry import ModelNotRegisteredError, move_alias

    _dagster_env(project_home())
    try:
        info = move_alias(tracking_uri=build_resources()["mlflow"].tracking_uri, model_name=args.model,
                          version=args.version, alias=args.alias)
    except ModelNotRegisteredError as e:
        sys.exit(f"lftiming promote: {e}")
    print(f"{info.name}: alias {info.alias} -> version {info.version}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from lftiming_ml.evaluation.chip import evaluate_chip, format_report

    home = project_home()
    data = Path(os.environ.get("LFTIMING_DATA", home / "data"))
    report = evaluate_chip(DataLayout(data).chip(args.chip))
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def _data_layout() -> DataLayout:
    return DataLayout(Path(os.environ.get("LFTIMING_DATA", project_home() / "data")))


def _print_write(result, what: str) -> None:
    print(f"{what}: {len(result.written)} wells written ({', '.join(result.written) or 'none'}), "
          f"{len(result.unchanged)} unchanged")
    print(f"annotations version {result.version}")


def cmd_annotate(args: argparse.Namespace) -> int:
    from lftiming_ml.annotations.fluorescence import FluorescenceLabelParams
    from lftiming_ml.annotations.sources import pipeline_records
    from lftiming_ml.annotations.store import write_wells
    from lftiming_ml.segmentation.config import MODEL_NAMES

    chip = _data_layout().chip(args.chip)
    if args.restore:
        from lftiming_ml.annotations.store import restore_version

        if args.source or args.wells:
            sys.exit("lftiming annotate: --restore makes an earlier version current; it takes no --from or --wells")
        manifest = restore_version(chip, _annotation_version(chip, args.restore))
        print(f"chip {args.chip}: annotations version {manifest.version} is current again ({len(manifest.wells)} wells)")
        return 0
    if not args.source:
        sys.exit("lftiming annotate: give --from (simulator, model or fluorescence) or --restore VERSION")
    if args.source == "simulator":
        from lftiming_ml.truth.annotations import simulator_records

        records = simulator_records(chip, args.wells)
    elif args.source == "fluorescence":
        from lftiming_ml.annotations.sources import fluorescence_records
        from lftiming_ml.io import atomic_file

        records, cells = fluorescence_records(chip, args.wells)
        if cells.empty:
            sys.exit(f"lftiming annotate: chip {args.chip}: the dye channels show no cell in any well")
        report = chip.reports_dir / "fluorescence_labels.csv"
        with atomic_file(report) as tmp:
            cells.to_csv(tmp, index=False)
        frames = cells.drop_duplicates(["well", "frame"])
        print(f"chip {args.chip}: {len(cells)} cells found in the dye channels, {int(cells['kept'].sum())} sure "
              f"(quality >= {FluorescenceLabelParams().min_quality}); {int(frames['frame_kept'].sum())} of "
              f"{len(frames)} well-frames kept whole ({'seeded by the phase model' if cells['phase_seeded'].any() else 'no phase instances to seed them'}); "
              f"per-cell scores in {report}")
    else:
        records = pipeline_records(chip, args.wells, segmenter=MODEL_NAMES["locsnet"])
    _print_write(write_wells(chip, records), f"chip {args.chip}, labels from {args.source}")
    return 0


def cmd_label_wells(args: argparse.Namespace) -> int:
    import numpy as np

    from lftiming_ml.annotations.grid import FieldGridLabel, parse_point
    from lftiming_ml.annotations.proofread import default_user
    from lftiming_ml.annotations.schema import LabelSource, parse_well_name
    from lftiming_ml.annotations.store import write_grids
    from lftiming_ml.chip import read_manifest
    from lftiming_ml.io import atomic_file
    from lftiming_ml.wells.annotated import grid_label_preview

    chip = _data_layout().chip(args.chip)
    manifest = read_manifest(chip.raw_dir)
    known = [f.field_id for f in manifest.fields]
    unknown = sorted(set(args.fields or ()) - set(known))
    if unknown:
        sys.exit(f"lftiming label-wells: chip {args.chip} has no field {', '.join(unknown)} (fields: {', '.join(known)})")
    if args.source == "simulator":
        from lftiming_ml.truth.annotations import simulator_grid_labels

        if args.corners or args.empty:
            sys.exit("lftiming label-wells: --from simulator takes the corners and empty wells from the truth")
        labels = simulator_grid_labels(chip.raw_dir, manifest, args.fields, frame=args.frame)
    else:
        if not args.fields or len(args.fields) != 1 or not args.corners:
            sys.exit("lftiming label-wells: give one --fields FIELD and --corners TOP_LEFT TOP_RIGHT BOTTOM_LEFT "
                     "(each y,x in field px), or --from simulator")
        empty = None
        if args.empty is not None:
            empty = tuple((r, c) for _, r, c in (parse_well_name(f"{args.fields[0]}/{w}") for w in args.empty))
        tl, tr, bl = (parse_point(p) for p in args.corners)
        labels = [FieldGridLabel(chip_id=manifest.chip_id, field_id=args.fields[0], frame=args.frame, top_left=tl,
                                 top_right=tr, bottom_left=bl, empty=empty,
                                 source=LabelSource.now(f"human:{args.user or default_user()}"))]
    result = write_grids(chip, labels, manifest)
    n = manifest.layout.wells_per_block
    for g in labels:
        _, rv, cv = g.lattice(n)
        preview = chip.reports_dir / f"grid_label_{g.field_id}.png"
        with atomic_file(preview) as tmp:
            tmp.write_bytes(grid_label_preview(chip.raw_dir, manifest, g))
        print(f"{g.field_id}: {n} x {n} wells, pitch {np.linalg.norm(rv):.1f} / {np.linalg.norm(cv):.1f} px, rotation "
              f"{np.degrees(np.arctan2(cv[0], cv[1])):+.2f} deg, "
              f"{'occupancy not labelled' if g.empty is None else f'{len(g.empty)} empty'} ({g.source.provenance}); "
              f"look at the wells on the frame: {preview}")
    print(f"chip {args.chip}: grid labels of {len(result.written)} fields written "
          f"({', '.join(result.written) or 'none'}), {len(result.unchanged)} unchanged")
    print(f"annotations version {result.version}")
    print(f"fine-tune the well detector on them: lftiming train well_detector --init champion --annotations {args.chip}")
    return 0


def _annotation_version(chip, prefix: str) -> str:
    """The chip's annotations version that ``prefix`` (8+ hex digits) names, or exit naming them."""
    from lftiming_ml.annotations.store import list_versions

    versions = [m.version for m in list_versions(chip)]
    found = [v for v in versions if v.startswith(prefix.lower())] if len(prefix) >= 8 else []
    if len(found) != 1:
        sys.exit(f"lftiming annotate: chip {chip.chip_id} has {'no' if not found else 'more than one'} annotations "
                 f"version {prefix!r} (give 8 or more hex digits); versions: {', '.join(v[:12] for v in versions) or 'none'}")
    return found[0]


def cmd_bootstrap(args: argparse.Namespace) -> int:
    import json

    from lftiming_assets.bootstrap import RoundPlan, bootstrap_round

    _dagster_env(project_home())
    plan = RoundPlan(chips=tuple(args.chips), held_out=tuple(args.held_out), models=tuple(args.models),
                     review=args.review, review_order=args.review_order, reviewer=args.reviewer,
                     init=None if args.init == "scratch" else args.init, time_budget_min=args.time_budget_min,
                     epochs=args.epochs, n_chips=args.n_chips, annotation_share=args.annotation_share, alias=args.alias,
                     seed=args.seed,
                     promote=not args.no_promote)
    result = bootstrap_round(plan, log=lambda line: print(line, flush=True))
    print("round: " + "; ".join(f"{m} v{result.champion[m]} -> v{v}" for m, v in result.candidate.items()
                                 if m in plan.models))
    for line in result.reasons:
        print(f"  {line}")
    if plan.held_out:
        verdict = ("promoted: alias champion now points at the candidate" if result.promoted else
                   f"scored only (--no-promote): the candidate keeps alias {plan.alias}" if not plan.promote else
                   f"not promoted: the champion stays; the candidate keeps alias {plan.alias}")
        print(verdict)
        print(f"the held-out chips' tables now hold the candidate's outputs (rows carry model versions); "
              f"`lftiming run --chip <id> --job segment_chips` redoes them with the champion")
    if args.json:
        Path(args.json).write_text(json.dumps(result.as_dict(), indent=1, default=float) + "\n")
        print(f"round written to {args.json}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from lftiming_ml.annotations.exchange import export_wells
    from lftiming_ml.annotations.sources import pipeline_records
    from lftiming_ml.annotations.store import read_manifest, read_well
    from lftiming_ml.segmentation.config import MODEL_NAMES

    layout = _data_layout()
    chip = layout.chip(args.chip)
    out = Path(args.out) if args.out else layout.export_dir(args.chip, args.format)
    manifest = read_manifest(chip)
    wanted = set(args.wells) if args.wells else None
    annotated = [w for w in sorted(manifest.wells) if wanted is None or w in wanted]
    folders = []
    if args.source in ("annotations", "auto") and annotated:
        records = [read_well(chip, w) for w in annotated]
        folders += export_wells(chip, records, out, args.format, origin=f"annotations@{manifest.version}")
    if args.source == "annotations":
        missing = sorted((wanted or set()) - set(annotated))
        if missing or not annotated:
            sys.exit(f"lftiming export: chip {args.chip} has no annotations for {', '.join(missing) or 'any well'} "
                     "(use --from model, or `lftiming annotate`)")
    if args.source in ("model", "auto"):
        rest = None if wanted is None else sorted(wanted - set(annotated if args.source == "auto" else []))
        tracked = chip.table_path("cell_tracks").is_file()
        if (rest is None and (tracked or args.source == "model")) or rest:
            records = [r for r in pipeline_records(chip, rest, segmenter=MODEL_NAMES["locsnet"])
                       if args.source == "model" or r.well not in annotated]
            folders += export_wells(chip, records, out, args.format, origin="model")
    for folder in folders:
        print(f"  {folder}")
    print(f"chip {args.chip}: {len(folders)} wells exported as {args.format} -> {out}")
    print(f"edit them, then: lftiming import --chip {args.chip} --format {args.format} {out} --source human:<name>")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from lftiming_ml.annotations.exchange import import_wells

    chip = _data_layout().chip(args.chip)
    result, wells = import_wells(chip, Path(args.path), args.format, args.source)
    for w in wells:
        print(f"  {w.record.well} <- {w.folder}: {w.record.n_tracks} tracks; from {args.source}: {w.new_masks} "
              f"track-frame masks, {w.new_types} cell types, {w.new_deaths} deaths")
    _print_write(result, f"chip {args.chip}, import from {args.path}")
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from lftiming_ml.annotations.proofread import default_user
    from lftiming_ml.annotations.review_wells import wells_to_review
    from lftiming_ml.segmentation.config import MODEL_NAMES

    chip = _data_layout().chip(args.chip)
    queue = wells_to_review(chip, top=None if args.wells else args.top, wells=args.wells)
    if not queue:
        sys.exit(f"lftiming review: chip {args.chip} has no wells to review")
    ranked_by = queue[0].ranked_by
    print(f"chip {args.chip}: {len(queue)} wells to review ({ranked_by}): {', '.join(w.well for w in queue)}")
    try:
        from lftiming_ml.annotations.proofread_window import run_review

        return run_review(chip, queue, user=args.user or default_user(), segmenter=MODEL_NAMES["locsnet"],
                          screenshot=Path(args.screenshot) if args.screenshot else None, frame=args.frame)
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] in ("napari", "qtpy", "PyQt5", "vispy"):
            sys.exit(f"lftiming review needs napari and a Qt binding ({e.name} is missing): "
                     "pip install -e '.[review]'")
        raise


def _tracking_uri(layout: DataLayout) -> str:
    """$MLFLOW_TRACKING_URI, else the data folder's sqlite registry (as ``resources.build_resources``)."""
    return os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{(layout.mlflow_dir / 'mlflow.db').resolve()}")


def _truth_views(chip, wanted: bool):
    """Truth views of the chip's wells when wanted and the chip has ground truth, else None."""
    if not wanted:
        return None
    from functools import partial

    from lftiming_ml.evaluation.well_views import chip_has_truth, truth_well_views

    return partial(truth_well_views, chip) if chip_has_truth(chip) else None


def cmd_report(args: argparse.Namespace) -> int:
    from lftiming_ml.qa.report import ReportParams, write_chip_report

    layout = _data_layout()
    chip = layout.chip(args.chip)
    params = ReportParams(top=args.top, with_truth=not args.no_truth, n_frames=args.frames, zoom=args.zoom)
    result = write_chip_report(chip, params, tracking_uri=_tracking_uri(layout),
                               truth_views=_truth_views(chip, params.with_truth),
                               out=Path(args.out) if args.out else None)
    print(f"chip {args.chip}: report with {len(result.wells)} wells to review ({result.ranked_by}"
          f"{', prediction above truth' if result.with_truth else ''}), {result.n_bytes / 1e6:.1f} MB, "
          f"{result.seconds:.1f} s")
    print(f"report: {result.path}")
    return 0


def cmd_filmstrip(args: argparse.Namespace) -> int:
    from lftiming_ml.qa.filmstrip import FilmstripStyle, animation_gif, filmstrip_png
    from lftiming_ml.qa.views import ChipOutputs, predicted_well_view

    chip = _data_layout().chip(args.chip)
    style = FilmstripStyle(n_frames=args.frames, zoom=args.zoom)
    out = Path(args.out) if args.out else chip.reports_dir / "filmstrips"
    out.mkdir(parents=True, exist_ok=True)
    outputs = ChipOutputs(chip)
    truth_views = _truth_views(chip, not args.no_truth)
    truth = truth_views(args.wells) if truth_views is not None else {}
    for well in args.wells:
        views = [predicted_well_view(chip, well, outputs)] + ([truth[well]] if well in truth else [])
        stem = out / well.replace("/", "-")
        stem.with_suffix(".png").write_bytes(filmstrip_png(views, style=style))
        written = [stem.with_suffix(".png")]
        if args.gif:
            stem.with_suffix(".gif").write_bytes(animation_gif(views, style=style))
            written.append(stem.with_suffix(".gif"))
        print(f"{well} ({' | '.join(v.label for v in views)}): {', '.join(str(p) for p in written)}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from lftiming_ml.models.registry import ModelNotRegisteredError, compare_versions
    from lftiming_ml.sql import format_result

    try:
        table = compare_versions(tracking_uri=_tracking_uri(_data_layout()), model_name=args.model,
                                 versions=(args.v1, args.v2), all_params=args.all)
    except ModelNotRegisteredError as e:
        sys.exit(f"lftiming compare: {e}")
    values = [c for c in table.columns if c not in ("section", "name", "differs")]  # names stay whole
    print(format_result(table, max_width=args.width or None, cut_columns=values))
    return 0


DEMO_MODELS: list[tuple[str, dict, str]] = [
    ("well_detector", {}, "cpu profile, ~3 min"),
    ("locsnet", {"epochs": 1}, "cpu profile, 1 epoch on 10 simulated chips, ~6 min"),
    ("reid_embedding", {}, "cpu profile re-identification embedding for the tracker, ~6 min"),
    ("celltype_classifier", {}, "cpu profile CNN-LSTM, labels from fluorescence, a few minutes"),
    ("apoptosis_classifier", {}, "cpu profile CNN-LSTM, labels from fluorescence, a few minutes"),
]
"""What ``lftiming demo --train`` trains for a model without a champion: (asset,
``train_run_config`` keywords, cost on 2 cores). Without ``--train`` the demo registers the
bundled model of ``models/<asset>`` (``lftiming_ml.bundled``) instead. ``lftiming train
<model>`` trains the full profile later; the pipeline uses the ``champion`` alias."""


def provide_models(*, train: bool, verbose: bool) -> bool:
    """Give every pipeline model without a champion one: its bundled model (checked and
    registered, ``source=bundled``) or, with ``train`` or when no bundle is there, a model
    trained here. False if one fails."""
    from lftiming_assets.resources import build_resources
    from lftiming_ml.bundled import MODELS_DIR, register_shipped
    from lftiming_ml.models.bundle import BundleError

    mlflow = build_resources()["mlflow"]
    for model, config, cost in DEMO_MODELS:
        if has_champion(model):
            continue
        bundle = MODELS_DIR / model
        if not train and bundle.is_dir():
            try:
                info = register_shipped(bundle, tracking_uri=mlflow.tracking_uri,
                                        artifact_location=mlflow.artifact_location())
            except BundleError as e:
                print(f"bundled {model} refused: {e}\n(re-checkout models/{model}, or train with `make demo TRAIN=1`)")
                return False
            print(f"  {model:<22} bundled model registered as version {info.version} (alias champion)")
            continue
        print(f"training {model} ({cost}; first run only)...")
        run_config = train_run_config(model, **config) if config else None
        if not materialize_models([model], run_config, verbose=verbose):
            print(f"{model} training FAILED")
            return False
    return True


OUTCOME_QUERY = """
SELECT et_group, n AS wells, n_killed AS wells_with_kill, round(frequency, 2) AS killing_frequency,
       round(ci_low, 2) AS ci_low, round(ci_high, 2) AS ci_high
FROM killing_frequency WHERE chip_id = $chip AND unit = 'well' ORDER BY et_group"""


def print_outcomes(data: Path, chip_id: str) -> None:
    """The chip's killing frequency by E:T group (SQL on the outcome tables) and its plots."""
    from lftiming_ml.sql import format_result, run_query

    database = Path(os.environ.get("LFTIMING_DUCKDB", DataLayout(data).duckdb_path))
    print(f"\nkilling frequency by E:T group ({chip_id}; share of wells with a kill, Wilson 95% CI):")
    print(format_result(run_query(database, OUTCOME_QUERY, {"chip": chip_id})))
    print("plots:")
    for png in sorted(DataLayout(data).chip(chip_id).reports_dir.glob("*.png")):
        print(f"  {png}")


def cmd_demo(args: argparse.Namespace) -> int:
    home = project_home()
    _dagster_env(home)
    data = Path(os.environ["LFTIMING_DATA"])
    chip_dir = DataLayout(data).chip(DEMO_CHIP).raw_dir
    if not (chip_dir / "chip.json").is_file():
        cmd_simulate(argparse.Namespace(out=str(chip_dir), seed=0, fields=None, frames=None,
                                        preset="standard", overwrite=False))
    else:
        print(f"demo chip exists: {chip_dir}")
    if not provide_models(train=args.train, verbose=args.verbose):
        return 1
    start = time.perf_counter()
    print(f"pipeline on {DEMO_CHIP}:")
    ok = run_chip(DEMO_CHIP, verbose=args.verbose).ok
    print(f"pipeline on {DEMO_CHIP}: {'materialized' if ok else 'FAILED'} in {time.perf_counter() - start:.1f} s")
    if ok:
        print_outcomes(data, DEMO_CHIP)
    layout = DataLayout(data)
    store = layout.chip(DEMO_CHIP)
    print(f"""
outputs
  raw chip        {store.raw_dir}
  ground truth    {store.raw_dir / GT_DIR}
  tables          {layout.tables_dir}   (SQL: {layout.duckdb_path})
  well movies     {store.zarr_path}   (napari --plugin napari-ome-zarr <store>/wells/f000/r0c1)
  reports         {store.reports_dir}
  chip report     {store.reports_dir / "report.html"}   (open it in a browser; `lftiming report --chip {DEMO_CHIP}` rewrites it)
Scores vs ground truth: .venv/bin/lftiming evaluate --chip {DEMO_CHIP}
Dagster UI: make ui   then open http://127.0.0.1:3000 (chips appear as partitions)""")
    return 0 if ok else 1


def cmd_montage(args: argparse.Namespace) -> int:
    from lftiming_ml.sim.montage import chip_montage

    out = chip_montage(Path(args.chip_dir), Path(args.out), field_index=args.field)
    print(f"montage -> {out}")
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    from lftiming_ml.sql import format_result, parse_params, run_query

    home = project_home()
    data = Path(os.environ.get("LFTIMING_DATA", home / "data"))
    database = Path(args.db or os.environ.get("LFTIMING_DUCKDB", DataLayout(data).duckdb_path))
    result = run_query(database, args.query, parse_params(args.param))
    print(format_result(result, "csv" if args.csv else "json" if args.json else "table"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lftiming", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("simulate", help="write a simulated raw chip (and gt/) to --out")
    s.add_argument("--out", required=True, help="chip folder to create; its name is the chip id")
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--fields", type=int, default=None, help="fields of view (6x6 blocks), default 2")
    s.add_argument("--frames", type=int, default=None, help="frames, default 72 (6 h at 5 min)")
    s.add_argument("--preset", choices=list(PRESETS), default="standard")
    s.add_argument("--overwrite", action="store_true", help="replace an existing chip folder")
    s.set_defaults(func=cmd_simulate)

    v = sub.add_parser("validate", help="check a raw chip folder against the contract")
    v.add_argument("chip_dir")
    v.set_defaults(func=cmd_validate)

    r = sub.add_parser("run", help="materialize every asset of one chip (no UI needed)")
    r.add_argument("--chip", required=True, help="chip id (folder under data/raw/)")
    r.add_argument("--job", choices=["chip_pipeline", "segment_chips"], default="chip_pipeline",
                   help="segment_chips: cell masks (champion LOCSNET) and everything after them, for a "
                        "chip whose well movies exist (after a new LOCSNET version)")
    r.add_argument("--wait", action="store_true",
                   help="when the chip is being run already, wait for that run to end instead of refusing")
    r.add_argument("-v", "--verbose", action="store_true", help="print Dagster's whole event stream")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="simulate the demo chip if missing, register the bundled models (models/) "
                                    "where no champion exists, then run the pipeline on it")
    d.add_argument("--train", action="store_true",
                   help="train every model without a champion here instead of registering the bundled ones")
    d.add_argument("-v", "--verbose", action="store_true", help="print Dagster's whole event stream")
    d.set_defaults(func=cmd_demo)

    t = sub.add_parser("train", help="train a model asset and register it in MLflow (alias champion)")
    t.add_argument("model", choices=["well_detector", "locsnet", "mask_rcnn_baseline", "reid_embedding",
                                     "celltype_classifier", "apoptosis_classifier"])
    t.add_argument("--profile", choices=["cpu", "paper"], default="cpu")
    t.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    t.add_argument("--n-chips", type=int, default=None,
                   help="simulated training chips (the corpus size; part of it validates); default: the "
                        "model's (10 short chips for the segmenters, 4 full chips for the classifiers)")
    t.add_argument("--time-budget-min", type=float, default=None,
                   help="stop training after this many minutes")
    t.add_argument("--alias", default="champion", help="alias the new version gets (default champion, what the "
                                                       "pipeline uses; e.g. candidate to compare first)")
    t.add_argument("--init", default=None, metavar="ALIAS|VERSION|BUNDLE",
                   help="fine-tune: start from these weights of the same model (champion, 3, a bundle folder)")
    t.add_argument("--annotations", nargs="+", default=[], metavar="CHIP[@VERSION]",
                   help="curated labels to train on besides the simulated corpus (the chip's current version, "
                        "or the one named); well_detector uses the fields' grid labels (lftiming label-wells)")
    t.add_argument("--validate-annotations", nargs="+", default=[], metavar="CHIP[@VERSION]",
                   help="curated labels to validate on (val_annotations_* metrics)")
    t.add_argument("--provenance", nargs="+", default=[], metavar="P",
                   help="only labels of these provenances (human, human:<name>, fluorescence, model, simulator)")
    t.add_argument("--annotation-share", type=float, default=None,
                   help="share of the training samples drawn from the annotations (default: every sample once)")
    t.add_argument("-v", "--verbose", action="store_true", help="print Dagster's whole event stream")
    t.set_defaults(func=cmd_train)

    g = sub.add_parser("register", help="register a training bundle (a model trained elsewhere, e.g. by "
                                        "`python -m lftiming_ml.segmentation.offline` or `python -m lftiming_ml.reid.offline` on a GPU machine) in MLflow")
    g.add_argument("bundle", type=Path, help="bundle folder (state_dict.pt + bundle.json)")
    g.add_argument("--alias", default="champion", help="alias the new version gets (default: champion)")
    g.set_defaults(func=cmd_register)

    o = sub.add_parser("promote", help="point an alias (default champion: what the pipeline uses) at a registered version")
    o.add_argument("model", help="registered model name, e.g. locsnet")
    o.add_argument("version", type=int)
    o.add_argument("--alias", default="champion")
    o.set_defaults(func=cmd_promote)

    e = sub.add_parser("evaluate", help="score a chip's outputs against its ground truth")
    e.add_argument("--chip", required=True)
    e.add_argument("--json", action="store_true", help="print JSON")
    e.set_defaults(func=cmd_evaluate)

    q = sub.add_parser("sql", help="run one read-only SQL query on the outcome tables of all chips")
    q.add_argument("query", help='e.g. "SELECT et_group, count(*) FROM well_outcomes GROUP BY et_group"')
    q.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="value of $NAME in the query (JSON number/true/false/\"string\", else text); repeatable")
    q.add_argument("--db", default=None, help="DuckDB file (default $LFTIMING_DUCKDB or data/lftiming.duckdb)")
    shape = q.add_mutually_exclusive_group()
    shape.add_argument("--csv", action="store_true", help="print CSV")
    shape.add_argument("--json", action="store_true", help="print JSON records")
    q.set_defaults(func=cmd_sql)

    a = sub.add_parser("annotate", help="write a chip's well labels into its annotations store from the "
                                         "simulator's truth, the pipeline's own outputs or the dye channels")
    a.add_argument("--chip", required=True)
    a.add_argument("--from", dest="source", choices=["simulator", "model", "fluorescence"],
                   help="simulator: the truth of a simulated chip (gt/); model: tracks, types, deaths of the pipeline; "
                        "fluorescence: cell masks and types from the dye channels (doubtful cells left out)")
    a.add_argument("--wells", nargs="+", default=None, metavar="WELL", help="only these wells, e.g. f000/r0c1")
    a.add_argument("--restore", metavar="VERSION", help="make an earlier annotations version current again "
                                                        "(its first 8+ hex digits; later writes stay restorable)")
    a.set_defaults(func=cmd_annotate)

    lw = sub.add_parser("label-wells", help="give a field's well grid by hand (three corner wells' centres) when the "
                                             "well detector misses it; the well detector fine-tunes on these labels")
    lw.add_argument("--chip", required=True)
    lw.add_argument("--fields", nargs="+", default=None, metavar="FIELD", help="the field (by hand: exactly one), e.g. f000")
    lw.add_argument("--corners", nargs=3, metavar="Y,X",
                    help="centres (field px) of the block's wells (0,0), (0,n-1) and (n-1,0): top left, top right, "
                         "bottom left")
    lw.add_argument("--empty", nargs="*", default=None, metavar="rRcC",
                    help="wells seen empty, e.g. r0c3 r5c1 (not given: occupancy not labelled; every well counts "
                         "as occupied)")
    lw.add_argument("--frame", type=int, default=0, help="the frame the centres were read on (default 0)")
    lw.add_argument("--user", default=None, help="who labels: human:<user> (default: the OS user)")
    lw.add_argument("--from", dest="source", choices=["simulator"], default=None,
                    help="simulator: every field's grid from the truth of a simulated chip (gt/)")
    lw.set_defaults(func=cmd_label_wells)

    b = sub.add_parser("bootstrap", help="one round of fitting the models to a new scope: pipeline, free labels, "
                                          "proofreading, fine-tuning, scoring on held-out chips, promotion if better")
    b.add_argument("--chips", nargs="+", required=True, help="chips of the new scope (with dye channels)")
    b.add_argument("--held-out", nargs="*", default=[], help="chips of the new scope with ground truth to score on")
    b.add_argument("--models", nargs="+", default=["locsnet"],
                   choices=["locsnet", "reid_embedding", "celltype_classifier", "apoptosis_classifier"])
    b.add_argument("--review", type=int, default=20, help="wells to proofread over all chips (0: free labels only)")
    b.add_argument("--review-order", choices=["queue", "random"], default="queue")
    b.add_argument("--reviewer", choices=["simulator", "human"], default="human",
                   help="human: use the labels saved in `lftiming review`; simulator: copy the truth (simulated chips)")
    b.add_argument("--init", default="champion", help="weights to start from (champion, a version) or 'scratch'")
    b.add_argument("--time-budget-min", type=float, default=4.0, help="training minutes per model")
    b.add_argument("--epochs", type=int, default=None,
                   help="passes for the models trained by epochs (not reid_embedding); default: their recipe's "
                        "(the budget still stops them first)")
    b.add_argument("--n-chips", type=int, default=2, help="simulated chips mixed into the corpus")
    b.add_argument("--annotation-share", type=float, default=0.5, help="share of samples from the chips' labels")
    b.add_argument("--alias", default="candidate")
    b.add_argument("--seed", type=int, default=0, help="seed of the random review order")
    b.add_argument("--no-promote", action="store_true", help="score only; leave the champion as it is")
    b.add_argument("--json", help="write the round (plan, versions, scores, decision) to this file")
    b.set_defaults(func=cmd_bootstrap)

    x = sub.add_parser("export", help="write a chip's wells for editing: CTC sequences (Fiji, TrackMate) or napari folders")
    x.add_argument("--chip", required=True)
    x.add_argument("--format", choices=["ctc", "napari"], required=True)
    x.add_argument("--wells", nargs="+", default=None, metavar="WELL", help="only these wells, e.g. f000/r0c1")
    x.add_argument("--out", default=None, help="folder to write (default data/exports/<chip>/<format>)")
    x.add_argument("--from", dest="source", choices=["auto", "annotations", "model"], default="auto",
                   help="labels to export: the annotations store, the pipeline's outputs, or auto (annotations "
                        "where a well has them, else the pipeline's)")
    x.set_defaults(func=cmd_export)

    i = sub.add_parser("import", help="bring edited wells (CTC or napari folders) back into the annotations store")
    i.add_argument("--chip", required=True)
    i.add_argument("--format", choices=["ctc", "napari"], required=True)
    i.add_argument("path", help="one exported well folder, or the folder holding them")
    i.add_argument("--source", required=True, help="provenance of the new or changed labels, e.g. human:alice")
    i.set_defaults(func=cmd_import)

    w = sub.add_parser("review", help="proofread the most suspicious wells in napari; Save writes them into the "
                                       "annotations store as human:<user>")
    w.add_argument("--chip", required=True)
    w.add_argument("--top", type=int, default=10, help="the K most suspicious wells (default 10): the review_queue "
                                                       "table's order, else the fallback ranking")
    w.add_argument("--wells", nargs="+", default=None, metavar="WELL", help="open these wells instead, e.g. f000/r0c1")
    w.add_argument("--user", default=None, help="who reviews: labels saved get human:<user> (default: the OS user)")
    w.add_argument("--screenshot", default=None, metavar="PNG",
                   help="draw the first well without showing the window, save the window as PNG and exit")
    w.add_argument("--frame", type=int, default=None, help="frame to show first (default 0)")
    w.set_defaults(func=cmd_review)

    rp = sub.add_parser("report", help="write the chip's report: one HTML file with counts, killing curves, "
                                        "kinetics, the wells needing review with filmstrips, tables and models")
    rp.add_argument("--chip", required=True)
    rp.add_argument("--top", type=int, default=12, help="wells to review shown with filmstrips (default 12)")
    rp.add_argument("--frames", type=int, default=8, help="frames per filmstrip (default 8)")
    rp.add_argument("--zoom", type=int, default=2, help="screen px per crop px (default 2)")
    rp.add_argument("--no-truth", action="store_true", help="do not draw ground truth even where the chip has it")
    rp.add_argument("--out", default=None, help="HTML file to write (default data/reports/<chip>/report.html)")
    rp.set_defaults(func=cmd_report)

    fs = sub.add_parser("filmstrip", help="pictures of wells: N frames side by side (PNG) and the movie (GIF), "
                                          "tracks, E/T, deaths and contacts drawn; truth below where the chip has it")
    fs.add_argument("--chip", required=True)
    fs.add_argument("--wells", nargs="+", required=True, metavar="WELL", help="e.g. f000/r0c1")
    fs.add_argument("--frames", type=int, default=8, help="frames side by side (default 8)")
    fs.add_argument("--zoom", type=int, default=2, help="screen px per crop px (default 2)")
    fs.add_argument("--gif", action="store_true", help="also write the whole movie as an animated GIF")
    fs.add_argument("--no-truth", action="store_true", help="prediction only")
    fs.add_argument("--out", default=None, help="folder (default data/reports/<chip>/filmstrips)")
    fs.set_defaults(func=cmd_filmstrip)

    cp = sub.add_parser("compare", help="two registered versions of a model side by side: run, params, metrics")
    cp.add_argument("model", help="registered model name, e.g. locsnet")
    cp.add_argument("v1", type=int)
    cp.add_argument("v2", type=int)
    cp.add_argument("--all", action="store_true", help="every param, not only those that differ")
    cp.add_argument("--width", type=int, default=72,
                    help="cut longer values to this many characters (default 72: a sha256 stays whole; 0: print them whole)")
    cp.set_defaults(func=cmd_compare)

    m = sub.add_parser("montage", help="picture of a chip: a field, well crops over time, fluorescence")
    m.add_argument("chip_dir")
    m.add_argument("--out", required=True, help="PNG to write")
    m.add_argument("--field", type=int, default=0, help="field index")
    m.set_defaults(func=cmd_montage)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ChipValidationError, ChipBusyError, MissingModelsError, FileExistsError, FileNotFoundError,
            ValueError) as e:
        print(f"lftiming {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
