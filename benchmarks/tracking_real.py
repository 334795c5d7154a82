"""Our tracker on real curated tracks: yeast in microfluidic traps (BABY brightfield, 5 timepoints).

    .venv/bin/python benchmarks/tracking_real.py

Reads ``baby_brightfield_tracks/*_segoutlines.png`` from the real-data folder
(``$LFTIMING_REALDATA``, default ``../shared/realdata`` from the repo root): each PNG holds
one tile of curated outline per cell side by side, and its text chunk ``Description`` is
JSON with ``cellLabels`` (track ids that persist over timepoints), ``tilesize``, ``ntiles``
and ``layout``. Outlines are filled (``scipy.ndimage.binary_fill_holes``) into masks, one
series (trap) of 5 timepoints is one "well" (the tile is the box), and ``track_well`` runs
with default parameters. Score: the share of ground-truth id links (same label at
consecutive timepoints) that our tracks keep, and whether every id is kept whole. Writes
``benchmarks/results/tracking_real.json``; prints a message and exits 0 when the folder is
absent.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import binary_fill_holes

from lftiming_ml.tracking import TrackerParams, WellFrameDetections, track_well

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
SERIES = re.compile(r"^(?P<series>.+)_tp(?P<tp>\d+)_segoutlines\.png$")


def realdata_dir() -> Path:
    return Path(os.environ.get("LFTIMING_REALDATA", ROOT / ".." / "shared" / "realdata")).resolve()


def read_frame(path: Path) -> tuple[WellFrameDetections, list[int], tuple[int, int]]:
    """Masks (bool[n, H, W]) filled from one outline PNG, their labels and the tile size."""
    im = Image.open(path)
    meta = json.loads(im.info["Description"])
    outlines = np.asarray(im) > 0
    th, tw = (int(v) for v in meta["tilesize"])
    rows, cols = (int(v) for v in meta.get("layout", [1, meta["ntiles"]]))
    labels = [int(v) for v in meta["cellLabels"]]
    masks = []
    for i in range(int(meta["ntiles"])):
        r, c = divmod(i, cols)
        masks.append(binary_fill_holes(outlines[r * th:(r + 1) * th, c * tw:(c + 1) * tw]))
    m = np.array(masks, dtype=bool).reshape(-1, th, tw)[: len(labels)]
    grid_y, grid_x = np.mgrid[0:th, 0:tw]
    areas = m.sum(axis=(1, 2)).astype(float)
    cents = np.stack([(m * grid_y).sum(axis=(1, 2)), (m * grid_x).sum(axis=(1, 2))], axis=1) / np.maximum(areas, 1)[:, None]
    return WellFrameDetections(centroids=cents, areas=areas, masks=m), labels, (th, tw)


def score_series(paths: list[Path], params: TrackerParams) -> dict:
    frames = [read_frame(p) for p in paths]
    dets = [f[0] for f in frames]
    labels = [f[1] for f in frames]
    th, tw = frames[0][2]
    tracks = track_well(dets, (0.0, 0.0, float(th - 1), float(tw - 1)), params)
    owner = [{int(tracks.detection_index[t, k]): k for k in range(tracks.n_tracks) if tracks.detection_index[t, k] >= 0}
             for t in range(len(dets))]
    kept = total = 0
    broken: list[dict] = []
    for t in range(1, len(dets)):
        for j, lab in enumerate(labels[t]):
            if lab not in labels[t - 1]:
                continue
            i = labels[t - 1].index(lab)
            total += 1
            ok = owner[t - 1].get(i) is not None and owner[t - 1].get(i) == owner[t].get(j)
            kept += int(ok)
            if not ok:
                broken.append({"label": lab, "from_tp": t, "to_tp": t + 1})
    return {"timepoints": len(dets), "cells_per_frame": [d.n for d in dets], "labels": sorted({v for lb in labels for v in lb}),
            "tracks": tracks.n_tracks, "gt_links": total, "links_kept": kept, "broken_links": broken}


def main() -> None:
    folder = realdata_dir() / "baby_brightfield_tracks"
    if not folder.is_dir():
        print(f"skipping: {folder} not found (set LFTIMING_REALDATA to the realdata folder)")
        return
    groups: dict[str, list[tuple[int, Path]]] = {}
    for p in folder.glob("*_segoutlines.png"):
        m = SERIES.match(p.name)
        if m:
            groups.setdefault(m["series"], []).append((int(m["tp"]), p))
    params = TrackerParams()
    series = {name: score_series([p for _, p in sorted(v)], params) for name, v in sorted(groups.items())}
    links = sum(s["gt_links"] for s in series.values())
    kept = sum(s["links_kept"] for s in series.values())
    result = {"benchmark": "tracking_real", "data": str(folder), "series": series, "gt_links": links,
              "links_kept": kept, "fraction_kept": kept / links if links else float("nan"),
              "every_id_kept": kept == links}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tracking_real.json").write_text(json.dumps(result, indent=1) + "\n")
    for name, s in series.items():
        print(f"{name:<16} timepoints {s['timepoints']}  cells/frame {s['cells_per_frame']}  links kept {s['links_kept']}/{s['gt_links']}")
    print(f"all: {kept}/{links} ground-truth id links kept ({result['fraction_kept']:.3f}); every id kept: {result['every_id_kept']}")


if __name__ == "__main__":
    sys.exit(main())
