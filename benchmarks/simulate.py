"""Simulator speed: a 2-field x 36-well x 72-frame chip (target <= 60 s on 2 cores).

    .venv/bin/python benchmarks/simulate.py [--preset standard] [--seed 101]

Writes ``benchmarks/results/simulate.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path


from lftiming_ml.chip import validate_chip
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.sim.config import preset_config
from lftiming_ml.truth.files import read_cells

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="standard", choices=["easy", "standard", "hard"])
    p.add_argument("--seed", type=int, default=101)
    args = p.parse_args()
    config = preset_config(args.preset, seed=args.seed, n_fields=2, n_frames=72)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"bench-{args.preset}-s{args.seed}"
        start = time.perf_counter()
        simulate_chip(out, config)
        seconds = time.perf_counter() - start
        manifest, stacks = validate_chip(out)
        cells = read_cells(out)
        size_mb = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e6
    result = {
        "benchmark": "simulate", "preset": args.preset, "seed": args.seed,
        "fields": config.n_fields, "wells_per_field": config.layout.wells_per_block ** 2,
        "frames": config.n_frames, "field_px": config.layout.field_px, "oversample": config.layout.oversample,
        "seconds": round(seconds, 2), "target_seconds": 60, "meets_target": seconds <= 60,
        "cells": int(cells.groupby(["field_id", "row", "col", "cell_id"]).ngroups), "chip_mb": round(size_mb, 1),
        "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "simulate.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
