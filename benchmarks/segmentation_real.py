"""LOCSNET vs Mask R-CNN (cpu profile, from scratch) on real phase contrast: Usiigaci (issue 4, item 4).

    .venv/bin/python benchmarks/segmentation_real.py                       # defaults: 6 min per model
    .venv/bin/python benchmarks/segmentation_real.py --time-budget-min 3   # quicker

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

Training: ``train_config('cpu', kind=...)`` with those profile overrides, ``--epochs`` passes
(default 12, cosine schedule over them), stopped early by ``--time-budget-min`` per model
(default 6); the two models are trained one after the other, never in parallel, with the
same data, seed and recipe, on 2 CPU threads. Scores (``metrics.segmentation``): mIoU of
matched instances per tile (Hungarian, 0 for unmatched ground truth), mean over tiles with
cells, 95% percentile bootstrap CI over tiles (``metrics.stats.bootstrap_ci``; tiles overlap
and share images, so a CI over the 6 test images is also given), AP at IoU 0.5 (pooled,
COCO-style greedy), missed/extra cells at IoU 0.5. Tiles overlap, so a cell near a tile seam
is scored in up to 4 tiles. Writes ``benchmarks/results/segmentation_real.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TRAIN_SETS = range(1, 25)
TEST_SETS = range(25, 31)
TILE = 384          # native px (0.87 um/px) -> 96 model px at INPUT_SCALE
OVERLAP = 64        # native px
INPUT_SCALE = 0.25
MIN_GT_PX = 160     # native px per tile instance (= 10 model px)


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--time-budget-min", type=float, default=6.0, help="training wall-time budget per model (minutes)")
    p.add_argument("--epochs", type=int, default=12, help="passes over the training tiles (budget may stop earlier)")
    p.add_argument("--kinds", nargs="+", default=["locsnet", "mask_rcnn"], choices=["locsnet", "mask_rcnn"])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    root = data_dir()
    if root is None:
        print("SKIP: Usiigaci data not found (set LFTIMING_REALDATA or provide ../shared/realdata/usiigaci_phase_seg); "
              "nothing to benchmark.")
        sys.exit(0)


    from lftiming_ml.metrics.segmentation import summarize_segmentation
    from lftiming_ml.metrics.stats import bootstrap_ci
    from lftiming_ml.segmentation.config import segmenter_profile, train_config
    from lftiming_ml.segmentation.engine import score_predictions, train_segmenter
    from lftiming_ml.segmentation.model import registry_config
    from lftiming_ml.segmentation.infer import segment_crops

    torch.set_num_threads(2)
    t_all = time.perf_counter()
    train_samples = load_sets(root, TRAIN_SETS)
    test_samples = load_sets(root, TEST_SETS)
    print(f"data {root}: {len(train_samples)} train tiles (sets 1-24, {sum(len(s.masks) for s in train_samples)} "
          f"tile instances), {len(test_samples)} test tiles (sets 25-30, {sum(len(s.masks) for s in test_samples)})",
          flush=True)
    profile = segmenter_profile("cpu").model_copy(update={
        "crop_size": TILE, "input_scale": INPUT_SCALE, "aspect_ratios": (0.5, 1.0, 2.0),
        "max_detections": 40, "min_area_px": 128})
    profile = type(profile).model_validate(profile.model_dump())  # re-validate the overrides

    result: dict = {
        "command": "python benchmarks/segmentation_real.py " + " ".join(sys.argv[1:]),
        "machine": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
        "data": str(root), "train_sets": f"set{TRAIN_SETS[0]}..set{TRAIN_SETS[-1]}",
        "test_sets": f"set{TEST_SETS[0]}..set{TEST_SETS[-1]}",
        "tiling": {"tile_native_px": TILE, "overlap_native_px": OVERLAP, "input_scale": INPUT_SCALE,
                   "model_px": round(TILE * INPUT_SCALE), "min_gt_px_per_tile": MIN_GT_PX, "um_per_px": 0.87},
        "n_train_tiles": len(train_samples), "n_test_tiles": len(test_samples),
        "n_test_gt_instances": int(sum(len(s.masks) for s in test_samples)),
        "time_budget_min": args.time_budget_min, "epochs": args.epochs, "models": {},
    }
    tile_keys = [f"{s.meta['source']}/y{s.meta['tile_origin'][0]}x{s.meta['tile_origin'][1]}" for s in test_samples]

    for kind in args.kinds:  # sequential, never in parallel
        config = train_config("cpu", kind=kind, profile=profile, epochs=args.epochs,
                              time_budget_min=args.time_budget_min, seed=args.seed, device="cpu")
        t0 = time.perf_counter()

        def on_step(step: int, losses: dict, _kind: str = kind) -> None:
            if step % 25 == 0:
                print(f"  {_kind} step {step}: loss {losses['loss']:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)

        model, history = train_segmenter(config, train_samples=train_samples, val_samples=(),
                                         log_fn=lambda e, row, _k=kind: print(f"{_k} epoch {e}: " + json.dumps(
                                             {k: round(v, 4) for k, v in row.items()}), flush=True),
                                         step_fn=on_step)
        train_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        preds = segment_crops(model, [s.image for s in test_samples], profile=profile, device="cpu", batch_size=16)
        infer_s = time.perf_counter() - t1
        frames = score_predictions(test_samples, preds)
        by_tile = frames.assign(well=tile_keys)        # bootstrap unit = tile
        summary = summarize_segmentation(by_tile)["overall"]
        by_image = summarize_segmentation(frames)["overall"]  # well = source image: CI over the 6 images
        scored = by_tile[by_tile["n_gt"] > 0]["miou"].to_numpy()
        est, lo, hi = bootstrap_ci(scored, n_resamples=2000, seed=0)
        out = {
            "train_seconds": train_s, "steps": int(sum(r["steps"] for r in history)), "epochs_run": len(history),
            # the time budget can cut any epoch short, the last one included
            "stopped_early": sum(r["steps"] for r in history) < args.epochs * max(r["steps"] for r in history),
            "final_loss": history[-1].get("loss"), "infer_seconds": infer_s,
            "tiles_per_s": len(test_samples) / max(infer_s, 1e-9),
            "miou_mean": summary["miou_mean"], "miou_sd": summary["miou_sd"],
            "miou_ci95_tiles": [lo, hi], "miou_ci95_images": [by_image["miou_ci_low"], by_image["miou_ci_high"]],
            "ap50": summary["ap50"], "n_gt": summary["n_gt"], "n_pred": summary["n_pred"],
            "n_missed": summary["n_missed"], "n_extra": summary["n_extra"], "missed_rate": summary["missed_rate"],
            "per_image_miou": frames[frames["n_gt"] > 0].groupby("source")["miou"].mean().round(4).to_dict(),
            "config": registry_config(config), "history": history,
        }
        result["models"][kind] = out
        print(f"{kind}: trained {train_s / 60:.1f} min ({out['steps']} steps, {out['epochs_run']} epochs), "
              f"mIoU {out['miou_mean']:.3f} [{lo:.3f}, {hi:.3f}], AP50 {out['ap50']:.3f}", flush=True)
        del model

    print(f"\nUsiigaci sets 25-30, {len(test_samples)} tiles of {TILE} px (x{INPUT_SCALE} -> "
          f"{round(TILE * INPUT_SCALE)} px), {result['n_test_gt_instances']} tile instances")
    print(f"  {'model':<10}{'train min':>10}{'steps':>7}{'mIoU':>7}{'sd':>6}  {'95% CI (tiles)':<16}"
          f"{'95% CI (images)':<17}{'AP50':>6}{'missed':>8}{'extra':>7}")
    for kind, m in result["models"].items():
        print(f"  {kind:<10}{m['train_seconds'] / 60:>10.1f}{m['steps']:>7}{m['miou_mean']:>7.3f}{m['miou_sd']:>6.2f}"
              f"  [{m['miou_ci95_tiles'][0]:.3f}, {m['miou_ci95_tiles'][1]:.3f}]  "
              f"[{m['miou_ci95_images'][0]:.3f}, {m['miou_ci95_images'][1]:.3f}]  "
              f"{m['ap50']:>6.3f}{m['n_missed']:>8}{m['n_extra']:>7}")
    result["total_seconds"] = time.perf_counter() - t_all
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "segmentation_real.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(f"\nwrote {RESULTS / 'segmentation_real.json'} (total {result['total_seconds'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
