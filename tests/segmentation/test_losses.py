"""Mask targets of the three heads and the per-head BCE, on exact geometry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from toy_cells import disc

from lftiming_ml.segmentation.losses import (
    composite_loss,
    head_mask_loss,
    mask_bce_loss,
    overlap_complement_targets,
    roi_mask_targets,
)


def test_overlap_and_complement_of_two_overlapping_discs_are_exact():
    a, b = disc((40, 40), 20, 14, 8), disc((40, 40), 20, 24, 7)
    assert (a & b).any() and (a & ~b).any()
    overlap, complement = overlap_complement_targets(torch.from_numpy(np.stack([a, b])))
    np.testing.assert_array_equal(overlap[0].numpy(), a & b)
    np.testing.assert_array_equal(overlap[1].numpy(), a & b)
    np.testing.assert_array_equal(complement[0].numpy(), a & ~b)
    np.testing.assert_array_equal(complement[1].numpy(), b & ~a)


def test_targets_partition_each_mask_with_three_cells():
    a, b, c = disc((40, 40), 15, 15, 8), disc((40, 40), 15, 25, 8), disc((40, 40), 24, 20, 8)
    m = torch.from_numpy(np.stack([a, b, c]))
    overlap, complement = overlap_complement_targets(m)
    assert torch.equal(overlap | complement, m) and not (overlap & complement).any()
    np.testing.assert_array_equal(overlap[2].numpy(), c & (a | b))


def test_lone_cell_and_no_cell():
    a = torch.from_numpy(disc((20, 20), 10, 10, 5))[None]
    overlap, complement = overlap_complement_targets(a)
    assert not overlap.any() and torch.equal(complement, a)
    overlap, complement = overlap_complement_targets(torch.zeros((0, 20, 20), dtype=torch.bool))
    assert overlap.shape == complement.shape == (0, 20, 20)


def test_roi_targets_of_a_full_box_are_the_mask_resampled():
    m = torch.zeros(1, 16, 16)
    m[0, 4:12, 8:16] = 1  # rows 4-11, right half of the box x in [0, 16), y in [4, 12)
    t = roi_mask_targets(m, torch.tensor([[0.0, 4.0, 16.0, 12.0]]), torch.tensor([0]), 8)
    assert t.shape == (1, 8, 8)
    # x bins are 2 px wide: samples fall on pixel centres, so the split is exact
    np.testing.assert_allclose(t[0, :, :4].numpy(), 0.0, atol=1e-6)
    np.testing.assert_allclose(t[0, 1:-1, 4:].numpy(), 1.0, atol=1e-6)
    # y bins are 1 px: samples at y = 4.25, 4.75 (continuous) interpolate with the empty row 3
    np.testing.assert_allclose(t[0, [0, -1], 4:].numpy(), 0.875, atol=1e-6)


def test_mask_bce_picks_the_roi_class_and_handles_no_roi():
    logits = torch.zeros(2, 3, 4, 4)
    logits[0, 1] = 2.0
    logits[1, 2] = -2.0
    targets = torch.stack([torch.ones(4, 4), torch.zeros(4, 4)])
    loss = mask_bce_loss(logits, torch.tensor([1, 2]), targets)
    assert loss.item() == pytest.approx(F.softplus(torch.tensor(-2.0)).item(), rel=1e-5)
    empty = torch.zeros(0, 3, 4, 4, requires_grad=True)
    zero = mask_bce_loss(empty, torch.zeros(0, dtype=torch.long), torch.zeros(0, 4, 4))
    assert zero.item() == 0.0 and zero.requires_grad


def test_head_loss_skips_images_without_positive_rois():
    m = torch.from_numpy(disc((32, 32), 16, 16, 6))[None]
    logits = torch.zeros(1, 2, 14, 14, requires_grad=True)
    loss = head_mask_loss(logits, [torch.tensor([[9.0, 9.0, 23.0, 23.0]]), torch.zeros(0, 4)],
                          [m, torch.zeros(0, 32, 32, dtype=torch.bool)],
                          [torch.tensor([1]), torch.zeros(0, dtype=torch.long)],
                          [torch.tensor([0]), torch.zeros(0, dtype=torch.long)])
    assert loss.item() == pytest.approx(np.log(2), rel=1e-5)  # logit 0 -> BCE log 2 for any target


def test_composite_loss_weights_every_term():
    losses = {"loss_mask": torch.tensor(1.0), "loss_overlap": torch.tensor(2.0)}
    assert composite_loss(losses, {"loss_mask": 1.0, "loss_overlap": 0.5}).item() == pytest.approx(2.0)
    with pytest.raises(KeyError, match="loss_overlap"):
        composite_loss(losses, {"loss_mask": 1.0})
