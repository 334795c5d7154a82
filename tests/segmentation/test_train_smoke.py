"""Training and inference end to end on toy crops: the loss falls, empty crops work,
``train_segmenter`` and ``segment_crops`` run, annotated images tile into samples."""

from __future__ import annotations

import numpy as np
import torch
from toy_cells import TINY_PROFILE, disc_sample, toy_set

from lftiming_ml.segmentation.config import SegmenterTrainConfig
from lftiming_ml.segmentation.data import samples_from_label_image, tile_origins
from lftiming_ml.segmentation.dataset import SegmentationDataset, collate_segmentation
from lftiming_ml.segmentation.engine import train_segmenter
from lftiming_ml.segmentation.infer import Instances, segment_crops
from lftiming_ml.segmentation.losses import composite_loss
from lftiming_ml.segmentation.model import build_segmenter


def _steps(model, images, targets, weights, n, lr=2e-3):
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    curve = []
    for _ in range(n):
        loss = composite_loss(model(images, targets), weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
        curve.append(float(loss.detach()))
    return curve


def test_loss_decreases_on_a_toy_set():
    torch.manual_seed(0)
    images, targets = collate_segmentation([SegmentationDataset(toy_set(), TINY_PROFILE)[i] for i in range(3)])
    model = build_segmenter(kind="locsnet", profile=TINY_PROFILE).train()
    curve = _steps(model, images, targets, SegmenterTrainConfig().loss_weights(), 12)
    assert np.isfinite(curve).all()
    assert np.mean(curve[-3:]) < 0.7 * np.mean(curve[:3]), curve


def test_empty_crop_trains_and_infers():
    torch.manual_seed(0)
    empty = disc_sample([], seed=5)
    weights = SegmenterTrainConfig().loss_weights()
    for batch in ([empty], [empty, toy_set()[1]]):
        images, targets = collate_segmentation([SegmentationDataset(batch, TINY_PROFILE)[i] for i in range(len(batch))])
        assert targets[0]["boxes"].shape == (0, 4) and targets[0]["masks"].shape == (0, 64, 64)
        model = build_segmenter(kind="locsnet", profile=TINY_PROFILE).train()
        assert np.isfinite(_steps(model, images, targets, weights, 2)).all()
    out = segment_crops(model, np.stack([empty.image, empty.image]), profile=TINY_PROFILE, device="cpu")
    assert len(out) == 2 and all(isinstance(o, Instances) for o in out)
    assert all(o.masks.shape[1:] == (64, 64) and o.masks.dtype == bool for o in out)
    dark = np.zeros((1, 64, 64), np.uint16)  # an all-dark frame (constant crop)
    assert segment_crops(model, dark, profile=TINY_PROFILE)[0].masks.shape[1:] == (64, 64)


def test_segment_crops_accepts_mixed_sizes_and_batches():
    torch.manual_seed(0)
    model = build_segmenter(kind="mask_rcnn", profile=TINY_PROFILE)
    model.train()
    crops = [disc_sample([(30, 30, 8)], size=s, seed=s).image for s in (60, 64, 70)]
    out = segment_crops(model, crops, profile=TINY_PROFILE, device="auto", batch_size=2)
    assert [o.masks.shape[1:] for o in out] == [(60, 60), (64, 64), (70, 70)]
    for o in out:
        assert o.boxes.shape == (len(o), 4) and o.scores.shape == (len(o),)
        assert np.all(np.diff(o.scores) <= 0)
    assert model.training  # mode restored


def test_train_segmenter_runs_with_validation():
    config = SegmenterTrainConfig(kind="locsnet", profile=TINY_PROFILE, epochs=2, batch_size=2, warmup_steps=1,
                                  device="cpu")
    seen = []
    model, history = train_segmenter(config, train_samples=toy_set() + [disc_sample([], seed=9)],
                                     val_samples=toy_set()[:2], log_fn=lambda e, row: seen.append(e))
    assert seen == [0, 1] and len(history) == 2 and not model.training
    assert {"loss", "loss_overlap", "loss_complement", "val_miou", "val_ap50", "epoch_s"} <= set(history[-1])
    assert 0.0 <= history[-1]["val_miou"] <= 1.0


def test_label_image_tiles_into_crops():
    labels = np.zeros((100, 150), np.int32)
    labels[10:30, 10:30] = 1
    labels[60:90, 120:145] = 2
    image = (1000 + 500 * (labels > 0)).astype(np.uint16)
    samples = samples_from_label_image(image, labels, crop_size=64, overlap=16)
    assert len(samples) == len(tile_origins(100, 64, 16)) * len(tile_origins(150, 64, 16))
    assert all(s.image.shape == (64, 64) and s.masks.shape[1:] == (64, 64) for s in samples)
    assert sum(len(s.masks) for s in samples) >= 2
    first = samples[0]
    assert len(first.masks) == 1 and first.masks[0].sum() == 400
    assert tile_origins(150, 64, 16)[-1] == 150 - 64


def test_dataset_resamples_masks_with_the_input_scale():
    profile = TINY_PROFILE.model_copy(update={"input_scale": 2.0})
    image, target = SegmentationDataset([toy_set()[1]], profile)[0]
    assert image.shape == (3, 128, 128) and target["masks"].shape == (1, 128, 128)
    x0, y0, x1, y1 = target["boxes"][0].tolist()
    assert abs((x0 + x1) / 4 - 44.5) < 0.6 and abs((y0 + y1) / 4 - 20.5) < 0.6  # disc centre (20, 44) + 0.5


def test_simulated_chip_samples_put_masks_where_the_cells_are(tmp_path):
    import pandas as pd

    from lftiming_ml.segmentation.data import load_chip_samples
    from lftiming_ml.sim.chip import simulate_chip
    from lftiming_ml.sim.config import preset_config

    chip = simulate_chip(tmp_path / "seg-easy", preset_config("easy", seed=20_999, n_fields=1, n_frames=1), workers=1)
    samples = load_chip_samples(chip, crop_size=96)
    cells = pd.read_parquet(chip / "gt" / "cells.parquet")
    assert len(samples) == 36 and all(s.image.shape == (96, 96) and s.image.dtype == np.uint16 for s in samples)
    checked = 0
    for s in samples:
        m = s.meta
        truth = cells[(cells["row"] == m["row"]) & (cells["col"] == m["col"]) & (cells["frame"] == m["frame"])]
        assert len(s.masks) == len(truth) == m["n_cells"]
        if len(truth):
            oy, ox = m["crop_origin"]
            got = sorted((float(ys.mean()) + oy, float(xs.mean()) + ox) for ys, xs in (np.nonzero(k) for k in s.masks))
            want = sorted(zip(truth["y"], truth["x"]))
            np.testing.assert_allclose(got, want, atol=1e-6)
            checked += 1
    assert checked > 5
