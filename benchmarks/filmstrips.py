"""How fast well filmstrips render: N wells of a chip, prediction (and truth) rows, 8 frames each.

    flock /tmp/lftiming_heavy.lock .venv/bin/python benchmarks/filmstrips.py --chip demo-standard-s0 \
        [--wells 100] [--no-truth] [--gif 0]

Reads the chip under ``$LFTIMING_DATA`` (default ``data/``). The chip's occupied wells are
taken in order and repeated until ``--wells`` filmstrips are drawn, each from its own reads
(phase, track masks; truth views built in one call per pass over the wells), as the report
does. Prints and writes ``benchmarks/results/filmstrips.json``: seconds in all, per well,
the share spent reading vs drawing, and the machine (CPU count).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from lftiming_ml.evaluation.well_views import chip_has_truth, truth_well_views
from lftiming_ml.qa.filmstrip import FilmstripStyle, animation_gif, filmstrip_png
from lftiming_ml.qa.views import ChipOutputs, predicted_well_view
from lftiming_ml.store.layout import DataLayout
from lftiming_ml.store.movies import list_well_movies

RESULTS = Path(__file__).resolve().parent / "results" / "filmstrips.json"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chip", default="demo-standard-s0")
    p.add_argument("--wells", type=int, default=100)
    p.add_argument("--no-truth", action="store_true")
    p.add_argument("--gif", type=int, default=0, help="also time this many animated GIFs (whole movie)")
    args = p.parse_args()
    data = Path(os.environ.get("LFTIMING_DATA", "data"))
    chip = DataLayout(data).chip(args.chip)
    occupied = [f"{i.field_id}/r{i.row}c{i.col}" for i in list_well_movies(chip.zarr_path) if i.cropped]
    wells = [occupied[i % len(occupied)] for i in range(args.wells)]
    with_truth = not args.no_truth and chip_has_truth(chip)
    style = FilmstripStyle()
    start = time.perf_counter()
    outputs = ChipOutputs(chip)
    read = draw = 0.0
    sizes = []
    for offset in range(0, len(wells), len(occupied)):
        batch = wells[offset:offset + len(occupied)]
        t0 = time.perf_counter()
        truth = truth_well_views(chip, batch) if with_truth else {}
        read += time.perf_counter() - t0
        for well in batch:
            t0 = time.perf_counter()
            views = [predicted_well_view(chip, well, outputs)] + ([truth[well]] if well in truth else [])
            t1 = time.perf_counter()
            sizes.append(len(filmstrip_png(views, style=style)))
            read, draw = read + t1 - t0, draw + time.perf_counter() - t1
    seconds = time.perf_counter() - start
    gif_seconds = None
    if args.gif:
        t0 = time.perf_counter()
        for well in wells[:args.gif]:
            animation_gif([predicted_well_view(chip, well, outputs)], style=style)
        gif_seconds = (time.perf_counter() - t0) / args.gif
    result = {"chip": args.chip, "wells": len(wells), "distinct_wells": len(set(wells)), "with_truth": with_truth,
              "frames_per_strip": style.n_frames, "zoom": style.zoom, "seconds": round(seconds, 2),
              "ms_per_well": round(1000 * seconds / len(wells), 1), "read_seconds": round(read, 2),
              "draw_seconds": round(draw, 2), "mean_png_kb": round(sum(sizes) / len(sizes) / 1024, 1),
              "gif_seconds_per_well": None if gif_seconds is None else round(gif_seconds, 2),
              "cpus": os.cpu_count(), "machine": platform.machine(), "date": time.strftime("%Y-%m-%d")}
    print(json.dumps(result, indent=1))
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
