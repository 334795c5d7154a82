"""Tracking on the real pipeline's LOCSNET detections of held-out simulated chips: ours vs
laptrack (issue 5, benchmark b).

    flock /tmp/lftiming_train.lock .venv/bin/python benchmarks/tracking_pipeline.py \\
        [--chips standard:41 hard:42] [--fields 2] [--cache DIR] [--raw DIR] [--reuse-masks] [--params JSON]

Each chip (``preset:seed``, seeds < 1000: never trained on; the segmentation corpus uses seeds
>= 20 000, the well detector's >= 10 000, the ground-truth tracking benchmark 11/12/31/32) is
simulated with ``--fields`` fields of 72 frames into ``--cache`` (default
``$LFTIMING_BENCH_CACHE/tracking_pipeline`` or ``/tmp/lftiming_bench_cache/tracking_pipeline``),
laid out like a data folder (``raw/``, ``zarr/``, ``tables/``; ``--raw`` puts the simulated
chips elsewhere, e.g. where another run with other models already simulated them). Then the pipeline's library calls, as the
assets make them: well grid with the champion well detector, well movies, ``cell_masks`` with
the champion LOCSNET (both resolved in the project's MLflow store), ``cell_tracks`` with
``TrackerParams()`` (``--params`` overrides fields, for sweeps on tuning chips) and the champion ``reid_embedding`` (appearance term of Eq. 7; the same
tracker without it is scored as ``ours_no_reid``, the ablation). laptrack (``benchmarks/tracking.py``'s model) links exactly the same
LOCSNET instances (their mask centroids). As a reference that separates detection errors from
linking errors, our tracker also runs on the true amodal masks moved into the same crops
(``ours_true_masks``). All are scored per well with paper Eq. 9 MOTA vs the
true centroids in the pipeline's crops (``lftiming_ml.evaluation.tracking``), per E:T stratum
and contact-rich, 95% bootstrap CIs over wells. With ``--reuse-masks`` the grid, movies and
masks of a previous run in the cache are reused (their timings are the ones recorded then).
Writes ``benchmarks/results/tracking_locsnet.json`` and prints a table.
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
import pandas as pd
import torch

from lftiming_ml.chip import read_manifest
from lftiming_ml.evaluation.segmentation import evaluate_segmentation
from lftiming_ml.reid.model import ReidNet
from lftiming_ml.reid.serving import load_reid
from lftiming_ml.segmentation.serving import MODEL_NAMES, chip_cell_masks, load_segmenter
from lftiming_ml.store.masks import open_well_masks
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.sim.config import preset_config
from lftiming_ml.store.tables import write_chip_table
from lftiming_ml.tracking.chip import chip_cell_tracks, detections_from_instances, embed_well_detections
from lftiming_ml.tracking.config import TrackerParams
from lftiming_ml.evaluation.tracking import MOTA_GATE_PX, score_births, score_chip_tracks, summarize_tracking
from lftiming_ml.tracking.tracker import track_well
from lftiming_ml.truth.match import iter_truth_masks_in_crops
from lftiming_ml.wells.config import WellGridParams
from lftiming_ml.wells.grid import chip_well_grid, chip_well_movies
from lftiming_ml.store.movies import list_well_movies
from lftiming_ml.wells.serving import load_detector

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tracking import GATE_PX, laptrack_model, run_laptrack  # noqa: E402  (benchmarks/tracking.py)
from lftiming_ml.truth.files import MASKS, has_truth

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TARGETS = {"1E1T": 0.99, "1E2T": 0.97, "2E1T": 0.97, "2E2T": 0.95}
if GATE_PX != MOTA_GATE_PX:
    raise SystemExit(f"gate of benchmarks/tracking.py ({GATE_PX}) differs from the evaluation's ({MOTA_GATE_PX})")


def ensure_chip(raw: Path, preset: str, seed: int, n_fields: int) -> Path:
    chip = raw / f"trkpipe-{preset}-s{seed}"
    if not has_truth(chip, MASKS):
        print(f"simulating {chip} ...", flush=True)
        simulate_chip(chip, preset_config(preset, seed=seed, n_fields=n_fields, n_frames=72), overwrite=True)
    n = len(read_manifest(chip).fields)
    if n != n_fields:
        raise SystemExit(f"{chip} has {n} fields, --fields {n_fields}: use another --cache or --fields")
    return chip


def segment_chip(chip: Path, store: Path, tracking_uri: str, reuse: bool) -> dict:
    """Grid, movies and LOCSNET masks (timed, ms); the record is kept beside the store."""
    record_path = store.with_suffix(".steps.json")
    if reuse and record_path.is_file():
        print(f"{chip.name}: reusing grid, movies and masks of {record_path}", flush=True)
        return json.loads(record_path.read_text())
    manifest, params = read_manifest(chip), WellGridParams()
    detect, det_info = load_detector(tracking_uri=tracking_uri)
    segment, seg_info = load_segmenter(tracking_uri=tracking_uri, model_name=MODEL_NAMES["locsnet"])
    t0 = time.perf_counter()
    grid, problems = chip_well_grid(chip, manifest, detect, params=params)
    t1 = time.perf_counter()
    infos = chip_well_movies(chip, manifest, grid, store, params=params)
    t2 = time.perf_counter()
    cells, _ = chip_cell_masks(store, segment)
    t3 = time.perf_counter()
    write_chip_table(store.parent.parent / "tables", "cell_masks", chip.name, cells)
    n_cropped = sum(i.cropped for i in infos)
    record = {"well_detector_version": det_info.version, "locsnet_version": seg_info.version,
              "wells": len(infos), "wells_cropped": n_cropped, "grid_problems": len(problems),
              "ms_grid_per_well": 1e3 * (t1 - t0) / max(len(infos), 1),
              "ms_movies_per_well": 1e3 * (t2 - t1) / max(len(infos), 1),
              "ms_masks_per_well": 1e3 * (t3 - t2) / max(n_cropped, 1)}
    record_path.write_text(json.dumps(record, indent=1))
    return record


def laptrack_tracks(store: Path) -> tuple[pd.DataFrame, list[float]]:
    """laptrack on every cropped well's LOCSNET instances: a ``cell_tracks``-like table and ms per well."""
    model, parts, ms = laptrack_model(), [], []
    for info in (i for i in list_well_movies(store) if i.cropped):
        instances, _ = open_well_masks(store, info.field_id, info.row, info.col)
        detections = detections_from_instances(instances)
        start = time.perf_counter()
        pos = run_laptrack(detections, model)
        ms.append(1e3 * (time.perf_counter() - start))
        t_idx, k_idx = np.nonzero(np.isfinite(pos[..., 0]))
        parts.append(pd.DataFrame({"field_id": info.field_id, "row": info.row, "col": info.col, "track_id": k_idx,
                                   "frame": t_idx, "y": pos[t_idx, k_idx, 0], "x": pos[t_idx, k_idx, 1]}))
    return pd.concat(parts, ignore_index=True), ms


def tracks_on_true_masks(chip: Path, store: Path, reid: ReidNet, params: TrackerParams) -> pd.DataFrame:
    """Our tracker (with ``reid``) on the true amodal masks of each paired well (reference:
    perfect detections)."""
    infos = {(i.field_id, i.row, i.col): i for i in list_well_movies(store) if i.cropped}
    parts = []
    for truth in iter_truth_masks_in_crops(chip, store):
        info = infos[(truth.field_id, truth.row, truth.col)]
        detections = embed_well_detections(store, info, detections_from_instances(truth.masks), reid)
        tracks = track_well(detections, info.well_box_px, params)
        t_idx, k_idx = np.nonzero(np.isfinite(tracks.positions[..., 0]))
        parts.append(pd.DataFrame({"field_id": truth.field_id, "row": truth.row, "col": truth.col, "track_id": k_idx,
                                   "frame": t_idx, "y": tracks.positions[t_idx, k_idx, 0],
                                   "x": tracks.positions[t_idx, k_idx, 1]}))
    return pd.concat(parts, ignore_index=True)


def run_chip(cache: Path, raw: Path, spec: str, n_fields: int, tracking_uri: str, reuse: bool,
             params: TrackerParams) -> tuple[pd.DataFrame, dict]:
    preset, seed = spec.split(":")
    if int(seed) >= 1000:
        raise SystemExit(f"held-out seeds are < 1000, got {spec}")
    chip = ensure_chip(raw, preset, int(seed), n_fields)
    store = cache / "zarr" / f"{chip.name}.zarr"
    store.parent.mkdir(parents=True, exist_ok=True)
    record = segment_chip(chip, store, tracking_uri, reuse)
    reid, reid_info = load_reid(tracking_uri=tracking_uri)
    record["reid_version"] = reid_info.version
    no_reid, _ = chip_cell_tracks(store, params)  # the ablation first: the last write stays
    start = time.perf_counter()
    ours, summaries = chip_cell_tracks(store, params, reid=reid)
    record["ms_tracks_per_well"] = 1e3 * (time.perf_counter() - start) / max(len(summaries), 1)
    steps = pd.DataFrame([s.step_ms for s in summaries])
    record["ms_ours_per_well_by_step"] = {k: float(v) for k, v in steps.mean().items()}
    record["ms_ours_per_well"] = float(steps.sum(axis=1).mean())
    ours["model_version"] = record["locsnet_version"]  # as the cell_tracks asset stamps it
    ours["reid_version"] = reid_info.version
    write_chip_table(cache / "tables", "cell_tracks", chip.name, ours)
    lap, lap_ms = laptrack_tracks(store)
    record["ms_laptrack_per_well"] = float(np.mean(lap_ms))
    seg = evaluate_segmentation(chip, cache / "tables", store)
    record["segmentation"] = {"overall": seg["overall"], "coverage": seg["coverage"]}
    record["births"] = score_births(chip, store, ours)
    rows = []
    for method, tracks in (("ours", ours), ("ours_no_reid", no_reid), ("laptrack", lap),
                           ("ours_true_masks", tracks_on_true_masks(chip, store, reid, params))):
        wells = score_chip_tracks(chip, store, tracks)
        rows.append(wells.assign(method=method, chip=chip.name))
    print(f"{chip.name}: {record['wells_cropped']} wells segmented and tracked; LOCSNET mIoU "
          f"{seg['overall']['miou_mean']:.3f}, missed {seg['overall']['n_missed']}, extra {seg['overall']['n_extra']}; "
          f"births {record['births']}", flush=True)
    return pd.concat(rows, ignore_index=True), record


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chips", nargs="+", default=["standard:41", "hard:42"], help="preset:seed (seeds < 1000)")
    p.add_argument("--fields", type=int, default=2, help="fields of view per simulated chip (72 frames each)")
    p.add_argument("--cache", type=Path, default=Path(os.environ.get("LFTIMING_BENCH_CACHE", "/tmp/lftiming_bench_cache"))
                   / "tracking_pipeline")
    p.add_argument("--raw", type=Path, default=None, help="where the chips are simulated (default: <cache>/raw)")
    p.add_argument("--tracking-uri", default=os.environ.get(
        "MLFLOW_TRACKING_URI", f"sqlite:///{(ROOT / 'data' / 'mlflow' / 'mlflow.db').resolve()}"),
        help="MLflow store holding the champion well_detector and locsnet")
    p.add_argument("--out", type=Path, default=RESULTS / "tracking_locsnet.json",
                   help="result JSON (tuning runs on other chips write elsewhere)")
    p.add_argument("--reuse-masks", action="store_true", help="reuse grid, movies and masks of a previous run")
    p.add_argument("--params", default="{}", help="TrackerParams overrides as JSON (for sweeps on the tuning chips)")
    args = p.parse_args()
    params = TrackerParams(**json.loads(args.params))
    torch.set_num_threads(2)
    started = time.perf_counter()
    parts, records = [], {}
    for spec in args.chips:
        wells, records[spec] = run_chip(args.cache, args.raw or args.cache / "raw", spec, args.fields,
                                        args.tracking_uri, args.reuse_masks, params)
        parts.append(wells)
    df = pd.concat(parts, ignore_index=True)
    strata = {m: summarize_tracking(df[df["method"] == m]) for m in ("ours", "ours_no_reid", "laptrack", "ours_true_masks")}
    for name, target in TARGETS.items():
        if name in strata["ours"]:
            strata["ours"][name]["target"] = target
            strata["ours"][name]["meets_target"] = bool(strata["ours"][name]["mota_mean"] >= target)
    rich = [strata[m].get("contact-rich", {}).get("id_switches") for m in ("ours", "laptrack")]
    ms = {k: float(np.mean([r[k] for r in records.values()])) for k in
          ("ms_grid_per_well", "ms_movies_per_well", "ms_masks_per_well", "ms_ours_per_well", "ms_laptrack_per_well")}
    result = {
        "benchmark": "tracking_locsnet", "chips": args.chips, "fields": args.fields, "frames": 72,
        "gate_px": MOTA_GATE_PX, "targets": TARGETS, "tracker_params": json.loads(params.model_dump_json()),
        "laptrack": "benchmarks/tracking.py laptrack_model() on the same LOCSNET instance centroids",
        "strata": strata, "contact_rich_id_switches": {"ours": rich[0], "laptrack": rich[1],
                                                       "ours_fewer": rich[0] is not None and rich[0] < rich[1]},
        "ms_per_well_mean_over_chips": ms, "per_chip": records,
        "wells": df.to_dict(orient="records"),
        "seconds": round(time.perf_counter() - started, 1), "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=float) + "\n")

    fmt = lambda s: f"{s['mota_mean']:.4f} [{s['mota_ci95'][0]:.4f}, {s['mota_ci95'][1]:.4f}]"  # noqa: E731
    print(f"\n{'stratum':<13} {'wells':>5} | {'ours MOTA [95% CI]':<26} {'IDSW':>5} {'FN':>5} {'FP':>5} "
          f"{'MOTA=1':>6} {'target':>6} | {'laptrack MOTA [95% CI]':<26} {'IDSW':>5} {'FN':>5} {'FP':>5} "
          f"| {'ours, true masks':<16} {'IDSW':>5} | {'no re-ID':<8} {'IDSW':>5}")
    for name, o in strata["ours"].items():
        lt, ref, nr = strata["laptrack"][name], strata["ours_true_masks"][name], strata["ours_no_reid"][name]
        target = f"{o['target']:.2f}{'+' if o['meets_target'] else '-'}" if "target" in o else ""
        print(f"{name:<13} {o['wells']:>5} | {fmt(o):<26} {o['id_switches']:>5} {o['misses']:>5} "
              f"{o['false_positives']:>5} {o['perfect_wells_share']:>6.2f} {target:>6} | {fmt(lt):<26} "
              f"{lt['id_switches']:>5} {lt['misses']:>5} {lt['false_positives']:>5} "
              f"| {ref['mota_mean']:<16.4f} {ref['id_switches']:>5} | {nr['mota_mean']:<8.4f} {nr['id_switches']:>5}")
    print("\nms per well: " + ", ".join(f"{k[3:-9]} {v:.1f}" for k, v in ms.items()))
    print("ours by step (ms per well): " + json.dumps({s: {k: round(v, 1) for k, v in r["ms_ours_per_well_by_step"].items()}
                                                      for s, r in records.items()}))
    print(f"contact-rich ID switches: ours {rich[0]}, laptrack {rich[1]}")
    print(f"\n{result['seconds']} s; MOTA gate {MOTA_GATE_PX} px; wrote {args.out}")


if __name__ == "__main__":
    main()
