"""Interaction stage on held-out simulated chips: contacts, kinetics and killing frequency
against the simulator's truth.

    .venv/bin/python benchmarks/kinetics.py --seeds 501 502 --preset standard
    .venv/bin/python benchmarks/kinetics.py --chips /path/to/chip-a /path/to/chip-b

``--inputs truth`` (the only mode for now) feeds the library the true tracks, cell types,
deaths and amodal masks (``interactions.inputs.truth_inputs``), so what is measured is the
stage's own error: contact detection from masks and the kinetics built on it. Seeds below
1000 are the benchmark's (training chips use higher seeds); missing chips are simulated
into ``--cache`` (2 fields x 36 wells x 72 frames each).

Writes ``benchmarks/results/kinetics_<inputs>.json`` (and PNGs with ``--plots DIR``).
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
from lftiming_ml.interactions.inputs import truth_contact_frames, truth_inputs, truth_interactions
from lftiming_ml.interactions.kinetics import killing_frequency
from lftiming_ml.interactions.plots import killing_curves_png, kinetics_distributions_png
from lftiming_ml.interactions.survival import survival_by_group
from lftiming_ml.metrics.interactions import compare_killing_frequency, score_contacts, score_kinetics
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.sim.config import preset_config

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
        if not (chip / "gt" / "contacts.parquet").is_file():
            print(f"simulating {chip.name} ...", flush=True)
            simulate_chip(chip, preset_config(preset, seed=seed, n_fields=2, n_frames=72), overwrite=True)
        chips.append(chip)
    return chips


def conjugates_seen(chip: Path, truth_frames: pd.DataFrame) -> float:
    """Share of biologically conjugated effector-target frames (``gt/cells.parquet``
    ``conjugated_with``) that the mask contact truth also calls a contact."""
    cells = pd.read_parquet(chip / "gt" / "cells.parquet",
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group()
    src.add_argument("--chips", nargs="+", type=Path, help="simulated chip folders (with gt/)")
    src.add_argument("--seeds", nargs="+", type=int, default=[501, 502], help="held-out seeds (< 1000)")
    p.add_argument("--preset", default="standard", choices=["easy", "standard", "hard"])
    p.add_argument("--cache", type=Path, default=ROOT / "data" / "bench" / "kinetics",
                   help="where seeds are simulated")
    p.add_argument("--inputs", default="truth", choices=["truth"],
                   help="truth: ground-truth tracks, types, deaths, masks")
    p.add_argument("--plots", type=Path, help="write killing curves and kinetics distributions here (PNG)")
    p.add_argument("--out", type=Path, help="result JSON (default benchmarks/results/kinetics_<inputs>.json)")
    args = p.parse_args()
    chips = args.chips or held_out_chips(args.seeds, args.preset, args.cache)
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
        "benchmark": "kinetics", "inputs": args.inputs,
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
        "acceptance": {
            **ACCEPT,
            "contact_accuracy_ok": pair.accuracy >= ACCEPT["contact_accuracy_min"],
            "fn_rate_ok": pair.fn_rate <= ACCEPT["fn_rate_max"],
            "mae_ok": all(kin[k] <= ACCEPT["mae_frames_max"] for k in
                          ("t_seek_mae_frames", "t_contact_mae_frames", "t_death_mae_frames")),
            "killing_frequency_within_truth_ci": within,
        },
        "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
    }
    if args.plots:
        survival = survival_by_group(pred_tgt, pred_wells)
        label = f"{len(runs)} chips, {args.inputs} inputs"
        result["plots"] = [str(killing_curves_png(survival, args.plots / "killing_curves.png", title=label)),
                           str(kinetics_distributions_png(pred_inter, args.plots / "kinetics_distributions.png",
                                                          title=label))]
    out = args.out or RESULTS / f"kinetics_{args.inputs}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_clean(result), indent=2) + "\n")
    print(json.dumps(_clean({k: result[k] for k in ("contacts_pair_frames", "kinetics", "acceptance")}), indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
