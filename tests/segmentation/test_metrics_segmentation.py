"""mIoU per frame of matched instances, missed/extra, AP50 and the stratified summary."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from toy_cells import disc

from lftiming_ml.metrics.segmentation import (
    average_precision,
    frame_scores,
    mask_iou_matrix,
    summarize_segmentation,
)

SHAPE = (40, 40)


def _cells():
    return np.stack([disc(SHAPE, 12, 12, 6), disc(SHAPE, 26, 26, 7), disc(SHAPE, 14, 28, 5)])


def test_perfect_prediction_scores_one():
    gt = _cells()
    fs = frame_scores(gt[::-1].copy(), gt)  # order does not matter
    assert fs.miou == 1.0 and fs.n_missed == 0 and fs.n_extra == 0 and fs.n_matched == 3
    assert average_precision(fs.pred_scores, fs.pred_tp, fs.n_gt) == 1.0


def test_a_missed_cell_counts_zero_in_the_mean():
    gt = _cells()
    fs = frame_scores(gt[:2], gt)
    assert fs.miou == pytest.approx(2 / 3)
    assert (fs.n_missed, fs.n_extra) == (1, 0)
    np.testing.assert_allclose(fs.gt_iou, [1.0, 1.0, 0.0])


def test_partial_masks_give_their_iou():
    gt = _cells()[:1]
    pred = gt.copy()
    pred[0, :12] = False  # drop the top half (rows < 12) of the disc
    expected = pred.sum() / gt.sum()
    fs = frame_scores(pred, gt)
    assert fs.miou == pytest.approx(expected)
    assert fs.n_matched == (1 if expected >= 0.5 else 0)


def test_extra_prediction_leaves_miou_but_counts_and_lowers_ap():
    gt = _cells()[:2]
    extra = disc(SHAPE, 34, 6, 4)[None]
    fs = frame_scores(np.concatenate([gt, extra]), gt, np.array([0.5, 0.4, 0.9]))
    assert fs.miou == 1.0 and fs.n_extra == 1 and fs.n_missed == 0
    # ranked FP, TP, TP: precision 0, 1/2, 2/3 at recall 0, 1/2, 1; the envelope is 2/3 throughout
    assert average_precision(fs.pred_scores, fs.pred_tp, fs.n_gt) == pytest.approx(2 / 3)


def test_matching_is_one_to_one_and_maximises_total_iou():
    a, b = disc(SHAPE, 20, 16, 7), disc(SHAPE, 20, 24, 7)
    merged = a | b  # one prediction covering both cells
    fs = frame_scores(merged[None], np.stack([a, b]))
    iou = mask_iou_matrix(merged[None], np.stack([a, b]))[0]
    assert fs.miou == pytest.approx(iou.max() / 2)
    assert fs.n_missed == 2 - int((iou >= 0.5).any())


def test_frame_without_cells_has_no_miou():
    fs = frame_scores(np.zeros((0, *SHAPE), bool), np.zeros((0, *SHAPE), bool))
    assert math.isnan(fs.miou) and fs.n_gt == 0
    assert math.isnan(average_precision(fs.pred_scores, fs.pred_tp, 0))


def test_summary_per_stratum_and_contact_rich():
    gt = _cells()
    rows = []
    for well, (stratum, rich, k) in enumerate([("1E1T", False, 3), ("1E1T", False, 2), ("2E2T", True, 1)]):
        for frame in range(2):
            fs = frame_scores(gt[:k], gt)
            rows.append({"well": f"w{well}", "stratum": stratum, "contact_rich": rich, "miou": fs.miou,
                         "n_gt": fs.n_gt, "n_pred": fs.n_pred, "n_missed": fs.n_missed, "n_extra": fs.n_extra,
                         "pred_tp": fs.pred_tp, "pred_scores": fs.pred_scores})
    s = summarize_segmentation(pd.DataFrame(rows), n_resamples=200)
    assert set(s) == {"overall", "1E1T", "2E2T", "contact-rich"}
    assert s["1E1T"]["miou_mean"] == pytest.approx((1 + 2 / 3) / 2)
    assert s["contact-rich"]["miou_mean"] == pytest.approx(1 / 3) and s["contact-rich"]["n_wells"] == 1
    assert s["overall"]["n_missed"] == 2 * (0 + 1 + 2)
    o = s["overall"]
    assert o["miou_ci_low"] <= o["miou_well_mean"] <= o["miou_ci_high"]
