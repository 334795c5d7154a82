"""Mask targets and losses of LOCSNET's three mask heads (paper section 2.2), as pure functions.

The paper's equations lost their symbols in the seed text; reconstructed here from the
surrounding prose and Figure 2 (cell ``i`` of frame ``t``, ``T`` frames, ``N_t`` cells):

- Eq. 1 (Mask R-CNN baseline): ``L = L_cls + alpha L_box + beta L_mask`` (smooth-L1 box
  regression, cross-entropy classification, pixel-wise cross-entropy mask loss); torchvision
  adds the RPN's objectness and box terms, which we keep.
- Eqs. 2-4: ``L_o = 1/T sum_t 1/N_t sum_i CE(h_o(f_i^ROI), O_i)``,
  ``L_c = ... CE(h_c(f_i^ROI), C_i)``, ``L_w = ... CE(h_w(f_i^added), W_i)`` with
  ``f_i^added = f_i^ROI + h_o^(3)(f_i^ROI) + h_c^(3)(f_i^ROI)`` (third-conv features).
- Eq. 5: ``L_mask = L_w + L_o + L_c``; Eq. 6: LOCSNET's total loss is Eq. 1 with this L_mask.

CE is the per-pixel binary cross-entropy on the mask logits of the ROI's ground-truth class,
averaged over the positive ROIs of the batch and their M x M pixels (torchvision's
``maskrcnn_loss``), which is the ``1/T sum_t 1/N_t`` average up to the ROI sampling.

Targets (``overlap_complement_targets``), for the amodal masks ``A_1..A_N`` of one image:
whole ``W_i = A_i``; overlap ``O_i = A_i AND (OR_{j != i} A_j)`` (pixels of cell i that
another cell also covers); complement ``C_i = A_i AND NOT O_i`` (its non-shared part).
So ``W_i = O_i OR C_i`` and ``O_i AND C_i = 0``. The complement is symmetric in the cells,
unlike the simulator's ``visible`` mask (amodal minus the cells lying *above*).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align


def overlap_complement_targets(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``masks (bool|uint8[N, H, W])`` amodal instances of one image -> ``(overlap, complement)``,
    both ``bool[N, H, W]``, defined as in the module docstring."""
    m = masks.bool()
    shared = m.sum(0) >= 2  # pixels covered by at least two cells
    overlap = m & shared[None]
    return overlap, m & ~overlap


def roi_mask_targets(gt_masks: torch.Tensor, boxes: torch.Tensor, matched_idxs: torch.Tensor, size: int) -> torch.Tensor:
    """ROI-aligned mask targets.

    ``gt_masks (bool|float[N, H, W])``, ``boxes (float[P, 4], (x0, y0, x1, y1) continuous px,
    pixel (r, c) covering [c, c+1) x [r, r+1))``, ``matched_idxs (int[P])`` into ``gt_masks``
    -> ``float[P, size, size]`` in [0, 1]: bin (a, b) is the mask sampled at the continuous
    point (x0 + (b + 0.5) w / size, y0 + (a + 0.5) h / size) (``aligned=True``), the
    inverse of ``postprocess.paste_masks``.
    """
    if boxes.shape[0] == 0:
        return boxes.new_zeros((0, size, size))
    rois = torch.cat([matched_idxs.to(boxes)[:, None], boxes], dim=1)
    return roi_align(gt_masks[:, None].to(boxes), rois, (size, size), spatial_scale=1.0,
                     sampling_ratio=2, aligned=True)[:, 0]


def mask_bce_loss(mask_logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel BCE of ``mask_logits (float[P, C, M, M])`` at each ROI's class
    ``labels (int[P])`` against ``targets (float[P, M, M])``; 0 (with a graph) when P == 0."""
    if mask_logits.shape[0] == 0:
        return mask_logits.sum() * 0.0
    logits = mask_logits[torch.arange(labels.shape[0], device=labels.device), labels]
    return F.binary_cross_entropy_with_logits(logits, targets)


def head_mask_loss(
    mask_logits: torch.Tensor, proposals: Sequence[torch.Tensor], gt_masks: Sequence[torch.Tensor],
    gt_labels: Sequence[torch.Tensor], matched_idxs: Sequence[torch.Tensor],
) -> torch.Tensor:
    """One mask head's loss over a batch: positive ROIs ``proposals[i] (float[P_i, 4], x0y0x1y1)``
    of image i matched to ``gt_masks[i] (bool[N_i, H, W])`` by ``matched_idxs[i] (int[P_i])``;
    ``mask_logits (float[sum P_i, C, M, M])`` in the same order."""
    size = mask_logits.shape[-1]
    labels = [lab[idx] for lab, idx in zip(gt_labels, matched_idxs)]
    targets = [roi_mask_targets(m, p, i, size) for m, p, i in zip(gt_masks, proposals, matched_idxs)]
    if not targets or sum(t.shape[0] for t in targets) == 0:
        return mask_logits.sum() * 0.0
    return mask_bce_loss(mask_logits, torch.cat(labels), torch.cat(targets))


def composite_loss(losses: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    """Weighted sum of the model's loss terms (Eq. 6); every term needs a weight (KeyError otherwise)."""
    missing = set(losses) - set(weights)
    if missing:
        raise KeyError(f"no weight for loss terms {sorted(missing)}")
    return sum(weights[k] * v for k, v in losses.items())
