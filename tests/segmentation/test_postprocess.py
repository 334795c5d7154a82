"""Box conventions, sub-pixel mask pasting and instance filtering."""

from __future__ import annotations

import numpy as np
import torch
from toy_cells import disc

from lftiming_ml.metrics.segmentation import mask_iou_matrix
from lftiming_ml.segmentation.losses import roi_mask_targets
from lftiming_ml.segmentation.postprocess import (boxes_from_masks, filter_instances, instance_properties, paste_masks,
                                                 xyxy_to_yxyx)


def test_boxes_are_continuous_with_exclusive_end():
    m = torch.zeros(2, 10, 12, dtype=torch.bool)
    m[0, 2:5, 3:9] = True
    boxes = boxes_from_masks(m)
    assert boxes[0].tolist() == [3.0, 2.0, 9.0, 5.0]
    assert boxes[1].tolist() == [0.0, 0.0, 0.0, 0.0]  # empty mask
    np.testing.assert_array_equal(xyxy_to_yxyx(boxes[:1]), [[2.0, 3.0, 5.0, 9.0]])


def test_paste_inverts_roi_targets_at_subpixel_accuracy():
    for cy, cx, r in ((20.3, 17.6, 7.5), (30.0, 31.0, 5.2)):
        m = disc((48, 48), cy, cx, r)
        mt = torch.from_numpy(m)[None]
        box = boxes_from_masks(mt)
        probs = roi_mask_targets(mt.float(), box, torch.tensor([0]), 28)
        pasted = paste_masks(probs, box, (48, 48)) >= 0.5
        iou = mask_iou_matrix(pasted.numpy(), m[None])[0, 0]
        assert iou > 0.97, iou


def test_paste_at_model_scale_two_lands_in_crop_px():
    m = disc((40, 40), 18, 22, 6)
    big = np.kron(m, np.ones((2, 2), bool))  # the same cell at model scale 2
    bt = torch.from_numpy(big)[None]
    box = boxes_from_masks(bt)
    probs = roi_mask_targets(bt.float(), box, torch.tensor([0]), 28)
    masks, scores, boxes = filter_instances(box, torch.tensor([0.9]), probs, image_shape=(40, 40), scale=2.0)
    assert masks.shape == (1, 40, 40) and mask_iou_matrix(masks, m[None])[0, 0] > 0.95
    np.testing.assert_allclose(boxes[0], xyxy_to_yxyx(boxes_from_masks(torch.from_numpy(m)[None]))[0])


def test_filter_drops_low_scores_and_small_masks_and_orders_by_score():
    probs = torch.ones(3, 8, 8)
    boxes = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30], [5, 5, 7, 7]])
    scores = torch.tensor([0.6, 0.9, 0.95])
    masks, kept, out_boxes = filter_instances(boxes, scores, probs, image_shape=(32, 32), score_thresh=0.5,
                                              min_area_px=5)
    np.testing.assert_allclose(kept, [0.9, 0.6])  # the 2x2 instance is too small
    assert masks.shape == (2, 32, 32) and masks[0, 25, 25] and masks[1, 5, 5] and not masks[0, 5, 5]
    masks, kept, _ = filter_instances(boxes, scores, probs, image_shape=(32, 32), score_thresh=0.99)
    assert masks.shape == (0, 32, 32) and kept.shape == (0,)


def test_instances_may_overlap():
    probs = torch.ones(2, 8, 8)
    boxes = torch.tensor([[0.0, 0, 12, 12], [6, 6, 18, 18]])
    masks, _, _ = filter_instances(boxes, torch.tensor([0.8, 0.7]), probs, image_shape=(20, 20))
    assert (masks[0] & masks[1]).sum() == 36


def test_suppress_contained_drops_duplicates_keeps_partly_overlapping_cells() -> None:
    from lftiming_ml.segmentation.postprocess import suppress_contained

    masks = torch.zeros((4, 30, 30), dtype=torch.bool)
    masks[0, 5:15, 5:15] = True      # best cell
    masks[1, 6:14, 6:14] = True      # inside cell 0: duplicate / fragment
    masks[2, 5:15, 12:22] = True     # neighbour overlapping 30% of either: a real cell
    masks[3, 20:28, 20:28] = True    # separate cell
    assert suppress_contained(masks, 0.6) == [0, 2, 3]
    assert suppress_contained(masks, 1.0) == [0, 1, 2, 3]
    assert suppress_contained(masks[:0], 0.6) == []


def test_instance_properties_equal_regionprops() -> None:
    from skimage.draw import ellipse
    from skimage.measure import regionprops

    rng = np.random.default_rng(3)
    masks = []
    for _ in range(40):
        m = np.zeros((48, 40), bool)
        rr, cc = ellipse(rng.uniform(0, 48), rng.uniform(0, 40), rng.uniform(1, 12), rng.uniform(1, 12), shape=m.shape,
                         rotation=rng.uniform(0, np.pi))
        m[rr, cc] = True
        m[rng.integers(48), rng.integers(40)] = True  # a stray pixel: not an ellipse any more
        masks.append(m)
    single, line = np.zeros((48, 40), bool), np.zeros((48, 40), bool)
    single[5, 7], line[9, 3:12] = True, True  # eccentricity 0 (no spread) and 1 (a line)
    masks = np.array([*masks, single, line])
    got = instance_properties(masks)
    for i, m in enumerate(masks):
        p = regionprops(m.astype(np.uint8))[0]
        assert got["area"][i] == p.area and tuple(got["bbox"][i]) == p.bbox
        assert np.allclose([got["y"][i], got["x"][i]], p.centroid, rtol=0, atol=1e-12)
        assert abs(got["eccentricity"][i] - p.eccentricity) < 1e-9
    assert got["eccentricity"][-2] == 0.0 and got["eccentricity"][-1] == 1.0
