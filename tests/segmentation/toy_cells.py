"""Tiny synthetic crops for segmentation tests: bright discs on a noisy background."""

from __future__ import annotations

import numpy as np

from lftiming_ml.segmentation.config import SegmenterProfile
from lftiming_ml.segmentation.data import SegmentationSample

TINY_PROFILE = SegmenterProfile(
    name="tiny", returned_layers=(1, 2), fpn_channels=32, crop_size=64, anchor_sizes=(12, 20, 32),
    rpn_pre_nms_top_n_train=100, rpn_post_nms_top_n_train=50, rpn_pre_nms_top_n_test=50,
    rpn_post_nms_top_n_test=20, rpn_batch_size_per_image=64, box_batch_size_per_image=32, box_head_dim=64,
    mask_roi_size=7, max_detections=10, score_thresh=0.0, min_area_px=0,
)


def disc(shape: tuple[int, int], cy: float, cx: float, r: float) -> np.ndarray:
    """bool[H, W]: pixels whose centre lies within ``r`` of (cy, cx) (pixel (i, j) centre at (i, j))."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


def disc_sample(discs: list[tuple[float, float, float]], size: int = 64, seed: int = 0) -> SegmentationSample:
    """A uint16 crop with bright discs (cy, cx, r) over Poisson-ish noise, and their masks."""
    rng = np.random.default_rng(seed)
    masks = np.stack([disc((size, size), *d) for d in discs]) if discs else np.zeros((0, size, size), bool)
    img = 1000 + rng.normal(0, 20, (size, size)) + 800 * masks.sum(0)
    return SegmentationSample(image=np.clip(img, 0, 65535).astype(np.uint16), masks=masks,
                              meta={"source": f"toy{seed}", "n_cells": len(discs)})


def toy_set() -> list[SegmentationSample]:
    """Three crops: two overlapping discs, one lone disc, three discs."""
    return [
        disc_sample([(30, 26, 9), (32, 40, 8)], seed=1),
        disc_sample([(20, 44, 10)], seed=2),
        disc_sample([(16, 16, 7), (44, 20, 9), (40, 46, 8)], seed=3),
    ]
