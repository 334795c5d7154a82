"""Interaction stage on held-out simulated chips: contacts, kinetics and killing frequency
against the simulator's truth.

    .venv/bin/python benchmarks/kinetics.py --seeds 501 502 503 --preset standard
    .venv/bin/python benchmarks/kinetics.py --chips /path/to/chip-a /path/to/chip-b
    .venv/bin/python benchmarks/kinetics.py --inputs pipeline --chips data/raw/demo-standard-s0
    .venv/bin/python benchmarks/kinetics.py --seeds 501 502 503 --killing-curves docs/images/killing_curves.png

``--inputs truth`` feeds the library the true tracks, cell types, deaths and amodal masks
(``evaluation.interaction_inputs.truth_inputs``), so what is measured is the stage's own error:
contact detection from masks and the kinetics built on it. Seeds below 1000 are the
benchmark's (training chips use higher seeds); missing chips are simulated into ``--cache``
(2 fields x 36 wells x 72 frames each).

``--inputs tracks`` takes the pipeline's real tracks and track masks (LOCSNET -> tracker,
``cell_tracks`` under ``--tables``) with cell types and deaths from the true cell each track
follows (``evaluation.truth_labels_for_tracks``; unmatched tracks left out and counted), runs
the interaction stage into ``--cache``/tracks-inputs/ (never into ``--tables``) and scores it:
segmentation and tracking error, without classification error.

``--inputs models`` is the full pipeline on chips that have only ``cell_tracks`` (e.g. the
held-out chips of ``benchmarks/tracking_pipeline.py``): cell types and deaths from the
champion CNN-LSTMs of ``--tracking-uri`` (``classification.serving``, as the assets call
it), then the interaction stage into ``--cache``/models-inputs/, scored like ``pipeline``::

    .venv/bin/python benchmarks/kinetics.py --inputs models \
        --chips /tmp/lftiming_bench_cache/tracking_pipeline/raw/trkpipe-{standard-s41,hard-s42} \
        --tables /tmp/lftiming_bench_cache/tracking_pipeline/tables \
        --zarr /tmp/lftiming_bench_cache/tracking_pipeline/zarr --out benchmarks/results/kinetics_models.json

``--inputs pipeline`` scores the outcome tables the pipeline wrote for each chip
(LOCSNET -> tracker -> CNN-LSTM -> contacts / well_outcomes / killing_kinetics, under
``--tables``, stores under ``--zarr``) against the chip's truth, with pipeline tracks
matched to true cells (``interactions.evaluation``); chips without those tables are skipped
and named. For ``tracks``, ``models`` and ``pipeline`` the pair-frame FN rates (tracks
matched per track and frame by frame) also come per E:T group of the true well and for
contact-rich wells, with 95% bootstrap CIs over wells (``contacts_fn_rate_by_stratum``).

Writes ``benchmarks/results/kinetics_<inputs>.json`` (and PNGs with ``--plots DIR``, or only
the killing curves with ``--killing-curves PNG``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import pandas as pd

from lftiming_ml.interactions import ContactParams, KineticsParams, chip_kinetics, contact_events, contact_frames
from lftiming_ml.interactions.config import SEGMENTED_MASK_TOLERANCE_UM
from lftiming_ml.classification.serving import MODEL_NAMES, chip_cell_deaths, chip_cell_types, load_classifier
from lftiming_ml.evaluation.interactions import (
    matched_outcomes,
    score_matched_contacts,
    score_matched_kinetics,
    truth_labels_for_tracks,
)
from lftiming_ml.interactions.outcomes import VERSION_COLUMNS, contact_tables, killing_tables, well_tables
from lftiming_ml.interactions.pipeline_inputs import pipeline_inputs
from lftiming_ml.store.tables import chip_table_path, write_chip_table
from lftiming_ml.evaluation.interaction_inputs import truth_contact_frames, truth_inputs, truth_interactions
from lftiming_ml.interactions.kinetics import killing_frequency
from lftiming_ml.interactions.plots import killing_curves_png, kinetics_distributions_png
from lftiming_ml.interactions.survival import survival_by_group
from lftiming_ml.metrics.interactions import compare_killing_frequency, score_contacts, score_kinetics
from lftiming_ml.metrics.stats import bootstrap_ratio_ci
from lftiming_ml.metrics.strata import STRATA
from lftiming_ml.store.keys import WELL_KEYS
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.sim.config import preset_config
from lftiming_ml.truth.files import CONTACTS, has_truth, read_cells

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BENCHMARK_SEED_LIMIT = 1000
ACCEPT = {"contact_accuracy_min": 0.95, "fn_rate_max": 0.10, "mae_frames_max": 1.0}


def held_out_chips(seeds: list[int], preset: str, cache: Path) -> list[Path]:
    """Chip folders for ``seeds`` under ``cache``, simulated where missing."""
    chips = []
    for seed in seeds:
        if not 0 <= seed < BENCHMARK_SEED_LIMIT:
            raise SystemExit(f"seed {seed}: benchmark seeds are 0..{BENCHMARK_SEED_LIMIT - 1} (held out from training)")
        chip = cache / f"kin-{preset}-s{seed}"
        if not has_truth(chip, CONTACTS):
            print(f"simulating {chip.name} ...", flush=True)
            simulate_chip(chip, preset_config(preset, seed=seed, n_fields=2, n_frames=72), overwrite=True)
        chips.append(chip)
    return chips


def conjugates_seen(chip: Path, truth_frames: pd.DataFrame) -> float:
    """Share of biologically conjugated effector-target frames (``gt/cells.parquet``
    ``conjugated_with``) that the mask contact truth also calls a contact."""
    cells = read_cells(chip,
                            columns=["field_id", "row", "col", "cell_id", "frame", "type", "conjugated_with"])
    conj = cells[(cells["type"] == "effector") & (cells["conjugated_with"] >= 0)]
    conj = conj.rename(columns={"cell_id": "effector_id", "conjugated_with": "target_id"})
    m = conj.merge(truth_frames, on=["field_id", "row", "col", "frame", "effector_id", "target_id"], how="left")
    return float(m["in_contact"].eq(True).mean()) if len(m) else float("nan")


def run_chip(chip: Path, contact: ContactParams, kinetics: KineticsParams) -> dict:
    """The library on one chip's truth inputs, and the truth to score it against."""
    start = time.perf_counter()
    tracks, masks, timing = truth_inputs(chip)
    frames = contact_frames(tracks, masks, pixel_size_um=timing.pixel_size_um, params=contact)
    t_contacts = time.perf_counter() - start
    events = contact_events(frames, frame_interval_min=timing.frame_interval_min, params=contact)
    tables = chip_kinetics(tracks, frames, events, pixel_size_um=timing.pixel_size_um,
                           frame_interval_min=timing.frame_interval_min, n_frames=timing.n_frames, params=kinetics)
    seconds = time.perf_counter() - start
    truth = truth_interactions(chip, contact=contact, kinetics=kinetics)
    return {"chip": chip, "timing": timing, "frames": frames, "events": events, "tables": tables, "truth": truth,
            "seconds": seconds, "contact_seconds": t_contacts, "n_tracks": int(tracks.groupby(
                ["field_id", "row", "col", "track_id"]).ngroups),
            "conjugates_seen": conjugates_seen(chip, truth_contact_frames(chip, tracks))}


def _clean(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def truth_inputs_result(chips: list[Path], args: argparse.Namespace) -> dict:
    """The library on ground-truth inputs of ``chips``, scored against the truth."""
    contact, kinetics = ContactParams(), KineticsParams()
    runs = [run_chip(chip, contact, kinetics) for chip in chips]
    cat = lambda get: pd.concat([get(r) for r in runs], ignore_index=True)  # noqa: E731
    pred_frames, truth_frames = cat(lambda r: r["frames"]), cat(lambda r: r["truth"].frames)
    pred_inter, truth_inter = cat(lambda r: r["tables"].interactions), cat(lambda r: r["truth"].kinetics.interactions)
    pred_wells, truth_wells = cat(lambda r: r["tables"].wells), cat(lambda r: r["truth"].kinetics.wells)
    pred_tgt, truth_tgt = cat(lambda r: r["tables"].targets), cat(lambda r: r["truth"].kinetics.targets)
    interval = runs[0]["timing"].frame_interval_min

    pair = score_contacts(pred_frames, truth_frames, level="pair")
    well = score_contacts(pred_frames, truth_frames, level="well")
    kin = score_kinetics(pred_inter, truth_inter, frame_interval_min=interval)
    freq = {}
    for unit in ("well", "target"):
        params = kinetics.model_copy(update={"killing_unit": unit})
        cmp = compare_killing_frequency(killing_frequency(pred_wells, pred_tgt, params=params),
                                        killing_frequency(truth_wells, truth_tgt, params=params))
        freq[unit] = cmp.round(4).to_dict(orient="records")
    within = all(r["within_truth_ci"] for r in freq["well"])
    result = {
        "benchmark": "kinetics", "inputs": "truth",
        "chips": [{"chip_id": r["timing"].chip_id, "path": str(r["chip"]), "tracks": r["n_tracks"],
                   "wells": int(len(r["tables"].wells)), "interactions": int(len(r["tables"].interactions)),
                   "contact_pair_frames": int(len(r["frames"])), "seconds": round(r["seconds"], 2),
                   "contact_seconds": round(r["contact_seconds"], 2),
                   "contacts": score_contacts(r["frames"], r["truth"].frames).as_dict(),
                   "conjugated_frames_in_contact": round(r["conjugates_seen"], 4)} for r in runs],
        "params": {"contact": contact.model_dump(), "kinetics": kinetics.model_dump()},
        "contacts_pair_frames": pair.as_dict(), "contacts_well_frames": well.as_dict(),
        "kinetics": kin,
        "killing_frequency": freq,
        "acceptance": acceptance(pair.accuracy, pair.fn_rate, kin, within),
    }
    label = f"{len(runs)} simulated chips, ground-truth inputs"
    survival = survival_by_group(pred_tgt, pred_wells)
    plots = []
    if args.plots:
        plots += [killing_curves_png(survival, args.plots / "killing_curves.png", title=label),
                  kinetics_distributions_png(pred_inter, args.plots / "kinetics_distributions.png", title=label)]
    if args.killing_curves:
        plots.append(killing_curves_png(
            survival, args.killing_curves,
            title=f"Target death by E:T group (Kaplan-Meier, 95% CI)\n{label}"))
    if plots:
        result["plots"] = [str(p) for p in plots]
    return result


def acceptance(accuracy: float, fn_rate: float, kin: dict, within: bool, contacts: dict | None = None) -> dict:
    """The issue's targets. ``contact_accuracy_ok``/``fn_rate_ok`` score pair-frames with each
    track matched to one true cell (identity errors count); with pipeline ``contacts`` the
    same targets are also checked on pair-frames matched frame by frame (the contact stage's
    own error) and on well-frames (any effector touching any target)."""
    frame_level = {} if contacts is None else {
        f"{level}_ok": contacts[f"{level}_accuracy"] >= ACCEPT["contact_accuracy_min"]
        and contacts[f"{level}_fn_rate"] <= ACCEPT["fn_rate_max"] for level in ("frame_matched", "well_frame")}
    return {
        **ACCEPT,
        "contact_accuracy_ok": accuracy >= ACCEPT["contact_accuracy_min"],
        "fn_rate_ok": fn_rate <= ACCEPT["fn_rate_max"],
        **frame_level,
        "mae_ok": all(kin[k] <= ACCEPT["mae_frames_max"] for k in
                      ("t_seek_mae_frames", "t_contact_mae_frames", "t_death_mae_frames")),
        "killing_frequency_within_truth_ci": within,
    }


def champion_labels(store: Path, tracks: pd.DataFrame, tracking_uri: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``cell_types`` and ``cell_deaths`` of a chip's tracks from the champion classifiers in
    the MLflow store at ``tracking_uri``, as the ``cell_types`` / ``cell_deaths`` assets make them."""
    types_clf, types_info = load_classifier(tracking_uri=tracking_uri, model_name=MODEL_NAMES[("celltype", "cnn_lstm")])
    deaths_clf, deaths_info = load_classifier(tracking_uri=tracking_uri,
                                              model_name=MODEL_NAMES[("apoptosis", "cnn_lstm")])
    return (chip_cell_types(store, tracks, types_clf, model_version=types_info.version),
            chip_cell_deaths(store, tracks, deaths_clf, model_version=deaths_info.version))


def tracks_inputs_tables(chip: Path, args: argparse.Namespace) -> tuple[Path, dict] | None:
    """Outcome tables of ``chip`` from its pipeline tracks, written under
    ``--cache``/<inputs>-inputs/tables; (that folder, counts), or None without cell_tracks.
    Labels: the true cell's type and death (``--inputs tracks``) or the champion
    classifiers' (``--inputs models``)."""
    path = chip_table_path(args.tables, "cell_tracks", chip.name)
    store = args.zarr / f"{chip.name}.zarr"
    if not path.is_file() or not store.is_dir() or not has_truth(chip):
        return None
    tracks = pd.read_parquet(path)
    if args.inputs == "models":
        kept = tracks
        types, deaths = champion_labels(store, tracks, args.tracking_uri)
    else:
        kept, types, deaths = truth_labels_for_tracks(chip, store, tracks)
    tables_dir = built_tables_dir(args)
    for name, df in (("cell_tracks", kept), ("cell_types", types), ("cell_deaths", deaths)):
        write_chip_table(tables_dir, name, chip.name, df)
    inputs = pipeline_inputs(chip, tables_dir, store)
    out = contact_tables(inputs.tracks, inputs.masks, inputs.timing, inputs.versions)
    out |= well_tables(inputs.tracks, out["contacts"], out["contact_events"], inputs.timing, inputs.versions)
    out |= killing_tables(inputs.tracks, out["contact_events"], out["well_outcomes"], out["target_outcomes"],
                          inputs.timing, inputs.versions)
    for name, df in out.items():
        write_chip_table(tables_dir, name, chip.name, df)
    key = ["field_id", "row", "col", "track_id"]
    n_tracks = int(tracks.groupby(key).ngroups)
    return tables_dir, {"tracks": n_tracks, "tracks_unmatched_left_out": n_tracks - int(kept.groupby(key).ngroups),
                        "segmenter_version": inputs.versions["segmenter_version"],
                        "reid_version": inputs.versions["reid_version"]}


def built_tables_dir(args: argparse.Namespace) -> Path:
    """Where ``--inputs tracks`` / ``models`` write the tables they build (never ``--tables``)."""
    return args.cache / f"{args.inputs}-inputs" / "tables"


def contact_counts_by_well(runs: list) -> pd.DataFrame:
    """One row per true well with contacts scored (``MatchedOutcomes``' truth frames) and per
    matching (``track``: tracks matched to cells per track; ``frame_matched``: frame by frame):
    its FN and TP pair-frames (``score_contacts`` of that well), ``et_group`` and ``contact_rich``."""
    rows = []
    for run in runs:
        strata = run.truth_wells.set_index(WELL_KEYS)[["et_group", "contact_rich"]]
        for matching, pred in (("track", run.frames), ("frame_matched", run.frames_per_frame)):
            pred_by_well = dict(iter(pred.groupby(WELL_KEYS, sort=False)))
            for key, truth in run.truth_frames.groupby(WELL_KEYS, sort=False):
                s = score_contacts(pred_by_well.get(key, pred.iloc[:0]), truth)
                group = strata.loc[key] if key in strata.index else None
                rows.append({**dict(zip(WELL_KEYS, key)), "matching": matching, "fn": s.fn, "tp": s.tp,
                             "et_group": "unknown" if group is None else group["et_group"],
                             "contact_rich": False if group is None else bool(group["contact_rich"])})
    return pd.DataFrame(rows)


def fn_rate_by_stratum(by_well: pd.DataFrame, pooled: dict) -> dict:
    """FN rate (FN / true contact pair-frames) per matching, overall, per E:T group and for
    contact-rich wells, with 95% bootstrap CIs over wells (``bootstrap_ratio_ci``). The overall
    rates must equal the pooled ones of ``score_matched_contacts`` (``pooled``)."""
    out: dict[str, dict] = {}
    for matching, g in by_well.groupby("matching", sort=False):
        groups = [("overall", g)] + [(s, g[g["et_group"] == s]) for s in STRATA]
        groups.append(("contact-rich", g[g["contact_rich"]]))
        out[matching] = {}
        for name, part in groups:
            fn, pos = part["fn"].to_numpy(float), (part["fn"] + part["tp"]).to_numpy(float)
            if pos.sum() == 0:
                continue
            est, lo, hi = bootstrap_ratio_ci(fn, pos)
            out[matching][name] = {"fn_rate": est, "fn_rate_ci95": [lo, hi], "wells": int(len(part)),
                                   "true_contact_pair_frames": int(pos.sum())}
    for matching, key in (("track", "fn_rate"), ("frame_matched", "frame_matched_fn_rate")):
        if not math.isclose(out[matching]["overall"]["fn_rate"], pooled[key], rel_tol=1e-9):
            raise RuntimeError(f"FN rate over wells ({out[matching]['overall']['fn_rate']}) differs from the pooled "
                               f"{key} ({pooled[key]}): a pair-frame is counted in no well or in two")
    return out


def pipeline_result(chips: list[Path], args: argparse.Namespace) -> dict | None:
    """The pipeline's outcome tables of ``chips`` (``--inputs pipeline``), or those built from
    its tracks with true labels (``--inputs tracks``), scored against the truth; None (after
    naming every skipped chip) when no chip has them."""
    runs, skipped, counts = [], [], {}
    for chip in chips:
        store = args.zarr / f"{chip.name}.zarr"
        tables = args.tables
        if args.inputs in ("tracks", "models"):
            built = tracks_inputs_tables(chip, args)
            if built is None:
                print(f"skipping {chip.name}: no cell_tracks under {args.tables}, store {store} or gt/", flush=True)
                skipped.append(chip.name)
                continue
            tables, counts[chip.name] = built
        run = matched_outcomes(chip, tables, store) if store.is_dir() else None
        if run is None or run.frames is None or run.interactions is None or run.wells is None:
            skipped.append(chip.name)
            print(f"skipping {chip.name}: no pipeline outcome tables (cell_tracks, contacts, killing_kinetics, "
                  f"well_outcomes under {args.tables}, store {store}) or no gt/; materialize the chip first",
                  flush=True)
            continue
        runs.append(run)
    if not runs:
        return None
    contacts = score_matched_contacts(runs)
    kinetics = score_matched_kinetics(runs)
    freq = kinetics.pop("killing_frequency")
    versions = {}
    for run in runs:
        tables = built_tables_dir(args) if args.inputs in ("tracks", "models") else args.tables
        wells = pd.read_parquet(chip_table_path(tables, "well_outcomes", run.chip_id))
        versions[run.chip_id] = {c: int(wells[c].iloc[0]) for c in
                                 VERSION_COLUMNS if len(wells) and c in wells.columns}
    return {
        "benchmark": "kinetics", "inputs": args.inputs, "chips": [r.chip_id for r in runs], "skipped": skipped,
        "model_versions": versions, "track_counts": counts,
        "contact_tolerance_um": (SEGMENTED_MASK_TOLERANCE_UM if args.inputs in ("tracks", "models")
                                 else "the contacts asset's config (default SEGMENTED_MASK_TOLERANCE_UM)"),
        "contacts_pair_frames": contacts,
        "contacts_fn_rate_by_stratum": fn_rate_by_stratum(contact_counts_by_well(runs), contacts),
        "kinetics": {k: v for k, v in kinetics.items() if k != "killing_frequency_within_truth_ci"},
        "killing_frequency": {"well": freq},
        "acceptance": acceptance(contacts["accuracy"], contacts["fn_rate"], kinetics,
                                 kinetics["killing_frequency_within_truth_ci"], contacts),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group()
    src.add_argument("--chips", nargs="+", type=Path, help="simulated chip folders (with gt/)")
    src.add_argument("--seeds", nargs="+", type=int, default=[501, 502], help="held-out seeds (< 1000)")
    p.add_argument("--preset", default="standard", choices=["easy", "standard", "hard"])
    p.add_argument("--cache", type=Path, default=ROOT / "data" / "bench" / "kinetics",
                   help="where seeds are simulated")
    p.add_argument("--inputs", default="truth", choices=["truth", "tracks", "models", "pipeline"],
                   help="truth: ground-truth tracks, types, deaths, masks; tracks: the chips' pipeline tracks and "
                        "masks with true types and deaths; models: the chips' pipeline tracks and masks with types "
                        "and deaths from the champion classifiers; pipeline: the chips' outcome tables")
    p.add_argument("--tracking-uri", default=os.environ.get(
        "MLFLOW_TRACKING_URI", f"sqlite:///{(ROOT / 'data' / 'mlflow' / 'mlflow.db').resolve()}"),
                   help="MLflow store of the champion classifiers (--inputs models)")
    p.add_argument("--tables", type=Path, default=ROOT / "data" / "tables", help="pipeline tables (--inputs pipeline)")
    p.add_argument("--zarr", type=Path, default=ROOT / "data" / "zarr", help="chip stores (--inputs pipeline)")
    p.add_argument("--plots", type=Path, help="write killing curves and kinetics distributions here (PNG)")
    p.add_argument("--killing-curves", type=Path, help="write only the killing-curves PNG to this path")
    p.add_argument("--out", type=Path, help="result JSON (default benchmarks/results/kinetics_<inputs>.json)")
    args = p.parse_args()
    chips = args.chips or held_out_chips(args.seeds, args.preset, args.cache)
    if args.inputs != "truth" and (args.plots or args.killing_curves):
        raise SystemExit("plots come from --inputs truth here; pipeline plots are under data/reports/<chip>/")
    result = truth_inputs_result(chips, args) if args.inputs == "truth" else pipeline_result(chips, args)
    if result is None:
        print("no chip has pipeline outcome tables: nothing scored, nothing written")
        return
    result |= {"cpus": os.cpu_count(), "machine": platform.processor() or platform.machine()}
    out = args.out or RESULTS / f"kinetics_{args.inputs}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_clean(result), indent=2) + "\n")
    print(json.dumps(_clean({k: result[k] for k in ("contacts_pair_frames", "kinetics", "acceptance")}), indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
