"""Inference-only settings of the bundled LOCSNET: how many RPN proposals per level go into
NMS (``rpn_pre_nms_top_n_test``) and survive it (``rpn_post_nms_top_n_test``) at inference,
and the precision of the convolutions (``precision``: float32 or
bfloat16 autocast) against held-out accuracy and speed (issue 20).

    .venv/bin/python benchmarks/inference_settings.py   # pre-NMS 300, 100, 50; post-NMS 50; float32 and bfloat16
    .venv/bin/python benchmarks/inference_settings.py --pre-nms 300 --post-nms 100 50 30 --precision float32

A nanowell holds at most ~10 cells, so most of the 100 proposals kept after NMS (the cpu
profile's value when the bundle was trained) are background, and each costs a RoIAlign and
a box-head pass on CPU. bfloat16 runs the convolutions on the CPU's AMX/AVX512-BF16 units
where it has them (``precision='auto'`` picks it there). Every setting is scored on the
segmentation benchmark's held-out chips (``benchmarks/segmentation.py``: seeds 301 standard, 302 hard, one field x 72 frames,
every ``--frame-step``-th frame) with the same weights (``models/locsnet``, checksums
verified); speed is well-frames/s of ``segment_crops`` (batch 32, 2 torch threads, conv
weights channels-last as ``serving.segment_fn`` runs them, this machine, so compare within
one run; each setting gets an untimed warm-up pass of 32 crops). Settings are keyed
``"<pre-NMS>/<post-NMS>/<precision>"``. Writes ``benchmarks/results/inference_settings.json``.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import platform
import sys
from pathlib import Path

import pandas as pd
import torch

from lftiming_ml.bundled import load_shipped
from lftiming_ml.metrics.segmentation import summarize_segmentation
from lftiming_ml.segmentation.data import load_chip_samples
from lftiming_ml.segmentation.engine import evaluate
from lftiming_ml.segmentation.infer import segment_crops
from lftiming_ml.segmentation.model import segmenter_from_registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from segmentation import HELD_OUT, held_out_chip  # noqa: E402  (the segmentation benchmark's held-out chips)

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", type=Path, default=ROOT / "models" / "locsnet")
    p.add_argument("--pre-nms", type=int, nargs="+", default=[300, 100, 50])
    p.add_argument("--post-nms", type=int, nargs="+", default=[50])
    p.add_argument("--precision", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    p.add_argument("--frame-step", type=int, default=3)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "inference_settings.json")
    args = p.parse_args()
    torch.set_num_threads(2)
    bundle, card = load_shipped(args.bundle)
    samples = {preset: load_chip_samples(held_out_chip(preset, seed), frames=range(0, 72, args.frame_step))
               for preset, seed in HELD_OUT}
    result: dict = {"machine": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
                    "bundle": str(args.bundle.relative_to(ROOT) if args.bundle.is_relative_to(ROOT) else args.bundle),
                    "bundle_pre_nms": bundle.config["profile"]["rpn_pre_nms_top_n_test"],
                    "bundle_post_nms": bundle.config["profile"]["rpn_post_nms_top_n_test"],
                    "cpu_bf16_native": bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()),
                    "held_out": [f"{p}:{s}" for p, s in HELD_OUT], "frame_step": args.frame_step, "settings": {}}
    for pre, post, precision in itertools.product(args.pre_nms, args.post_nms, args.precision):
        config = copy.deepcopy(bundle.config)
        config["profile"].update(rpn_pre_nms_top_n_test=pre, rpn_post_nms_top_n_test=post, precision=precision)
        model, profile = segmenter_from_registry(bundle.state_dict, config)
        model.to(memory_format=torch.channels_last)
        first = next(iter(samples.values()))[:32]  # warm-up, untimed: the first pass pays one-time costs
        segment_crops(model, [smp.image for smp in first], profile=profile, device="cpu", batch_size=32)
        pooled, out, seconds = [], {}, 0.0
        for preset, smp in samples.items():
            frames, summary = evaluate(model, smp, profile=profile, device="cpu", batch_size=32)
            pooled.append(frames)
            seconds += summary["speed"]["seconds"]
            out[preset] = {g: m["miou_mean"] for g, m in summary.items() if g != "speed"}
        overall = summarize_segmentation(pd.concat(pooled, ignore_index=True))
        out["all"] = {g: {"miou": m["miou_mean"], "ci95": [m.get("miou_ci_low"), m.get("miou_ci_high")]}
                      for g, m in overall.items()}
        out["well_frames_per_s"] = sum(len(s) for s in samples.values()) / seconds
        result["settings"][f"{pre}/{post}/{precision}"] = out
        print(f"pre-NMS {pre:4d} post-NMS {post:4d} {precision:8s}: mIoU {overall['overall']['miou_mean']:.4f} "
              f"(>4 cells {overall['>4 cells']['miou_mean']:.4f}), {out['well_frames_per_s']:.1f} well-frames/s",
              flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
