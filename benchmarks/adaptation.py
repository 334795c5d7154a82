"""Adapting the shipped models to another microscope by bootstrap rounds (issue 18).

    flock /tmp/lftiming_heavy.lock .venv/bin/python benchmarks/adaptation.py

A project of its own (``--home``, default ``$LFTIMING_BENCH_CACHE/adaptation/home`` or
``/tmp/lftiming_bench_cache/adaptation/home``: its data folder, MLflow store and Dagster
instance) with the bundled models (``models/``) registered as champions, and these chips
(``preset:seed``; seeds 751-764 are used by no other benchmark and never trained on):

- held-out chips of the other scope, ``other-scope:751`` and ``other-scope-hard:752``
  (``--fields`` fields x 72 frames): every arm is scored on them;
- the same scope's training chips with dyes, ``other-scope:761`` and ``other-scope-hard:762``
  (``--train-fields`` fields x 72 frames): the pipeline with the champions runs on them once,
  their free fluorescence labels are written once (annotations version V0 of each chip), and
  each arm proofreads its wells on top of V0 (``lftiming annotate --restore`` in between);
- home-scope chips ``standard:753`` and ``hard:754`` (same size as the held-out ones): the
  shipped models' score on the microscope they were trained for, the reference of the target.

Arms, each a separate MLflow version of every fine-tuned model (alias ``adapt-<arm>``), made
by ``lftiming_assets.bootstrap`` (the code of ``lftiming bootstrap``):

- ``shipped``: the champions as shipped (on the held-out and the home chips);
- ``fluorescence``: fine-tuned from the champion on the free labels only;
- ``queue20``, ``queue50``: plus K = 20 / 50 wells proofread by the simulated reviewer (the
  truth copied into the wells), the first of the training chips' review queues (pooled);
- ``random20``, ``random50``: the same with K wells drawn at random (seed 0), the control;
- ``scratch``: trained from scratch (no init) on the ``queue20`` labels, the same models and
  training time budget: fine-tuning (``queue20``) against from-scratch at equal time (CPU
  seconds recorded: the machine is shared with nothing else when run under the flock above);
- ``round``: one bootstrap round as ``lftiming bootstrap`` makes it by default (queue, K = 20)
  for every model whose stage dropped: the ``queue20`` LOCSNET plus the cell-type and
  apoptosis classifiers fine-tuned on the same labels;
- ``round_reid``: ``round`` plus the re-ID embedding the tracker uses fine-tuned on the same
  labels (its proofread tracks), ``--classifier-budget-min`` minutes.

Fine-tuned models (``--models``, default ``locsnet``, in every arm but ``round``; the others
stay the champions): each ``--budget-min`` minutes on ``--n-chips`` simulated chips and the
labels (``--annotation-share`` of the samples from the labels). The re-ID embedding is
fine-tuned in ``round_reid`` only. Each arm runs the pipeline from the masks on (``segment_chips``)
on each held-out chip and scores it with ``lftiming evaluate``'s sections: segmentation mIoU
and tracking MOTA per stratum with 95% CIs, cell-type and apoptosis accuracy (with CIs), the
contact FN rate (frame-matched pair-frames). Targets: the as-shipped drop (home minus other
scope) is measured and stated; after one bootstrap round (``round``) every stage within 0.02
of the same models' home-scope score; fine-tuned (``queue20``) beats ``scratch``.

Wells: the shipped well detector cannot fit a grid on most other-scope fields (measured here,
``well_detection``: it is not adapted by a round), so every chip's well movies, home scope
included, are cut at its true wells (``evaluation.well_inputs.truth_well_movies``, as a lab
would after fixing the grid) and the rounds adapt the cell stages.

Arms already scored are reused (``--redo ARM`` redoes one); writes
``benchmarks/results/adaptation.json`` and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
HELD_OUT = ["other-scope:751", "other-scope-hard:752"]
HOME_SCOPE = ["standard:753", "hard:754"]
TRAINING = ["other-scope:761", "other-scope-hard:762"]
HOME_PAIR = {"other-scope:751": "standard:753", "other-scope-hard:752": "hard:754"}
"""Each held-out chip and the home-scope chip of the same difficulty it is compared with."""
ARMS = {  # name -> (review wells, order, init, models (None: --models), arm whose fine-tuned models it reuses)
    "fluorescence": (0, "queue", "champion", None, None),
    "queue20": (20, "queue", "champion", None, None),
    "queue50": (50, "queue", "champion", None, None),
    "random20": (20, "random", "champion", None, None),
    "random50": (50, "random", "champion", None, None),
    "scratch": (20, "queue", None, None, None),
    "round": (20, "queue", "champion", ("celltype_classifier", "apoptosis_classifier"), "queue20"),
    "round_reid": (20, "queue", "champion", ("reid_embedding",), "round"),
}
ROUND_ARMS = ("round", "round_reid")
TARGET_GAP = 0.02
STRATA = ["overall", "1E1T", "1E2T", "2E1T", "2E2T", ">4 cells", "other", "contact-rich"]


def chip_id(spec: str) -> str:
    preset, seed = spec.split(":")
    return f"adapt-{preset}-s{seed}"


def setup_home(home: Path) -> None:
    os.environ["LFTIMING_HOME"] = str(home)
    for key in ("LFTIMING_DATA", "LFTIMING_DUCKDB", "MLFLOW_TRACKING_URI", "DAGSTER_HOME", "LFTIMING_DAGSTER_DIR",
                "LFTIMING_DAGSTER_LOGS"):
        os.environ.pop(key, None)
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    from lftiming_assets.cli import _dagster_env

    _dagster_env(home)


def ensure_chips(fields: int, train_fields: int, frames: int) -> None:
    """Simulate the chips and cut their well movies at the true wells (the well detector is
    scored apart, ``well_detection``)."""
    from lftiming_assets.bootstrap import data_layout
    from lftiming_ml.evaluation.well_inputs import truth_well_movies
    from lftiming_ml.sim.chip import simulate_chip
    from lftiming_ml.sim.config import preset_config

    layout = data_layout()
    for specs, n_fields in ((HELD_OUT + HOME_SCOPE, fields), (TRAINING, train_fields)):
        for spec in specs:
            preset, seed = spec.split(":")
            chip = layout.chip(chip_id(spec))
            if not (chip.raw_dir / "chip.json").is_file():
                print(f"simulating {chip.chip_id} ({n_fields} fields x {frames} frames) ...", flush=True)
                simulate_chip(chip.raw_dir, preset_config(preset, seed=int(seed), n_fields=n_fields, n_frames=frames),
                              overwrite=True)
            if not chip.zarr_path.is_dir():
                print(f"{chip.chip_id}: well movies cut at the true wells ...", flush=True)
                truth_well_movies(chip.raw_dir, chip.zarr_path)


def well_detection() -> dict:
    """The champion well detector on each chip's fields: wells found vs true, or why no grid."""
    from lftiming_assets.bootstrap import data_layout, tracking_uri
    from lftiming_ml.chip import read_manifest
    from lftiming_ml.metrics.wells import score_wells
    from lftiming_ml.truth.files import read_wells
    from lftiming_ml.wells.config import WellGridParams
    from lftiming_ml.wells.grid import chip_well_grid
    from lftiming_ml.wells.serving import load_detector

    detect, info = load_detector(tracking_uri=tracking_uri())
    layout, params, out = data_layout(), WellGridParams(), {"detector_version": info.version}
    for spec in HELD_OUT + HOME_SCOPE + TRAINING:
        chip = layout.chip(chip_id(spec))
        manifest = read_manifest(chip.raw_dir)
        try:
            grid, _ = chip_well_grid(chip.raw_dir, manifest, detect, params=params)
        except ValueError as e:
            out[chip.chip_id] = {"grid": "failed", "error": str(e)}
            continue
        scores = score_wells(grid, read_wells(chip.raw_dir), match_px=13.0 / manifest.pixel_size_um,
                            um_per_px=manifest.pixel_size_um, canonical_um_per_px=params.canonical_um_per_px)
        d = scores.as_dict()
        out[chip.chip_id] = {"grid": "fitted", **{k: d[k] for k in ("n_true", "n_matched", "recall", "precision",
                                                                      "mean_centre_error")}}
    return out


def ensure_champions() -> dict[str, int]:
    from lftiming_assets.bootstrap import PIPELINE_MODELS, champion_versions, tracking_uri
    from lftiming_assets.resources import build_resources
    from lftiming_ml.bundled import MODELS_DIR, register_shipped
    from lftiming_ml.models.registry import ModelNotRegisteredError, resolve_alias

    for model in PIPELINE_MODELS:
        try:
            resolve_alias(tracking_uri=tracking_uri(), model_name=model)
        except ModelNotRegisteredError:
            info = register_shipped(MODELS_DIR / model, tracking_uri=tracking_uri(),
                                    artifact_location=build_resources()["mlflow"].artifact_location())
            print(f"{model}: bundled model registered as version {info.version}", flush=True)
    return champion_versions()


def summary(report: dict) -> dict:
    """The figures this benchmark reports from one chip's ``evaluate_chip`` report."""
    seg, trk, cls = report.get("segmentation"), report.get("tracking"), report.get("classification")
    out: dict[str, object] = {"segmentation": {}, "tracking": {}}
    for s in STRATA:
        if isinstance(seg, dict) and s in seg:
            g = seg[s]
            out["segmentation"][s] = {"miou": g["miou_mean"], "ci95": g["miou_ci95"], "wells": g["n_wells"],
                                      "missed": g["n_missed"], "extra": g["n_extra"]}
        if isinstance(trk, dict) and s in trk:
            g = trk[s]
            out["tracking"][s] = {"mota": g["mota_mean"], "ci95": g["mota_ci95"], "wells": g["wells"],
                                  "id_switches": g["id_switches"]}
    if isinstance(cls, dict):
        for task in ("celltype", "apoptosis"):
            if task in cls:
                out[task] = {s: {"accuracy": g["accuracy"], "ci95": g["accuracy_ci"], "n": g["n"]}
                             for s, g in cls[task].items()}
    contacts = report.get("contacts")
    if isinstance(contacts, dict):
        out["contact_fn_rate"] = contacts["frame_matched_fn_rate"]
        out["contact_fn_rate_track_matched"] = contacts["fn_rate"]
    return out


def headline(s: dict) -> dict[str, float | None]:
    def get(*path):
        node = s
        for k in path:
            if not isinstance(node, dict) or k not in node:
                return None
            node = node[k]
        return node

    return {"segmentation mIoU": get("segmentation", "overall", "miou"),
            "tracking MOTA": get("tracking", "overall", "mota"),
            "cell type accuracy": get("celltype", "overall", "accuracy"),
            "apoptosis accuracy": get("apoptosis", "overall", "accuracy"),
            "contact FN rate": s.get("contact_fn_rate")}


def run_arm(name: str, args, v0: dict[str, str], champion: dict[str, int], done: dict[str, dict]) -> dict:
    """Restore the free labels, proofread, fine-tune, score on the held-out chips. An arm with a
    base takes that arm's fine-tuned models (``done[base]``) beside its own."""
    import resource

    from lftiming_assets.bootstrap import RoundPlan, data_layout, fine_tune, score_versions, select_wells, \
        simulated_review
    from lftiming_ml.annotations.store import restore_version

    review, order, init, models, base = ARMS[name]
    models = tuple(models or args.models)
    if base is not None and base not in done:
        raise SystemExit(f"arm {name} reuses the models of arm {base}: run that one first (--arms {base} {name})")
    base_versions = done[base]["versions"] if base else {}
    layout = data_layout()
    chips = [layout.chip(chip_id(s)) for s in TRAINING]
    versions, reviewed = {}, {}
    for chip in chips:
        restore_version(chip, v0[chip.chip_id])
    picked = select_wells(chips, review, order, seed=0) if review else {}
    for chip in chips:
        reviewed[chip.chip_id] = picked.get(chip.chip_id, [])
        versions[chip.chip_id] = simulated_review(chip, reviewed[chip.chip_id])
    plan = RoundPlan(chips=tuple(c.chip_id for c in chips), held_out=(), models=models, review=review,
                     review_order=order, reviewer="simulator", init=init,
                     time_budget_min=args.budget_min if "locsnet" in models else args.classifier_budget_min,
                     epochs=args.classifier_epochs if name == "round" else None,
                     n_chips=args.n_chips, annotation_share=args.annotation_share, alias=f"adapt-{name}",
                     promote=False)
    wall, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    trained = fine_tune(plan, versions, lambda line: print(f"[{name}] {line}", flush=True))
    after = resource.getrusage(resource.RUSAGE_SELF)
    train = {"wall_s": round(time.perf_counter() - wall, 1),
             "cpu_s": round(after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime, 1)}
    # the base arm's models that are not the champions (its own fine-tuned ones and those it reused)
    reused = {} if base is None else {m: v for m, v in base_versions.items() if v != champion.get(m)}
    versions_used = {**champion, **reused, **trained}
    reports = score_versions([chip_id(s) for s in HELD_OUT], versions_used, f"adapt-{name}",
                             lambda line: print(f"[{name}] {line}", flush=True))
    return {"arm": name, "review": review, "review_order": order, "init": init or "scratch",
            "fine_tuned": list(models), "reused_from": base, "reused": reused,
            "versions": versions_used, "annotation_versions": versions,
            "reviewed_wells": reviewed, "training": train,
            "chips": {c: summary(r) for c, r in reports.items()}}


def score_shipped(champion: dict[str, int]) -> dict:
    from lftiming_assets.bootstrap import run_or_fail
    from lftiming_ml.evaluation.chip import evaluate_chip
    from lftiming_assets.bootstrap import data_layout

    layout = data_layout()
    chips = {}
    for spec in HELD_OUT + HOME_SCOPE:
        cid = chip_id(spec)
        print(f"[shipped] {cid}: segment_chips with the champions ...", flush=True)
        run_or_fail(cid, job="segment_chips")
        chips[cid] = summary(evaluate_chip(layout.chip(cid)))
    return {"arm": "shipped", "versions": champion, "chips": chips, "well_detection": well_detection()}


def apoptosis_errors(chip) -> dict:
    """Where the pipeline's ``cell_deaths`` of a held-out chip (as the last arm scored left them)
    err, per track matched to a true cell: wrong track-frames, tracks called dead that live,
    deaths missed, and the called minus true death frame of the others."""
    import pandas as pd

    from lftiming_ml.evaluation.classification import matched_death_frames, matched_true_cells
    from lftiming_ml.truth.match import match_tracks_to_cells, truth_cells_in_crops

    keys = ["field_id", "row", "col", "track_id"]
    tracks, deaths = (pd.read_parquet(chip.table_path(t)) for t in ("cell_tracks", "cell_deaths"))
    truth = truth_cells_in_crops(chip.raw_dir, chip.zarr_path)
    d = matched_death_frames(deaths, matched_true_cells(match_tracks_to_cells(tracks, truth), truth))
    d["wrong"] = d["true_apoptotic"] != d["pred_apoptotic"]
    per = d.groupby(keys).agg(wrong=("wrong", "sum"), called=("death_frame", "first"), true=("death_frame_true", "first"))
    called, true = per["called"].astype("Int64"), per["true"].astype("Int64")
    both = per[called.notna() & true.notna()]
    offsets = (both["called"].astype(int) - both["true"].astype(int)).value_counts().sort_index()
    return {"model_versions": sorted(int(v) for v in deaths["model_version"].unique()),
            "tracks_reid_versions": sorted(int(v) for v in tracks["reid_version"].dropna().unique()),
            "track_frames": int(len(d)), "wrong_track_frames": int(d["wrong"].sum()),
            "called_dead_but_alive": {"tracks": int((called.notna() & true.isna()).sum()),
                                      "wrong_frames": int(per.loc[called.notna() & true.isna(), "wrong"].sum())},
            "deaths_missed": {"tracks": int((called.isna() & true.notna()).sum()),
                              "wrong_frames": int(per.loc[called.isna() & true.notna(), "wrong"].sum())},
            "called_minus_true_death_frame": {str(k): int(v) for k, v in offsets.items()}}


def labeller_onsets(chip) -> dict:
    """The Annexin V labeller (``classification.labels.label_well``, the free labels' rule) on a
    training chip's true masks: its onset minus the true death frame per dying cell."""
    from lftiming_ml.chip.manifest import ChannelRole as R
    from lftiming_ml.classification.data import iter_truth_well_crops
    from lftiming_ml.classification.labels import label_well
    from lftiming_ml.truth.files import read_cells

    cells = read_cells(chip.raw_dir)
    death = cells[~cells["alive"]].groupby(["field_id", "row", "col", "cell_id"])["frame"].min()
    offsets, missed, false = [], 0, 0
    for w in iter_truth_well_crops(chip.raw_dir, [R.effector_dye, R.target_dye, R.death_marker]):
        onsets = label_well(w.crops[R.effector_dye], w.crops[R.target_dye], w.crops[R.death_marker], w.amodal).onset
        for cell_id, onset in zip(w.cell_ids, onsets):
            true = death.get((w.field_id, w.row, w.col, cell_id))
            if true is None:
                false += onset is not None
            elif onset is None:
                missed += 1
            else:
                offsets.append(int(onset - true))
    values, counts = np.unique(offsets, return_counts=True)
    return {"deaths_found": len(offsets), "deaths_not_found": missed, "onsets_of_living_cells": false,
            "onset_minus_true_death_frame": {str(int(v)): int(c) for v, c in zip(values, counts)}}


def contact_misses(chip) -> dict:
    """The contact FN rate of a chip's pipeline ``contacts`` (tracks matched frame by frame) with
    the missed pair-frames' mask gaps, and of the true amodal masks moved into the same well
    crops (resampled where the chip's pixel size is not the crops') at the pipeline's tolerance:
    what the crop grid alone costs."""
    import pandas as pd

    from lftiming_ml.evaluation.interactions import matched_outcomes
    from lftiming_ml.interactions.config import SEGMENTED_MASK_TOLERANCE_UM, ContactParams
    from lftiming_ml.interactions.contacts import WellMasks, well_contact_frames
    from lftiming_ml.metrics.interactions import FRAME_KEYS, score_contacts
    from lftiming_ml.store.movies import list_well_movies
    from lftiming_ml.truth.files import read_cells
    from lftiming_ml.truth.match import iter_truth_masks_in_crops, pair_wells

    run = matched_outcomes(chip.raw_dir, chip.tables_dir, chip.zarr_path)
    truth = run.truth_frames
    j = truth.merge(run.frames_per_frame, on=FRAME_KEYS, how="left", suffixes=("_true", ""))
    missed = j["in_contact_true"].astype(bool) & ~j["in_contact"].astype("boolean").fillna(False).astype(bool)
    gaps = j.loc[missed, "distance_um"]
    bins = pd.cut(gaps.dropna(), [0, 0.75, 1.0, 1.5, 2.0, 3.0, np.inf]).value_counts().sort_index()
    params = ContactParams(tolerance_um=SEGMENTED_MASK_TOLERANCE_UM)
    cropped = [i for i in list_well_movies(chip.zarr_path) if i.cropped]
    pairs = pair_wells(chip.raw_dir, cropped)
    types = read_cells(chip.raw_dir).drop_duplicates([*FRAME_KEYS[1:4], "cell_id"]).set_index(
        [*FRAME_KEYS[1:4], "cell_id"])["type"]
    um_per_px = cropped[0].um_per_px
    rows = []
    for w in iter_truth_masks_in_crops(chip.raw_dir, chip.zarr_path):
        gt = pairs[(w.field_id, w.row, w.col)]
        kind = np.array([types.get((*gt, int(i)), "") for i in w.cell_ids])
        present = {t: w.cell_ids[w.masks[t].reshape(len(w.cell_ids), -1).any(1)] for t in range(len(w.masks))}
        df = well_contact_frames(WellMasks(track_ids=w.cell_ids, masks=w.masks), w.cell_ids[kind == "effector"],
                                 w.cell_ids[kind == "target"], present, pixel_size_um=um_per_px, params=params)
        rows.append(df.assign(chip_id=truth["chip_id"].iloc[0], field_id=gt[0], row=gt[1], col=gt[2]))
    on_true_masks = score_contacts(pd.concat(rows, ignore_index=True), truth)
    return {"true_contact_pair_frames": int(j["in_contact_true"].astype(bool).sum()),
            "missed": int(missed.sum()), "fn_rate": float(missed.sum() / max(j["in_contact_true"].astype(bool).sum(), 1)),
            "missed_without_a_row": int(gaps.isna().sum()),
            "missed_gap_um": {str(k): int(v) for k, v in bins.items()},
            "tolerance_um": SEGMENTED_MASK_TOLERANCE_UM,
            "true_masks_in_the_crops_fn_rate": on_true_masks.fn_rate,
            "true_masks_in_the_crops_fp_rate": on_true_masks.fp_rate}


def diagnostics() -> dict:
    """What holds the round back, on the held-out chips' tables as the last arm scored left
    them, with the home chips' (the shipped models') and the training chips' labeller beside."""
    from lftiming_assets.bootstrap import data_layout

    layout = data_layout()
    out: dict[str, dict] = {}
    for spec in HELD_OUT + HOME_SCOPE:
        chip = layout.chip(chip_id(spec))
        print(f"[diagnostics] {chip.chip_id} ...", flush=True)
        out[chip.chip_id] = {"apoptosis": apoptosis_errors(chip), "contacts": contact_misses(chip)}
    for spec in TRAINING:
        chip = layout.chip(chip_id(spec))
        out[chip.chip_id] = {"annexin_labeller_on_true_masks": labeller_onsets(chip)}
    return out


def log_scores(arms: dict[str, dict]) -> None:
    """Each arm's held-out scores as ``heldout_<chip>_<score>`` metrics on the MLflow runs of
    the versions it fine-tuned (the shipped arm: on the champions'), as ``lftiming bootstrap``
    logs them, so MLflow's run comparison shows every arm beside the champion."""
    from lftiming_assets.bootstrap import SCORE_METRICS, tracking_uri
    from lftiming_ml.models.registry import log_held_out

    held = [chip_id(s) for s in HELD_OUT]
    for name, arm in arms.items():
        models = arm.get("fine_tuned", ["locsnet"])
        if name == "shipped":
            models = ["locsnet", "celltype_classifier", "apoptosis_classifier"]
        scores = {f"{c}_{SCORE_METRICS[k]}": v for c in held for k, v in headline(arm["chips"][c]).items()
                  if v is not None}
        for model in models:
            log_held_out(tracking_uri=tracking_uri(), model_name=model, version=int(arm["versions"][model]),
                         scores=scores)


def fmt(v: float | None, ci=None) -> str:
    if v is None:
        return "—"
    return f"{v:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--home", type=Path, default=Path(os.environ.get("LFTIMING_BENCH_CACHE", "/tmp/lftiming_bench_cache"))
                   / "adaptation" / "home")
    p.add_argument("--fields", type=int, default=1, help="fields of the held-out and home chips")
    p.add_argument("--train-fields", type=int, default=2, help="fields of the training chips")
    p.add_argument("--frames", type=int, default=72, help="frames of every chip (fewer only to try the script)")
    p.add_argument("--models", nargs="+", default=["locsnet"])
    p.add_argument("--budget-min", type=float, default=4.0, help="training minutes per model and arm")
    p.add_argument("--classifier-budget-min", type=float, default=2.0,
                   help="training minutes per classifier in the round arm")
    p.add_argument("--classifier-epochs", type=int, default=None,
                   help="passes of the classifiers' fine-tunes in the round arm (default: their recipe's, 6 on cpu)")
    p.add_argument("--n-chips", type=int, default=2, help="simulated chips in each fine-tuning corpus")
    p.add_argument("--annotation-share", type=float, default=0.5)
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    p.add_argument("--redo", nargs="*", default=[], help="arms to redo even where scored")
    p.add_argument("--out", type=Path, default=RESULTS / "adaptation.json")
    p.add_argument("--diagnostics", action="store_true",
                   help="also record where the last arm still errs (apoptosis calls, contact misses and what true "
                        "masks in the same crops give, the Annexin V labeller on the training chips' true masks)")
    args = p.parse_args()

    started = time.perf_counter()
    home = args.home.resolve()
    setup_home(home)
    import torch

    from lftiming_assets.bootstrap import data_layout, ensure_pipeline, free_labels

    torch.set_num_threads(2)
    ensure_chips(args.fields, args.train_fields, args.frames)
    champion = ensure_champions()
    done_dir = home / "arms"
    done_dir.mkdir(exist_ok=True)
    settings = {"models": args.models, "budget_min": args.budget_min, "classifier_budget_min": args.classifier_budget_min,
                "n_chips": args.n_chips,
                "annotation_share": args.annotation_share, "fields": args.fields, "train_fields": args.train_fields, "frames": args.frames,
                **({"classifier_epochs": args.classifier_epochs} if args.classifier_epochs else {})}

    def same_settings(name: str, found: dict) -> bool:
        """The arm was made with these settings; the classifiers' epochs matter only to the arms that
        fine-tune them or reuse those that did."""
        if name in ROUND_ARMS:
            return found == settings
        return {k: v for k, v in found.items() if k != "classifier_epochs"} == \
            {k: v for k, v in settings.items() if k != "classifier_epochs"}

    def cached(name: str, make) -> dict:
        path = done_dir / f"{name}.json"
        if path.is_file() and name not in args.redo:
            found = json.loads(path.read_text())
            if same_settings(name, found.get("settings", {})) or name == "shipped":
                print(f"[{name}] reusing {path}", flush=True)
                return found
        result = {**make(), "settings": settings}
        path.write_text(json.dumps(result, indent=1, default=float) + "\n")
        return result

    shipped = cached("shipped", lambda: score_shipped(champion))
    layout = data_layout()
    v0 = {}
    for spec in TRAINING:
        chip = layout.chip(chip_id(spec))
        ensure_pipeline(chip, lambda line: print(f"[labels] {line}", flush=True))
        marker = done_dir / f"v0-{chip.chip_id}.txt"
        if not marker.is_file():
            marker.write_text(free_labels(chip, lambda line: print(f"[labels] {line}", flush=True)))
        v0[chip.chip_id] = marker.read_text().strip()
    arms = {"shipped": shipped}
    for name in args.arms:
        arms[name] = cached(name, lambda n=name: run_arm(n, args, v0, champion, arms))

    log_scores(arms)
    diagnosed = diagnostics() if args.diagnostics else None

    # --- the figures ----------------------------------------------------------------------------
    held = [chip_id(s) for s in HELD_OUT]
    home_chip = {chip_id(s): chip_id(HOME_PAIR[s]) for s in HELD_OUT}
    home_scores = {c: headline(shipped["chips"][h]) for c, h in home_chip.items()}
    table = {arm: {c: headline(r["chips"][c]) for c in held} for arm, r in arms.items()}
    checks: dict[str, object] = {}
    for c in held:
        # how much worse the other scope is (positive = worse; the contact FN rate is lower-is-better)
        gaps = {k: (None if table["shipped"][c][k] is None or home_scores[c][k] is None
                    else round((table["shipped"][c][k] - home_scores[c][k]) * (1 if k == "contact FN rate" else -1), 4))
                for k in home_scores[c]}
        checks[f"drop as shipped, {c} vs {home_chip[c]}"] = gaps
        for round_arm in (a for a in ROUND_ARMS if a in table):
            within = {}
            for k, home_v in home_scores[c].items():
                v = table[round_arm][c][k]
                if v is None or home_v is None:
                    continue
                gap = (v - home_v) if k == "contact FN rate" else (home_v - v)
                within[k] = {"home": round(home_v, 4), "after_round": round(v, 4), "gap": round(gap, 4),
                             "within_0.02": bool(gap <= TARGET_GAP)}
            checks[f"after one round ({round_arm}), {c} vs {home_chip[c]}"] = within
    if "queue20" in arms and "scratch" in arms:  # the same labels, models and time budget
        checks["fine-tuned (queue20) vs from scratch (segmentation mIoU)"] = {
            c: {"fine_tuned": table["queue20"][c]["segmentation mIoU"], "scratch": table["scratch"][c]["segmentation mIoU"],
                "fine_tuned_better": bool(table["queue20"][c]["segmentation mIoU"] > table["scratch"][c]["segmentation mIoU"]),
                "train_cpu_s": {"fine_tuned": arms["queue20"]["training"]["cpu_s"],
                                "scratch": arms["scratch"]["training"]["cpu_s"]}} for c in held}
    result = {"benchmark": "adaptation", "command": "python benchmarks/adaptation.py " + " ".join(sys.argv[1:]),
              "held_out": HELD_OUT, "home_scope": HOME_SCOPE, "training_chips": TRAINING, "settings": settings,
              "home_scores": home_scores, "headline": table, "checks": checks, "arms": arms,
              **({"diagnostics": {"tables_of_arm": list(arms)[-1], **diagnosed}} if diagnosed else {}),
              "seconds": round(time.perf_counter() - started, 1), "cpus": os.cpu_count(),
              "machine": platform.processor() or platform.machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=float) + "\n")

    keys = list(next(iter(home_scores.values())))
    for c in held:
        print(f"\n{c} (home-scope reference {home_chip[c]}: " +
              ", ".join(f"{k} {fmt(v)}" for k, v in home_scores[c].items()) + ")")
        print(f"  {'arm':<14}" + "".join(f"{k:>22}" for k in keys))
        for arm in table:
            print(f"  {arm:<14}" + "".join(f"{fmt(table[arm][c][k]):>22}" for k in keys))
        print("  segmentation mIoU per stratum, 95% CI:")
        for arm, r in arms.items():
            seg = r["chips"][c]["segmentation"]
            print(f"    {arm:<12} " + "  ".join(f"{s} {fmt(g['miou'], g['ci95'])}" for s, g in seg.items()))
        print("  tracking MOTA per stratum, 95% CI:")
        for arm, r in arms.items():
            trk = r["chips"][c]["tracking"]
            print(f"    {arm:<12} " + "  ".join(f"{s} {fmt(g['mota'], g['ci95'])}" for s, g in trk.items()))
    print("\n" + json.dumps(checks, indent=1))
    print(f"\n{result['seconds']} s; wrote {args.out}")


if __name__ == "__main__":
    main()
