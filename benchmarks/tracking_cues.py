"""Which cue limits tracking on LOCSNET detections (issues 5 and 19): the tracker on the
pipeline's detections, then with the re-identification embedding and/or the area of every
detection replaced by the ones its true cell's amodal mask gives.

    flock /tmp/lftiming_heavy.lock .venv/bin/python benchmarks/tracking_cues.py \\
        --pipeline DIR [--chips standard:43 hard:44] [--tracking-uri URI] [--out FILE]

``--pipeline`` is a ``benchmarks/tracking_pipeline.py`` cache holding the chips' LOCSNET masks
(``tracking_pipeline.py --chips standard:43 hard:44 --cache DIR --out /tmp/x.json`` makes it;
43/44 are the tracker's LOCSNET tuning chips). Per cropped well: the detections as
``cell_tracks`` makes them (``detections_from_instances`` + the champion ``reid_embedding``
of ``--tracking-uri``), and the true amodal masks moved into the same crop
(``truth.match.iter_truth_masks_in_crops``), embedded the same way. A detection whose centroid
lies within 4 px of a true mask's takes that mask's embedding (``true_embedding``), its area
(``true_area``) or both (``true_both``); everything else (centroids, masks for shape and
elongation, missed and extra detections) stays LOCSNET's. ``TrackerParams()`` tracks each
variant; MOTA (``lftiming_ml.metrics.mota``, gate 6 px) against the true centroids, summed
over wells. Also how far the matched detections' areas (|log ratio|) and embeddings (cosine)
are from their true masks' ones. Writes ``benchmarks/results/tracking_cues.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from lftiming_ml.evaluation.tracking import MOTA_GATE_PX, positions_by_id
from lftiming_ml.metrics import mota
from lftiming_ml.reid.serving import load_reid
from lftiming_ml.store.masks import open_well_masks
from lftiming_ml.store.movies import list_well_movies
from lftiming_ml.tracking import TrackerParams, track_well
from lftiming_ml.tracking.chip import detections_from_instances, embed_well_detections
from lftiming_ml.truth.match import iter_truth_masks_in_crops, truth_cells_in_crops, truth_well_strata

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MATCH_PX = 4.0
VARIANTS = ("locsnet", "true_embedding", "true_area", "true_both")


def variants(dets: list, true_dets: list, differences: list[tuple[float, float]] | None = None) -> dict[str, list]:
    """The detections of one well per variant (module docstring). ``differences``: gets
    (|log(LOCSNET area / true area)|, cosine of the two embeddings) per matched detection."""
    out: dict[str, list] = {v: [] for v in VARIANTS}
    for d, td in zip(dets, true_dets):
        if d.n == 0 or td.n == 0:
            for v in VARIANTS:
                out[v].append(d)
            continue
        dist = np.linalg.norm(d.centroids[:, None] - td.centroids[None], axis=-1)
        j = dist.argmin(1)
        ok = dist[np.arange(d.n), j] <= MATCH_PX
        if differences is not None:
            differences += zip(np.abs(np.log(d.areas[ok] / td.areas[j[ok]])).tolist(),
                               np.sum(d.embeddings[ok] * td.embeddings[j[ok]], axis=1).tolist())
        emb, area = d.embeddings.copy(), d.areas.copy()
        emb[ok], area[ok] = td.embeddings[j[ok]], td.areas[j[ok]]
        out["locsnet"].append(d)
        out["true_embedding"].append(replace(d, embeddings=emb))
        out["true_area"].append(replace(d, areas=area))
        out["true_both"].append(replace(d, embeddings=emb, areas=area))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pipeline", type=Path, required=True, help="tracking_pipeline.py cache (raw/, zarr/)")
    p.add_argument("--chips", nargs="+", default=["standard:43", "hard:44"], help="preset:seed, as tracking_pipeline.py ran them")
    p.add_argument("--tracking-uri", default=os.environ.get(
        "MLFLOW_TRACKING_URI", f"sqlite:///{(ROOT / 'data' / 'mlflow' / 'mlflow.db').resolve()}"),
        help="MLflow store holding the champion reid_embedding")
    p.add_argument("--out", type=Path, default=RESULTS / "tracking_cues.json")
    args = p.parse_args()
    torch.set_num_threads(2)
    started = time.perf_counter()
    reid, info = load_reid(tracking_uri=args.tracking_uri)
    params = TrackerParams()
    totals = {v: {"n_gt": 0, "n_misses": 0, "n_false_positives": 0, "n_id_switches": 0} for v in VARIANTS}
    by_stratum: dict[str, dict[str, dict[str, int]]] = {}
    differences: list[tuple[float, float]] = []
    for spec in args.chips:
        preset, seed = spec.split(":")
        name = f"trkpipe-{preset}-s{seed}"
        chip, store = args.pipeline / "raw" / name, args.pipeline / "zarr" / f"{name}.zarr"
        if not store.is_dir():
            raise SystemExit(f"{store}: no such store; run benchmarks/tracking_pipeline.py --chips {spec} "
                             f"--cache {args.pipeline} first")
        infos = {(i.field_id, i.row, i.col): i for i in list_well_movies(store) if i.cropped}
        truth = dict(iter(truth_cells_in_crops(chip, store).groupby(["field_id", "row", "col"])))
        strata = {(s.field_id, int(s.row), int(s.col)): s.stratum for s in truth_well_strata(chip, store).itertuples()}
        for tm in iter_truth_masks_in_crops(chip, store):
            key = (tm.field_id, tm.row, tm.col)
            if key not in strata or key not in infos:
                continue
            info_w = infos[key]
            instances, _ = open_well_masks(store, *key)
            dets = embed_well_detections(store, info_w, detections_from_instances(instances), reid)
            true_dets = embed_well_detections(store, info_w, detections_from_instances(tm.masks), reid)
            gt = positions_by_id(truth[key], "cell_id", info_w.n_frames) if key in truth else \
                np.full((info_w.n_frames, 0, 2), np.nan)
            for v, d in variants(dets, true_dets, differences).items():
                s = mota(gt, track_well(d, info_w.well_box_px, params).positions, MOTA_GATE_PX)
                for group in (totals[v], by_stratum.setdefault(strata[key], {}).setdefault(
                        v, {k: 0 for k in totals[v]})):
                    for k in group:
                        group[k] += int(getattr(s, k))
        print(f"{name}: done ({time.perf_counter() - started:.0f} s)", flush=True)

    def pooled(c: dict[str, int]) -> float:
        return 1.0 - (c["n_misses"] + c["n_false_positives"] + c["n_id_switches"]) / max(c["n_gt"], 1)

    log_area, cosine = (np.array([x[i] for x in differences]) for i in (0, 1))
    result = {"benchmark": "tracking_cues", "chips": args.chips, "reid_version": info.version, "match_px": MATCH_PX,
              "gate_px": MOTA_GATE_PX, "tracker_params": json.loads(params.model_dump_json()),
              "overall": {v: {**c, "mota_pooled": pooled(c)} for v, c in totals.items()},
              "strata": {s: {v: {**c, "mota_pooled": pooled(c)} for v, c in g.items()} for s, g in by_stratum.items()},
              "matched_detections": {  # LOCSNET vs the true mask of the same cell
                  "n": len(differences),
                  "abs_log_area_ratio_quantiles_25_50_75": np.quantile(log_area, [0.25, 0.5, 0.75]).round(4).tolist(),
                  "embedding_cosine_quantiles_5_25_50": np.quantile(cosine, [0.05, 0.25, 0.5]).round(4).tolist(),
                  "embedding_cosine_median_where_area_off_by_10pct_or_more":
                      round(float(np.median(cosine[log_area >= np.log(1.1)])), 4) if (log_area >= np.log(1.1)).any()
                      else None},
              "seconds": round(time.perf_counter() - started, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{'variant':<16} {'IDSW':>5} {'FP':>5} {'FN':>5} {'MOTA pooled':>11}")
    for v, c in result["overall"].items():
        print(f"{v:<16} {c['n_id_switches']:>5} {c['n_false_positives']:>5} {c['n_misses']:>5} {c['mota_pooled']:>11.4f}")
    print(f"matched detections: {json.dumps(result['matched_detections'])}")
    print(f"\n{result['seconds']} s; wrote {args.out}")


if __name__ == "__main__":
    main()
