"""LOCSNET vs Mask R-CNN on real phase contrast (Usiigaci, issue 4 item 4), and LOCSNET
fine-tuned from the simulator champion vs from scratch at equal training time (issue 18).

    .venv/bin/python benchmarks/segmentation_real.py                       # defaults: 6 min per model
    .venv/bin/python benchmarks/segmentation_real.py --time-budget-min 3   # quicker
    taskset -c 0 .venv/bin/python benchmarks/segmentation_real.py --threads 1 \
        --pretrained models/locsnet --curve 3 6 12 24 --curve-budget-min 3  # + sim-pretrained vs scratch

Data: ``$LFTIMING_REALDATA/usiigaci_phase_seg`` or ``<repo>/../shared/realdata/usiigaci_phase_seg``
(``set<k>/raw.tif`` 10x phase, 0.87 um/px, 1022x1024; ``set<k>/labeled.png`` instance labels).
If the folder is absent the script prints a skip message and exits 0. Train on sets 1-24,
evaluate on sets 25-30 (never seen in training; no validation on them during training).

Crops / scale (the choice): Usiigaci cells are large adherent cells, median area ~3700-4300 px
(equivalent diameter ~70 px, elongated ones much longer) at 0.87 um/px, about 4x the 11-20 px
cells the ``cpu`` profile was designed for. So the images are tiled with the bring-your-own
annotations reader (``data.read_annotated_pair`` + ``data.samples_from_label_image``) into
384 px native tiles (overlap 64 px -> 3x3 = 9 tiles per image) and the profile's
``input_scale`` = 0.25 resamples each tile to a 96x96 network input, where a median cell is
~17 model px across, inside the profile's anchor range (12-44). Masks and scores stay in
native px (predictions are pasted back at 1/input_scale), so IoU is measured at full
resolution. Other overrides of the cpu profile: aspect ratios (0.5, 1, 2) for elongated
cells, max_detections 40 (a tile holds up to ~30 cells), min_area_px 128 native px (= 8 model
px as in the cpu profile); tile instances under 160 native px (cut by the tile edge) are left
out of the ground truth of that tile (= 10 model px, the reader's default in model px).

Training (``--kinds``, default both; ``--kinds`` with no name skips this part):
``train_config('cpu', kind=...)`` with those profile overrides, ``--epochs`` passes (default
12, cosine schedule over them), stopped early by ``--time-budget-min`` per model (default 6);
the models are trained one after the other, never in parallel, with the same data, seed and
recipe, on ``--threads`` CPU threads (default 2; pass 1 with ``taskset -c 0`` on a shared
machine).

Sim-pretrained vs scratch (``--pretrained BUNDLE``, e.g. ``models/locsnet``): LOCSNET starts
from the bundle's weights (``models.init.resolve_init``) or from a random init, both built
from the bundle's own profile (so the load is strict) with only what the real data needs
changed: crop_size 384, input_scale 0.25, max_detections 40, min_area_px 128; not the aspect
ratios (they change the head shapes). The champion saw input_scale 1.0; 0.25 is a deliberate
change (real cells are ~4x larger in px than simulated ones, 0.25 brings them to the size it
learned), allowed with ``train_segmenter(init_allow=("input_scale",))`` and recorded under
``pretrained.input_changes``; the init is also scored as is, before any real training
(``pretrained.zero_shot``). Both members of a pair get the same recipe, data, seed and
wall-time budget, with the cosine decay over the budget (``lr_schedule='time'``, the epoch
count only a ceiling), so the budget, not the epochs, ends both. The 24-image pair uses
``--time-budget-min``. ``--curve 3 6 12 24`` adds pairs trained on the first N training
images (sets 1..N, in order) with ``--curve-budget-min`` each (default 3); N = 24 is the
24-image pair above (its budget), not trained twice. All pairs are scored on sets 25-30.

Scores (``metrics.segmentation``): mIoU of matched instances per tile (Hungarian, 0 for
unmatched ground truth), mean over tiles with cells, 95% percentile bootstrap CI over tiles
(``metrics.stats.bootstrap_ci``; tiles overlap and share images, so a CI over the 6 test
images is also given), AP at IoU 0.5 (pooled, COCO-style greedy), missed/extra cells at IoU
0.5. For each pair, the paired difference pretrained - scratch of the per-tile mIoU with its
bootstrap CI over tiles. Tiles overlap, so a cell near a tile seam is scored in up to 4
tiles. Writes ``--out`` (default ``benchmarks/results/segmentation_real.json``; keys ``models``, and with
``--pretrained`` ``pretrained``, ``learning_curve`` and ``targets``).

``--input-scale S`` (default 0.25) resamples the 384 px tiles to 384 S network px instead, and
multiplies the anchor sizes by S / 0.25 so they keep meeting a median cell as at 0.25 (anchors
are not weights; the pretrained load stays strict; the JSON's ``profile_changes`` lists them):
0.5 gives the network 4x the pixels of a cell, its mask head ~9x9 stride-4 features of a
median cell instead of ~4x4.

A longer run of the pretrained member alone (no scratch twin, no curve: the equal-time
comparison stays the one above): ``--kinds --pretrained models/locsnet --no-scratch
--time-budget-min 40 --out benchmarks/results/segmentation_real_long.json``.
``--scratch-only`` trains the other member alone: with the same ``--pretrained`` (whose profile
it uses), budget, ``--input-scale`` and seed it is the scratch twin of a ``--no-scratch`` run, so
an equal-time comparison can be made at a recipe too slow to train as a pair in one sitting.
Each member's per-tile mIoU is in the JSON (``miou_per_tile``, tiles in a fixed order).
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
import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TRAIN_SETS = range(1, 25)
TEST_SETS = range(25, 31)
TILE = 384          # native px (0.87 um/px) -> 96 model px at INPUT_SCALE
OVERLAP = 64        # native px
INPUT_SCALE = 0.25
MIN_GT_PX = 160     # native px per tile instance (= 10 model px)


def real_data_fields(profile: dict, input_scale: float = INPUT_SCALE) -> dict:
    """What the real tiles need changed in ``profile`` (a profile's fields; the pretrained pairs
    change only these): the tile size, ``input_scale``, up to 40 detections, cells of >= 128
    native px. At another ``input_scale`` than 0.25 the anchor sizes follow the cells' size in
    model px (x input_scale / 0.25), so a median cell meets the anchors as it does at 0.25
    (anchors are not weights: the pretrained load stays strict)."""
    factor = input_scale / INPUT_SCALE
    return {"crop_size": TILE, "input_scale": input_scale, "max_detections": 40, "min_area_px": 128,
            "anchor_sizes": tuple(int(round(a * factor)) for a in profile["anchor_sizes"])}
EPOCH_CEILING = 10_000  # pairs: the time budget, not the epochs, ends training


def data_dir() -> Path | None:
    env = os.environ.get("LFTIMING_REALDATA")
    candidates = ([Path(env) / "usiigaci_phase_seg"] if env else []) + [ROOT.parent / "shared" / "realdata" / "usiigaci_phase_seg"]
    for c in candidates:
        if (c / "set1" / "raw.tif").is_file():
            return c
    return None


def load_sets(root: Path, sets) -> list:
    from lftiming_ml.segmentation.data import read_annotated_pair, samples_from_label_image

    out = []
    for k in sets:
        d = root / f"set{k}"
        img, lab = read_annotated_pair(d / "raw.tif", d / "labeled.png")
        out.extend(samples_from_label_image(img, lab, crop_size=TILE, overlap=OVERLAP, min_pixels=MIN_GT_PX,
                                            source=d.name))
    return out


def train(config, samples: list, *, label: str, init=None, init_allow: tuple[str, ...] = ()) -> tuple:
    """``train_segmenter`` with progress lines; ``(model, history, train seconds)``."""
    from lftiming_ml.segmentation.engine import train_segmenter

    t0 = time.perf_counter()

    def on_step(step: int, losses: dict) -> None:
        if step % 25 == 0:
            print(f"  {label} step {step}: loss {losses['loss']:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)

    def on_epoch(epoch: int, row: dict) -> None:
        if epoch % 5 == 0 or row.get("stopped_early") or epoch == config.epochs - 1:
            print(f"{label} epoch {epoch}: " + json.dumps({k: round(v, 4) for k, v in row.items()}), flush=True)

    model, history = train_segmenter(config, train_samples=samples, val_samples=(), log_fn=on_epoch,
                                     step_fn=on_step, init=init, init_allow=init_allow)
    return model, history, time.perf_counter() - t0


def score(model, profile, test_samples: list) -> tuple[dict, np.ndarray]:
    """Scores on the test tiles and the per-tile mIoU (``float[n tiles with cells]``, tile order)."""
    from lftiming_ml.metrics.segmentation import summarize_segmentation
    from lftiming_ml.metrics.stats import bootstrap_ci
    from lftiming_ml.segmentation.engine import score_predictions
    from lftiming_ml.segmentation.infer import segment_crops

    tile_keys = [f"{s.meta['source']}/y{s.meta['tile_origin'][0]}x{s.meta['tile_origin'][1]}" for s in test_samples]
    t1 = time.perf_counter()
    preds = segment_crops(model, [s.image for s in test_samples], profile=profile, device="cpu", batch_size=16)
    infer_s = time.perf_counter() - t1
    frames = score_predictions(test_samples, preds)
    by_tile = frames.assign(well=tile_keys)        # bootstrap unit = tile
    summary = summarize_segmentation(by_tile)["overall"]
    by_image = summarize_segmentation(frames)["overall"]  # well = source image: CI over the 6 images
    per_tile = by_tile[by_tile["n_gt"] > 0]["miou"].to_numpy()
    _, lo, hi = bootstrap_ci(per_tile, n_resamples=2000, seed=0)
    return {
        "infer_seconds": infer_s, "tiles_per_s": len(test_samples) / max(infer_s, 1e-9),
        "miou_mean": summary["miou_mean"], "miou_sd": summary["miou_sd"],
        "miou_ci95_tiles": [lo, hi], "miou_ci95_images": [by_image["miou_ci_low"], by_image["miou_ci_high"]],
        "ap50": summary["ap50"], "n_gt": summary["n_gt"], "n_pred": summary["n_pred"],
        "n_missed": summary["n_missed"], "n_extra": summary["n_extra"], "missed_rate": summary["missed_rate"],
        "per_image_miou": frames[frames["n_gt"] > 0].groupby("source")["miou"].mean().round(4).to_dict(),
    }, per_tile


def trained(history: list, train_s: float) -> dict:
    return {"train_seconds": train_s, "steps": int(sum(r["steps"] for r in history)), "epochs_run": len(history),
            "final_loss": history[-1].get("loss")}


def run_pair(samples: list, test_samples: list, *, profile, init, budget_min: float, args, label: str) -> dict:
    """LOCSNET from ``init`` and from scratch on ``samples``, same recipe and budget; both scored."""
    from lftiming_ml.metrics.stats import bootstrap_ci
    from lftiming_ml.segmentation.config import train_config

    config = train_config("cpu", kind="locsnet", profile=profile, epochs=EPOCH_CEILING, time_budget_min=budget_min,
                          lr_schedule="time", seed=args.seed, device="cpu", num_threads=args.threads)
    out: dict = {"n_images": len({s.meta["source"] for s in samples}), "n_tiles": len(samples),
                 "n_tile_instances": int(sum(len(s.masks) for s in samples)), "time_budget_min": budget_min}
    per_tile = {}
    starts = ("scratch",) if args.scratch_only else ("pretrained",) if args.no_scratch else ("pretrained", "scratch")
    for start in starts:  # sequential, never in parallel
        model, history, train_s = train(config, samples, label=f"{label} {start}",
                                        init=init if start == "pretrained" else None,
                                        init_allow=("input_scale",) if start == "pretrained" else ())
        scores, per_tile[start] = score(model, profile, test_samples)
        out[start] = {**trained(history, train_s), **scores, "miou_per_tile": per_tile[start].tolist()}
        print(f"{label} {start}: trained {train_s / 60:.1f} min ({out[start]['steps']} steps), mIoU "
              f"{scores['miou_mean']:.3f} [{scores['miou_ci95_tiles'][0]:.3f}, {scores['miou_ci95_tiles'][1]:.3f}], "
              f"AP50 {scores['ap50']:.3f}", flush=True)
        del model
    if len(per_tile) == 2:
        diff, lo, hi = bootstrap_ci(per_tile["pretrained"] - per_tile["scratch"], n_resamples=2000, seed=0)
        out["miou_diff"] = diff
        out["miou_diff_ci95_tiles"] = [lo, hi]
    else:
        missing, flag = ("pretrained", "--scratch-only") if args.scratch_only else ("scratch", "--no-scratch")
        out[missing] = f"not trained ({flag})"
    out["config"] = config.model_dump(mode="json", exclude={"profile"})
    return out


def run_models(kinds: list, train_samples: list, test_samples: list, *, args) -> dict:
    """Each ``kind`` from scratch with the real-data cpu profile (aspect ratios 0.5-2), ``--epochs`` / budget."""
    from lftiming_ml.segmentation.config import segmenter_profile, train_config
    from lftiming_ml.segmentation.model import registry_config

    base = segmenter_profile("cpu")
    profile = base.model_copy(update={**real_data_fields(base.model_dump(), args.input_scale),
                                      "aspect_ratios": (0.5, 1.0, 2.0)})
    profile = type(profile).model_validate(profile.model_dump())  # re-validate the overrides
    models = {}
    for kind in kinds:  # sequential, never in parallel
        config = train_config("cpu", kind=kind, profile=profile, epochs=args.epochs,
                              time_budget_min=args.time_budget_min, seed=args.seed, device="cpu",
                              num_threads=args.threads)
        model, history, train_s = train(config, train_samples, label=kind)
        scores, _ = score(model, profile, test_samples)
        models[kind] = {
            **trained(history, train_s),
            # the time budget can cut any epoch short, the last one included
            "stopped_early": sum(r["steps"] for r in history) < args.epochs * max(r["steps"] for r in history),
            **scores, "config": registry_config(config), "history": history,
        }
        m = models[kind]
        print(f"{kind}: trained {train_s / 60:.1f} min ({m['steps']} steps, {m['epochs_run']} epochs), "
              f"mIoU {m['miou_mean']:.3f} [{m['miou_ci95_tiles'][0]:.3f}, {m['miou_ci95_tiles'][1]:.3f}], "
              f"AP50 {m['ap50']:.3f}", flush=True)
        del model
    return models


def compact(run: dict) -> dict:
    keys = ("train_seconds", "steps", "epochs_run", "miou_mean", "miou_ci95_tiles", "miou_ci95_images", "ap50",
            "n_missed", "n_extra")
    return {k: run[k] for k in keys}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--time-budget-min", type=float, default=6.0,
                   help="training wall-time budget per model (minutes); also each model of the 24-image pair")
    p.add_argument("--epochs", type=int, default=12, help="passes over the training tiles (budget may stop earlier)")
    p.add_argument("--kinds", nargs="*", default=["locsnet", "mask_rcnn"], choices=["locsnet", "mask_rcnn"],
                   help="models trained from scratch with the real-data cpu profile (none: skip)")
    p.add_argument("--pretrained", type=Path, default=None,
                   help="LOCSNET training bundle to fine-tune from, vs scratch at equal time (e.g. models/locsnet)")
    p.add_argument("--curve", type=int, nargs="*", default=[],
                   help="learning curve: numbers of training images (sets 1..N), e.g. 3 6 12 24; needs --pretrained")
    p.add_argument("--curve-budget-min", type=float, default=3.0,
                   help="training budget per model of each curve point below 24 images (minutes)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-scratch", action="store_true",
                   help="train only the pretrained member of the 24-image pair (a longer run of it alone); "
                        "no --curve, no pretrained-vs-scratch target")
    p.add_argument("--scratch-only", action="store_true",
                   help="train only the scratch member of the 24-image pair (the twin of a --no-scratch run with the "
                        "same --pretrained, budget, input scale and seed); no --curve, no targets")
    p.add_argument("--input-scale", type=float, default=INPUT_SCALE,
                   help="network px per native px (0.25: a 384 px tile reaches the network at 96 px; 0.5: at "
                        "192 px, 4x the compute per step); the anchors follow it")
    p.add_argument("--out", type=Path, default=RESULTS / "segmentation_real.json")
    args = p.parse_args()
    if not 0.1 <= args.input_scale <= 1.0:
        p.error("--input-scale: between 0.1 and 1.0")
    if args.no_scratch and (args.curve or args.pretrained is None):
        p.error("--no-scratch: give --pretrained and no --curve")
    if args.scratch_only and (args.curve or args.pretrained is None or args.no_scratch):
        p.error("--scratch-only: give --pretrained (its profile), no --curve and not --no-scratch")
    if args.curve and args.pretrained is None:
        p.error("--curve compares pretrained with scratch: give --pretrained")
    if any(not 1 <= n <= len(TRAIN_SETS) for n in args.curve):
        p.error(f"--curve: numbers of training images in 1..{len(TRAIN_SETS)}")

    root = data_dir()
    if root is None:
        print("SKIP: Usiigaci data not found (set LFTIMING_REALDATA or provide ../shared/realdata/usiigaci_phase_seg); "
              "nothing to benchmark.")
        sys.exit(0)

    from lftiming_ml.models.init import apply_init, resolve_init
    from lftiming_ml.segmentation.config import INIT_INPUT_FIELDS, SegmenterProfile, train_config
    from lftiming_ml.segmentation.model import build_segmenter, registry_config

    torch.set_num_threads(args.threads)
    t_all = time.perf_counter()
    by_set = {k: load_sets(root, [k]) for k in [*TRAIN_SETS, *TEST_SETS]}
    train_samples = [s for k in TRAIN_SETS for s in by_set[k]]
    test_samples = [s for k in TEST_SETS for s in by_set[k]]
    print(f"data {root}: {len(train_samples)} train tiles (sets 1-24, {sum(len(s.masks) for s in train_samples)} "
          f"tile instances), {len(test_samples)} test tiles (sets 25-30, {sum(len(s.masks) for s in test_samples)})",
          flush=True)

    result: dict = {
        "command": "python benchmarks/segmentation_real.py " + " ".join(sys.argv[1:]),
        "machine": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
        "cpu_affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "data": str(root), "train_sets": f"set{TRAIN_SETS[0]}..set{TRAIN_SETS[-1]}",
        "test_sets": f"set{TEST_SETS[0]}..set{TEST_SETS[-1]}",
        "tiling": {"tile_native_px": TILE, "overlap_native_px": OVERLAP, "input_scale": args.input_scale,
                   "model_px": round(TILE * args.input_scale), "min_gt_px_per_tile": MIN_GT_PX, "um_per_px": 0.87},
        "n_train_tiles": len(train_samples), "n_test_tiles": len(test_samples),
        "n_test_gt_instances": int(sum(len(s.masks) for s in test_samples)),
        "time_budget_min": args.time_budget_min, "epochs": args.epochs,
        "models": run_models(args.kinds, train_samples, test_samples, args=args),
    }

    if args.pretrained is not None:
        init = resolve_init(str(args.pretrained), model_name="locsnet")
        changed_fields = real_data_fields(init.config["profile"], args.input_scale)
        profile = SegmenterProfile.model_validate({**init.config["profile"], **changed_fields})
        zero_shot = build_segmenter(kind="locsnet", profile=profile)
        ours = registry_config(train_config("cpu", kind="locsnet", profile=profile))
        changes = apply_init(zero_shot, init, config=ours, input_fields=INIT_INPUT_FIELDS,
                             allow_changed=("input_scale",))
        print(f"pretrained: {init.describe()}, input changes allowed: {changes}", flush=True)
        zero_shot_scores, _ = score(zero_shot.eval(), profile, test_samples)
        print(f"zero-shot (no real training): mIoU {zero_shot_scores['miou_mean']:.3f} "
              f"[{zero_shot_scores['miou_ci95_tiles'][0]:.3f}, {zero_shot_scores['miou_ci95_tiles'][1]:.3f}], "
              f"AP50 {zero_shot_scores['ap50']:.3f}", flush=True)
        del zero_shot
        result["pretrained"] = {
            "init": {**init.source, "path": str(args.pretrained)},
            "profile_changes": {f: [before, after] for f, before, after in (
                (f, init.config["profile"].get(f), profile.model_dump(mode="json")[f]) for f in changed_fields)
                if before != after},
            "input_changes": {f: list(v) for f, v in changes.items()},
            "profile": profile.model_dump(mode="json"),
            "zero_shot": zero_shot_scores,
            **run_pair(train_samples, test_samples, profile=profile, init=init, budget_min=args.time_budget_min,
                       args=args, label="24 images"),
        }
        curve = []
        for n in sorted(set(args.curve)):
            if n == len(TRAIN_SETS):
                point = {"same_runs_as": "pretrained", **{k: result["pretrained"][k] for k in (
                    "n_images", "n_tiles", "n_tile_instances", "time_budget_min", "miou_diff", "miou_diff_ci95_tiles")},
                    "pretrained": compact(result["pretrained"]["pretrained"]),
                    "scratch": compact(result["pretrained"]["scratch"])}
            else:
                samples = [s for k in TRAIN_SETS[:n] for s in by_set[k]]
                pair = run_pair(samples, test_samples, profile=profile, init=init, budget_min=args.curve_budget_min,
                                args=args, label=f"{n} images")
                point = {**{k: v for k, v in pair.items() if k not in ("pretrained", "scratch", "config")},
                         "pretrained": compact(pair["pretrained"]), "scratch": compact(pair["scratch"])}
            curve.append({"train_sets": f"set1..set{n}", **point})
        result["learning_curve"] = curve
        points = curve or [{"n_images": len(TRAIN_SETS), **result["pretrained"]}]
        full = None if args.scratch_only else result["pretrained"]["pretrained"]["miou_mean"]
        result["targets"] = {"not measured": "--scratch-only trains no pretrained model"} if args.scratch_only else {
            "pretrained_ge_scratch_at_every_point": "not measured (--no-scratch)" if args.no_scratch else {
                "met": all(pt["pretrained"]["miou_mean"] >= pt["scratch"]["miou_mean"] for pt in points),
                "by_n_images": {str(pt["n_images"]): pt["pretrained"]["miou_mean"] >= pt["scratch"]["miou_mean"]
                                for pt in points}},
            "pretrained_miou_ge_0.70_with_24_images": {"met": full >= 0.70, "value": full},
            "cpu": f"{result['machine']}, {args.threads} torch thread(s), "
                   f"affinity {result['cpu_affinity']}, budgets {args.time_budget_min} min (24 images) / "
                   f"{args.curve_budget_min} min (curve) per model",
        }

    print(f"\nUsiigaci sets 25-30, {len(test_samples)} tiles of {TILE} px (x{args.input_scale} -> "
          f"{round(TILE * args.input_scale)} px), {result['n_test_gt_instances']} tile instances")
    if result["models"]:
        print(f"  {'model':<10}{'train min':>10}{'steps':>7}{'mIoU':>7}{'sd':>6}  {'95% CI (tiles)':<16}"
              f"{'95% CI (images)':<17}{'AP50':>6}{'missed':>8}{'extra':>7}")
    for kind, m in result["models"].items():
        print(f"  {kind:<10}{m['train_seconds'] / 60:>10.1f}{m['steps']:>7}{m['miou_mean']:>7.3f}{m['miou_sd']:>6.2f}"
              f"  [{m['miou_ci95_tiles'][0]:.3f}, {m['miou_ci95_tiles'][1]:.3f}]  "
              f"[{m['miou_ci95_images'][0]:.3f}, {m['miou_ci95_images'][1]:.3f}]  "
              f"{m['ap50']:>6.3f}{m['n_missed']:>8}{m['n_extra']:>7}")
    if "pretrained" in result:
        print(f"\nLOCSNET from {result['pretrained']['init']['path']} vs scratch (the champion's profile, "
              f"input_scale {args.input_scale}), equal time per pair")
        print(f"  {'images':>6}{'budget':>8}  {'start':<11}{'steps':>6}{'mIoU':>7}  {'95% CI (tiles)':<16}"
              f"{'95% CI (images)':<17}{'AP50':>6}  {'diff [95% CI]':<22}")
        for pt in result["learning_curve"] or [result["pretrained"]]:
            for start in ("pretrained", "scratch"):
                m = pt[start]
                if not isinstance(m, dict):
                    print(f"  {pt['n_images']:>6}{pt['time_budget_min']:>7.1f}m  {start:<11}{m}")
                    continue
                diff = (f"{pt['miou_diff']:+.3f} [{pt['miou_diff_ci95_tiles'][0]:+.3f}, "
                        f"{pt['miou_diff_ci95_tiles'][1]:+.3f}]") if start == "pretrained" and "miou_diff" in pt else ""
                print(f"  {pt['n_images']:>6}{pt['time_budget_min']:>7.1f}m  {start:<11}{m['steps']:>6}"
                      f"{m['miou_mean']:>7.3f}  [{m['miou_ci95_tiles'][0]:.3f}, {m['miou_ci95_tiles'][1]:.3f}]  "
                      f"[{m['miou_ci95_images'][0]:.3f}, {m['miou_ci95_images'][1]:.3f}]  {m['ap50']:>6.3f}  {diff}")
        z = result["pretrained"]["zero_shot"]
        print(f"  zero-shot (the init, no real training): mIoU {z['miou_mean']:.3f} [{z['miou_ci95_tiles'][0]:.3f}, "
              f"{z['miou_ci95_tiles'][1]:.3f}], AP50 {z['ap50']:.3f}")
        t = result["targets"]
        if args.scratch_only:
            print("targets: not measured (--scratch-only: set this scratch run beside the --no-scratch run "
                  "of the same budget, input scale and seed)")
        else:
            vs_scratch = t["pretrained_ge_scratch_at_every_point"]
            print(f"targets: pretrained >= scratch at every point: "
                  f"{vs_scratch['met'] if isinstance(vs_scratch, dict) else vs_scratch}; "
                  f">= 0.70 mIoU with 24 images: {t['pretrained_miou_ge_0.70_with_24_images']['met']} "
                  f"({full:.3f}); CPU: {t['cpu']}")
    result["total_seconds"] = time.perf_counter() - t_all
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(f"\nwrote {args.out} (total {result['total_seconds'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
