"""Free segmentation labels from the dye channels (issue 18, part 2) against the simulator's truth.

    flock /tmp/lftiming_heavy.lock .venv/bin/python benchmarks/fluorescence_labels.py

Chips (``preset:seed``; seeds 741-744 are used by no other benchmark and never trained on):
standard:741, hard:742, other-scope:743, other-scope-hard:744, ``--fields`` fields of
``--frames`` frames each, simulated into ``--cache`` (default
``$LFTIMING_BENCH_CACHE/fluorescence_labels`` or ``/tmp/lftiming_bench_cache/fluorescence_labels``)
and cut into well movies by their true wells (``evaluation.well_inputs``; other-scope's 0.5
um/px crops are resampled to 0.65 as the pipeline does). Labels
(``annotations.sources.fluorescence_records``, default ``FluorescenceLabelParams``) twice per
chip: without phase instances, and seeded by the true masks as a perfect phase model's
instances (the upper bound of seeding). Scores (``evaluation.annotations.record_scores``):
per cell found, the share that is sure and the share kept (sure, in a frame kept whole); in
the kept frames, the IoU of each label with its true mask (median, 5th percentile, min), the
true cells missed and labels extra; labelled tracks whose type is the truth's. Writes
``benchmarks/results/fluorescence_labels.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from lftiming_ml.annotations.sources import fluorescence_records
from lftiming_ml.evaluation.annotations import record_scores
from lftiming_ml.evaluation.well_inputs import truth_well_movies, write_truth_instances
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.sim.config import preset_config
from lftiming_ml.store.layout import DataLayout

CHIPS = ["standard:741", "hard:742", "other-scope:743", "other-scope-hard:744"]
ROOT = Path(__file__).resolve().parents[1]


def score(chip, seeded: bool) -> dict:
    records, cells = fluorescence_records(chip, use_phase_seeds=seeded)
    frames, tracks = record_scores(chip, records)
    ious = np.concatenate(frames["label_ious"].to_list()) if len(frames) else np.zeros(0)
    kept = cells["kept"] & cells["frame_kept"]
    return {
        "phase_seeds": "true masks" if seeded else "none",
        "cells_found": int(len(cells)), "sure_share": round(float(cells["kept"].mean()), 3),
        "kept_share": round(float(kept.mean()), 3),
        "well_frames": int(cells.drop_duplicates(["well", "frame"]).shape[0]),
        "well_frames_kept": int(len(frames)),
        "label_iou_median": round(float(np.median(ious)), 3), "label_iou_p05": round(float(np.quantile(ious, 0.05)), 3),
        "label_iou_min": round(float(ious.min()), 3), "labels": int(ious.size),
        "true_cells_missed_in_kept_frames": int(frames["n_missed"].sum()),
        "labels_extra_in_kept_frames": int(frames["n_extra"].sum()),
        "track_type_accuracy": round(float((tracks["cell_type"] == tracks["true_type"]).mean()), 4),
        "tracks": int(len(tracks)),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chips", nargs="+", default=CHIPS, metavar="PRESET:SEED")
    p.add_argument("--fields", type=int, default=1)
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--cache", type=Path, default=Path(os.environ.get("LFTIMING_BENCH_CACHE", "/tmp/lftiming_bench_cache"))
                   / "fluorescence_labels")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fluorescence_labels.json")
    args = p.parse_args()
    layout = DataLayout(args.cache)
    results = []
    for spec in args.chips:
        preset, seed = spec.split(":")
        chip_id = f"fl-{preset}-s{seed}-f{args.fields}-t{args.frames}"
        chip = layout.chip(chip_id)
        start = time.perf_counter()
        if not (chip.raw_dir / "chip.json").is_file():
            simulate_chip(chip.raw_dir, preset_config(preset, seed=int(seed), n_fields=args.fields,
                                                      n_frames=args.frames))
        if not chip.zarr_path.exists():
            truth_well_movies(chip.raw_dir, chip.zarr_path)
        prepared = time.perf_counter() - start
        row = {"chip": spec, "chip_id": chip_id, "prepare_s": round(prepared, 1)}
        start = time.perf_counter()
        row["unseeded"] = score(chip, seeded=False)
        row["unseeded"]["seconds"] = round(time.perf_counter() - start, 1)
        write_truth_instances(chip.raw_dir, chip.zarr_path)
        row["seeded"] = score(chip, seeded=True)
        results.append(row)
        print(json.dumps(row), flush=True)
    out = {"benchmark": "fluorescence_labels", "fields": args.fields, "frames": args.frames,
           "machine": f"{platform.machine()}, {os.cpu_count()} cpus", "chips": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
