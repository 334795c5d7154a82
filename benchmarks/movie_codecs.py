"""Blosc settings of the well movies: bytes, write and read time on a chip's own movies.

    .venv/bin/python benchmarks/movie_codecs.py [--store data/zarr/demo-standard-s0.zarr]
        [--codecs zstd:1:shuffle zstd:5:bitshuffle] [--rounds 2]

Every occupied well movie of ``--store`` (a chip's Zarr store, e.g. after ``make demo``) is
read once, then written with each codec (``cname:clevel:shuffle``; one chunk per channel, as
``store.movies.write_well_movie`` writes) into a scratch folder, in alternating rounds: the
bytes on disk, the seconds to write them all (best round) and to read every movie's phase
channel back. ``zstd:1:shuffle`` is what ``write_well_movie`` writes since 0054f69,
``zstd:5:bitshuffle`` what it wrote before. Pixels are the same whatever the codec (checked).
Writes ``benchmarks/results/movie_codecs.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BloscCodec

ROOT = Path(__file__).resolve().parents[1]


def read_movies(store: Path) -> list[np.ndarray]:
    """Every well movie array (``wells/<field>/<well>/0``) of a chip store, in path order."""
    paths = sorted(p.parent for p in store.glob("wells/*/*/0/zarr.json"))
    if not paths:
        raise SystemExit(f"{store}: no well movies (wells/<field>/<well>/0); run `make demo` or name a chip store")
    return [zarr.open_array(str(p), mode="r")[:] for p in paths]


def codec(spec: str) -> BloscCodec:
    cname, level, shuffle = spec.split(":")
    return BloscCodec(cname=cname, clevel=int(level), shuffle=shuffle, typesize=2)


def measure(movies: list[np.ndarray], spec: str, scratch: Path) -> dict:
    """Write every movie with ``spec``, read each phase channel back; bytes and seconds."""
    folder = scratch / spec.replace(":", "_")
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    for i, movie in enumerate(movies):
        zarr.create_array(str(folder / f"{i}.zarr"), data=movie, chunks=(movie.shape[0], 1) + movie.shape[2:],
                          compressors=codec(spec))
    write_s = time.perf_counter() - start
    start = time.perf_counter()
    same = all(np.array_equal(zarr.open_array(str(folder / f"{i}.zarr"), mode="r")[:, 0], movie[:, 0])
               for i, movie in enumerate(movies))
    read_s = time.perf_counter() - start
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return {"bytes": size, "write_s": write_s, "read_phase_s": read_s, "pixels_equal": same}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", type=Path, default=ROOT / "data" / "zarr" / "demo-standard-s0.zarr")
    p.add_argument("--codecs", nargs="+", default=["zstd:1:shuffle", "zstd:5:bitshuffle"])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "movie_codecs.json")
    args = p.parse_args()
    movies = read_movies(args.store)
    raw = sum(m.nbytes for m in movies)
    runs: dict[str, list[dict]] = {spec: [] for spec in args.codecs}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.rounds):
            for spec in args.codecs:
                runs[spec].append(measure(movies, spec, Path(scratch)))
    summary = {}
    for spec, rs in runs.items():
        if not all(r["pixels_equal"] for r in rs):
            raise SystemExit(f"{spec}: pixels read back differ from the movies written")
        summary[spec] = {"bytes": rs[0]["bytes"], "ratio_to_raw": raw / rs[0]["bytes"],
                         "write_s_best": min(r["write_s"] for r in rs),
                         "read_phase_s_best": min(r["read_phase_s"] for r in rs)}
        print(f"{spec:>20}: {rs[0]['bytes'] / 1e6:7.1f} MB ({raw / rs[0]['bytes']:.2f}x), write "
              f"{summary[spec]['write_s_best']:.2f} s, read phase {summary[spec]['read_phase_s_best']:.2f} s (best of "
              f"{len(rs)})")
    result = {"benchmark": "movie_codecs", "store": str(args.store), "movies": len(movies), "raw_bytes": raw,
              "rounds": args.rounds, "codecs": summary, "runs": runs,
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
