"""The review queue on held-out simulated chips: how many of the truly erroneous wells it puts
first (issue 17).

    flock /tmp/lftiming_heavy.lock .venv/bin/python benchmarks/review_queue.py
    flock /tmp/lftiming_heavy.lock .venv/bin/python benchmarks/review_queue.py --tuning

Chips (``preset:seed``; seeds < 1000 are never trained on, and 711-724 are used by no other
benchmark): tuning chips standard:711 and hard:712 (``--tuning``: fit the queue's weights and
print them for ``lftiming_ml/review/queue.py``), held-out chips standard:721, hard:722,
standard:723 and hard:724 (the reported numbers; nothing is chosen on them). Each is simulated
with ``--fields`` fields of 72 frames into ``--cache`` (default
``$LFTIMING_BENCH_CACHE/review_queue`` or ``/tmp/lftiming_bench_cache/review_queue``), laid
out like a data folder, and the real pipeline runs on it: the ``chip_pipeline`` job (raw chip
to ``review_queue``) in process, with the champion models of ``--tracking-uri``. Pipeline
outputs are reused on later runs (``--rerun`` redoes them); the queue itself is recomputed
from the tables every time (``review.queue.chip_review_queue``), so new weights need no
pipeline run.

Truth (``lftiming_ml.evaluation.review.well_errors``): a well is erroneous when its tracking
MOTA < 1 (any miss, false positive or ID switch), a track's type or death is wrong (death
+/-4 frames), or its segmentation mIoU < 0.8. For K = 5, 10, 20% of each chip's queue (its
first ceil(K n) wells by ``queue_rank``): the share of all erroneous wells captured, with a
Wilson 95% CI, against a random K of the same size (expected share = the share of wells
reviewed; 95% interval from the hypergeometric distribution), and the enrichment (captured
share / reviewed share = error rate in the top K / overall error rate) with a 95% bootstrap CI
over wells (resampled within chips, ranks recomputed). Also: the same for the phase-only
weights (chips without dyes), each signal's AUROC alone, and the drop-one ablation. Writes
``benchmarks/results/review_queue.json`` (``--tuning``: ``review_queue_tuning.json``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import torch
from scipy.optimize import minimize
from scipy.stats import hypergeom

from lftiming_assets.jobs import CHIP_ASSETS, MODEL_ASSETS, chip_pipeline
from lftiming_assets.resources import build_resources
from lftiming_ml.chip import read_manifest
from lftiming_ml.evaluation.review import MIOU_MIN, well_errors
from lftiming_ml.metrics.classification import auroc
from lftiming_ml.metrics.stats import wilson_ci
from lftiming_ml.review.config import ReviewParams
from lftiming_ml.review.queue import WEIGHTS, WEIGHTS_PHASE_ONLY, chip_review_queue, score
from lftiming_ml.review.signals import PHASE_SIGNALS, SIGNALS, normalise
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.sim.config import preset_config
from lftiming_ml.store.layout import DataLayout
from lftiming_ml.store.tables import chip_table_path
from lftiming_ml.truth.files import MASKS, has_truth

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TUNING_CHIPS = ["standard:711", "hard:712"]
HELD_OUT_CHIPS = ["standard:721", "hard:722", "standard:723", "hard:724"]
SHARES = (0.05, 0.10, 0.20)
TARGETS = {"enrichment_at_10": 3.0, "captured_at_20": 0.60}
L2 = 1.0
"""Ridge penalty of the weight fit (on the weights, not the intercept): a N(0, 1) prior on
each signal's log-odds per unit normalised signal."""
N_BOOT = 2000


# --- chips and the pipeline --------------------------------------------------------------------

def ensure_chip(cache: Path, spec: str, n_fields: int) -> Path:
    preset, seed = spec.split(":")
    if int(seed) >= 1000:
        raise SystemExit(f"held-out and tuning seeds are < 1000, got {spec}")
    chip = DataLayout(cache).chip(f"rq-{preset}-s{seed}").raw_dir
    if not has_truth(chip, MASKS):
        print(f"simulating {chip} ...", flush=True)
        simulate_chip(chip, preset_config(preset, seed=int(seed), n_fields=n_fields, n_frames=72), overwrite=True)
    n = len(read_manifest(chip).fields)
    if n != n_fields:
        raise SystemExit(f"{chip} has {n} fields, --fields {n_fields}: use another --cache or --fields")
    return chip


def run_pipeline(cache: Path, chip: Path, rerun: bool) -> float:
    """The ``chip_pipeline`` job on ``chip`` (champion models of ``MLFLOW_TRACKING_URI``), unless
    its outputs are there already; returns the seconds it took (0 when reused)."""
    if not rerun and chip_table_path(cache / "tables", "review_queue", chip.name).is_file():
        print(f"{chip.name}: reusing the pipeline's outputs", flush=True)
        return 0.0
    print(f"{chip.name}: running chip_pipeline ...", flush=True)
    start = time.perf_counter()
    defs = dg.Definitions(assets=[*CHIP_ASSETS, *MODEL_ASSETS], jobs=[chip_pipeline],
                          resources=build_resources(str(cache)))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("chips", [chip.name])
    result = defs.resolve_job_def("chip_pipeline").execute_in_process(partition_key=chip.name, instance=instance)
    if not result.success:
        raise SystemExit(f"{chip.name}: chip_pipeline failed")
    seconds = time.perf_counter() - start
    print(f"{chip.name}: pipeline done in {seconds:.0f} s", flush=True)
    return seconds


def chip_wells(cache: Path, chip: Path, spec: str) -> pd.DataFrame:
    """The chip's review queue (recomputed with the library's current weights) joined with its
    wells' errors by truth; one row per occupied well paired with a true well."""
    layout = DataLayout(cache).chip(chip.name)
    queue = chip_review_queue(layout.tables_dir, layout.zarr_path, chip.name, params=ReviewParams())
    errors = well_errors(chip, layout.tables_dir, layout.zarr_path)
    wells = queue.drop(columns=["chip_id"]).merge(errors, on=["field_id", "row", "col"], how="inner")
    return wells.assign(chip=chip.name, spec=spec)


# --- the weight fit -------------------------------------------------------------------------------

def normalised(wells: pd.DataFrame, names: list[str]) -> np.ndarray:
    return np.stack([normalise(n, wells[n]) for n in names], axis=1)


def fit_weights(wells: pd.DataFrame, names: list[str], l2: float = L2) -> dict[str, float]:
    """Non-negative ridge logistic regression of ``erroneous`` on the normalised signals
    ``names``: ``{'intercept': w_0, name: w_i >= 0}``."""
    x, y = normalised(wells, names), wells["erroneous"].to_numpy(float)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = theta[0] + x @ theta[1:]
        p = 1.0 / (1.0 + np.exp(-z))
        nll = float(np.sum(np.logaddexp(0.0, z) - y * z)) + 0.5 * l2 * float(theta[1:] @ theta[1:])
        grad = np.concatenate([[np.sum(p - y)], x.T @ (p - y) + l2 * theta[1:]])
        return nll, grad

    start = np.zeros(len(names) + 1)
    start[0] = math.log(max(y.mean(), 1e-3) / max(1 - y.mean(), 1e-3))
    fit = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=[(None, None)] + [(0.0, None)] * len(names))
    if not fit.success:
        raise RuntimeError(f"weight fit did not converge: {fit.message}")
    return {"intercept": round(float(fit.x[0]), 3), **{n: round(float(w), 3) for n, w in zip(names, fit.x[1:])}}


# --- scoring the queue ----------------------------------------------------------------------------

def top_mask(wells: pd.DataFrame, scores: np.ndarray, share: float) -> np.ndarray:
    """``bool[n]``: each chip's first ceil(share x n_chip) wells by score (ties: field, row, col)."""
    out = np.zeros(len(wells), bool)
    frame = wells[["chip", "field_id", "row", "col"]].assign(score=scores, pos=np.arange(len(wells)))
    for _, g in frame.groupby("chip", sort=False):
        g = g.sort_values(["score", "field_id", "row", "col"], ascending=[False, True, True, True], kind="stable")
        out[g["pos"].to_numpy()[:math.ceil(share * len(g))]] = True
    return out


def capture(wells: pd.DataFrame, scores: np.ndarray, share: float, *, boot: bool = True, seed: int = 0) -> dict:
    """Captured share of erroneous wells in the top ``share`` vs a random pick of the same size."""
    err = wells["erroneous"].to_numpy(bool)
    top = top_mask(wells, scores, share)
    n, n_err, n_top, hit = len(wells), int(err.sum()), int(top.sum()), int((top & err).sum())
    est, lo, hi = wilson_ci(hit, n_err)
    reviewed = n_top / n
    rand_lo, rand_hi = (hypergeom.ppf(q, n, n_err, n_top) / n_err for q in (0.025, 0.975))
    out = {"share_reviewed": reviewed, "wells_reviewed": n_top, "errors_captured": hit, "errors_total": n_err,
           "captured_share": est, "captured_ci95": [lo, hi],
           "random_captured_share": reviewed, "random_ci95": [float(rand_lo), float(rand_hi)],
           "precision": hit / n_top if n_top else math.nan, "error_rate": n_err / n,
           "enrichment": est / reviewed if reviewed else math.nan}
    if boot:
        rng = np.random.default_rng(seed)
        by_chip = [np.flatnonzero(wells["chip"].to_numpy() == c) for c in wells["chip"].unique()]
        ratios = []
        for _ in range(N_BOOT):
            idx = np.concatenate([rng.choice(ix, ix.size) for ix in by_chip])
            w = wells.iloc[idx].reset_index(drop=True)
            e, t = w["erroneous"].to_numpy(bool), top_mask(w, scores[idx], share)
            if e.sum():
                ratios.append(((t & e).sum() / e.sum()) / (t.sum() / len(w)))
        out["enrichment_ci95"] = [float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975))]
    return out


def _rate(k: int, n: int) -> tuple[float, list[float]]:
    est, lo, hi = wilson_ci(k, n)
    return est, [lo, hi]


def evaluate(wells: pd.DataFrame, weights: dict[str, float], *, boot: bool = True) -> dict:
    """Per K: ``capture``, the best any queue could do (every reviewed well erroneous) and the
    error rate of the LAST K of each chip's queue (Wilson CI); and the score's AUROC for
    erroneous wells (independent of how many wells err)."""
    scores = score(wells, weights)
    err = wells["erroneous"].to_numpy(bool)
    out: dict[str, object] = {}
    for s in SHARES:
        c = capture(wells, scores, s, boot=boot)
        c["best_possible_captured_share"] = capture(wells, err.astype(float), s, boot=False)["captured_share"]
        last = top_mask(wells, -scores, s)  # the end of each chip's queue: what a reviewer would skip
        c["bottom_error_rate"], c["bottom_error_rate_ci95"] = _rate(int((last & err).sum()), int(last.sum()))
        out[f"top_{round(s * 100)}"] = c
    out["auroc"] = auroc(err, scores)
    return out


def signal_report(wells: pd.DataFrame, weights: dict[str, float]) -> dict:
    """Per signal: its weight, AUROC alone (raw value vs erroneous), wells where it is non-zero,
    and the queue without it (its weight set to 0): the score's AUROC and the captured share
    at 10% and 20%."""
    err = wells["erroneous"].to_numpy(bool)
    out = {}
    for name in (n for n in weights if n != "intercept"):
        scores = score(wells, {**weights, name: 0.0})
        out[name] = {"weight": weights[name], "auroc_alone": auroc(err, wells[name].fillna(0).to_numpy(float)),
                     "wells_nonzero": int((wells[name].fillna(0) > 0).sum()),
                     "without_it_auroc": auroc(err, scores),
                     "without_it_captured_at_10": capture(wells, scores, 0.10, boot=False)["captured_share"],
                     "without_it_captured_at_20": capture(wells, scores, 0.20, boot=False)["captured_share"]}
    return out


def error_breakdown(wells: pd.DataFrame, weights: dict[str, float]) -> dict:
    """Per kind of error: wells with it, and of those, how many the top 10% and 20% hold."""
    scores = score(wells, weights)
    tops = {s: top_mask(wells, scores, s) for s in (0.10, 0.20)}
    return {kind: {"wells": int(wells[kind].sum()),
                   **{f"in_top_{round(s * 100)}": int((wells[kind].to_numpy(bool) & t).sum()) for s, t in tops.items()}}
            for kind in ("tracking_error", "segmentation_error", "type_error", "death_error", "erroneous")}


# --- main -------------------------------------------------------------------------------------------

def collect(cache: Path, specs: list[str], n_fields: int, rerun: bool) -> tuple[pd.DataFrame, dict]:
    parts, seconds = [], {}
    for spec in specs:
        chip = ensure_chip(cache, spec, n_fields)
        seconds[chip.name] = round(run_pipeline(cache, chip, rerun), 1)
        wells = chip_wells(cache, chip, spec)
        print(f"{chip.name}: {len(wells)} wells, {int(wells['erroneous'].sum())} erroneous "
              f"(tracking {int(wells['tracking_error'].sum())}, segmentation {int(wells['segmentation_error'].sum())}, "
              f"type {int(wells['type_error'].sum())}, death {int(wells['death_error'].sum())})", flush=True)
        parts.append(wells)
    return pd.concat(parts, ignore_index=True), seconds


def print_table(name: str, result: dict) -> None:
    print(f"\n{name}: AUROC of the score for erroneous wells {result['auroc']:.3f}")
    print(f"{'top K':>6} {'reviewed':>8} | {'captured [95% CI]':<24} | {'random [95% range]':<24} | "
          f"{'enrichment [95% CI]':<22} | precision")
    for key, r in result.items():
        if not key.startswith("top_"):
            continue
        ci = r.get("enrichment_ci95", [math.nan, math.nan])
        print(f"{key[4:] + '%':>6} {r['wells_reviewed']:>8} | {r['captured_share']:.3f} [{r['captured_ci95'][0]:.3f}, "
              f"{r['captured_ci95'][1]:.3f}]     | {r['random_captured_share']:.3f} [{r['random_ci95'][0]:.3f}, "
              f"{r['random_ci95'][1]:.3f}]     | {r['enrichment']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"
              f"{'':<7} | {r['precision']:.3f} (base {r['error_rate']:.3f}); best possible captured "
              f"{r['best_possible_captured_share']:.3f}; error rate of the last {key[4:]}% "
              f"{r['bottom_error_rate']:.3f}")


def fitted_weights(path: Path) -> tuple[dict[str, float], dict[str, float]]:
    """The fluorescence and phase-only weights of a result JSON of this benchmark (a ``--tuning``
    fit); SystemExit naming the file and the problem when it has none for this code's signals."""
    try:
        fitted = json.loads(path.read_text())
        pair = fitted["weights"], fitted["weights_phase_only"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"{path}: not a result of this benchmark with weights ({type(e).__name__}: {e})") from e
    for name, w, expected in (("weights", pair[0], ["intercept", *SIGNALS]),
                              ("weights_phase_only", pair[1], ["intercept", *PHASE_SIGNALS])):
        if not isinstance(w, dict) or sorted(w) != sorted(expected):
            raise SystemExit(f"{path}: its {name} are for other signals than this code's "
                             f"(missing {sorted(set(expected) - set(w or {}))}, extra {sorted(set(w or {}) - set(expected))})")
    return pair


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tuning", action="store_true", help="fit the weights on the tuning chips and print them")
    p.add_argument("--chips", nargs="+", help="preset:seed (default: the held-out chips, or the tuning ones)")
    p.add_argument("--fields", type=int, default=2, help="fields of view per simulated chip (72 frames each)")
    p.add_argument("--cache", type=Path, default=Path(os.environ.get("LFTIMING_BENCH_CACHE", "/tmp/lftiming_bench_cache"))
                   / "review_queue")
    p.add_argument("--tracking-uri", default=os.environ.get(
        "MLFLOW_TRACKING_URI", f"sqlite:///{(ROOT / 'data' / 'mlflow' / 'mlflow.db').resolve()}"),
        help="MLflow store holding the champion models (read only)")
    p.add_argument("--rerun", action="store_true", help="re-run the pipeline even where its outputs exist")
    p.add_argument("--out", type=Path, help="result JSON (default: results/review_queue[_tuning].json)")
    p.add_argument("--weights-from", type=Path, help="held-out mode: score with the weights of this --tuning result JSON "
                                                       "instead of review/queue.py's (to judge a refit before committing it)")
    args = p.parse_args()
    if args.weights_from and args.tuning:
        p.error("--weights-from is for the held-out chips; --tuning fits weights")
    chosen = fitted_weights(args.weights_from) if args.weights_from else None  # refused before any pipeline run
    specs = args.chips or (TUNING_CHIPS if args.tuning else HELD_OUT_CHIPS)
    out = args.out or RESULTS / ("review_queue_tuning.json" if args.tuning else "review_queue.json")
    os.environ["MLFLOW_TRACKING_URI"] = args.tracking_uri
    os.environ["LFTIMING_DUCKDB"] = str(args.cache / "lftiming.duckdb")
    torch.set_num_threads(2)
    started = time.perf_counter()
    wells, pipeline_seconds = collect(args.cache, specs, args.fields, args.rerun)
    versions = wells[["segmenter_version", "reid_version", "celltype_version", "apoptosis_version"]].drop_duplicates()
    result: dict[str, object] = {
        "benchmark": "review_queue", "mode": "tuning" if args.tuning else "held-out", "chips": specs,
        "fields": args.fields, "frames": 72, "wells": len(wells), "erroneous_wells": int(wells["erroneous"].sum()),
        "error_definition": f"tracking MOTA < 1 (any miss, false positive or ID switch), a wrong type or death "
                            f"(+/-4 frames) of a matched track, or segmentation mIoU < {MIOU_MIN}",
        "model_versions": versions.to_dict(orient="records"), "pipeline_seconds": pipeline_seconds,
    }
    if args.tuning:
        fitted = fit_weights(wells, list(SIGNALS))
        fitted_phase = fit_weights(wells, PHASE_SIGNALS)
        result |= {"l2": L2, "weights": fitted, "weights_phase_only": fitted_phase,
                   "queue_fitted": evaluate(wells, fitted), "queue_phase_only_fitted": evaluate(wells, fitted_phase),
                   "signals": signal_report(wells, fitted)}
        print_table("tuning chips, fitted weights (in-sample)", result["queue_fitted"])
        print(f"\nWEIGHTS = {json.dumps(fitted)}\nWEIGHTS_PHASE_ONLY = {json.dumps(fitted_phase)}")
    else:
        weights, weights_phase = WEIGHTS, WEIGHTS_PHASE_ONLY
        if chosen is not None:
            weights, weights_phase = chosen
            result["weights_from"] = str(args.weights_from)
        queue = evaluate(wells, weights)
        phase = evaluate(wells, weights_phase)
        at10, at20 = queue["top_10"], queue["top_20"]
        result |= {
            "weights": weights, "weights_phase_only": weights_phase,
            "queue": queue, "queue_phase_only": phase,
            "targets": TARGETS,
            "acceptance": {"enrichment_at_10": at10["enrichment"], "captured_at_20": at20["captured_share"],
                           "enrichment_at_10_ok": bool(at10["enrichment"] >= TARGETS["enrichment_at_10"]),
                           "captured_at_20_ok": bool(at20["captured_share"] >= TARGETS["captured_at_20"]),
                           "max_possible_enrichment_at_10": min(1.0 / at10["error_rate"], 1.0 / at10["share_reviewed"])},
            "errors": error_breakdown(wells, weights), "signals": signal_report(wells, weights),
            "per_chip": {c: {"wells": len(g), "erroneous": int(g["erroneous"].sum()),
                             "captured_at_20": capture(g, score(g, weights), 0.20, boot=False)["captured_share"]}
                         for c, g in wells.groupby("chip")},
        }
        print_table(f"{result['mode']} chips, review queue (fluorescence weights)", queue)
        print_table(f"{result['mode']} chips, phase-only weights (as on chips without dyes)", phase)
        acc = result["acceptance"]
        print(f"\ntargets: enrichment at 10% {acc['enrichment_at_10']:.2f} (>= 3: {acc['enrichment_at_10_ok']}; at most "
              f"{acc['max_possible_enrichment_at_10']:.2f} possible), captured at 20% {acc['captured_at_20']:.3f} "
              f"(>= 0.60: {acc['captured_at_20_ok']})")
    print("\nsignal                       weight  AUROC alone  nonzero | queue without it: AUROC   @10    @20")
    for name, s in result["signals"].items():
        print(f"{name:<28} {s['weight']:>6.2f}  {s['auroc_alone']:>11.3f}  {s['wells_nonzero']:>7} | "
              f"{s['without_it_auroc']:>22.3f} {s['without_it_captured_at_10']:.3f}  {s['without_it_captured_at_20']:.3f}")
    result["wells_table"] = wells.drop(columns=["reasons"]).to_dict(orient="records")
    result |= {"seconds": round(time.perf_counter() - started, 1), "cpus": os.cpu_count(),
               "machine": platform.processor() or platform.machine()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(f"\n{result['seconds']} s; wrote {out}")


if __name__ == "__main__":
    main()
