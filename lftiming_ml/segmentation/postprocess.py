"""Box conventions, mask pasting, thresholding and score filtering of segmenter output (pure).

Coordinates are *continuous* px: pixel (r, c) covers [r, r+1) x [c, c+1), so a mask's box is
(min index, max index + 1) and boxes scale exactly with the image. The network works in
torchvision's ``(x0, y0, x1, y1)``; the library hands out ``(y0, x0, y1, x1)``.
``postprocess.paste_masks`` is the exact inverse of ``losses.roi_mask_targets``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def boxes_from_masks(masks: torch.Tensor) -> torch.Tensor:
    """``masks (bool[N, H, W])`` -> ``float32[N, 4], (x0, y0, x1, y1)`` continuous px (end
    exclusive). Empty masks give all-zero boxes (callers drop them first)."""
    n, h, w = masks.shape
    if n == 0:
        return torch.zeros((0, 4), dtype=torch.float32, device=masks.device)
    rows, cols = masks.any(2), masks.any(1)  # [N, H], [N, W]
    y0, x0 = rows.int().argmax(1), cols.int().argmax(1)
    y1, x1 = h - rows.flip(1).int().argmax(1), w - cols.flip(1).int().argmax(1)
    boxes = torch.stack([x0, y0, x1, y1], 1).float()
    return torch.where(rows.any(1)[:, None], boxes, torch.zeros_like(boxes))


def xyxy_to_yxyx(boxes: torch.Tensor | np.ndarray) -> np.ndarray:
    """``(x0, y0, x1, y1)`` -> ``float32[n, 4], (y0, x0, y1, x1)`` numpy."""
    b = boxes.detach().cpu().numpy() if torch.is_tensor(boxes) else np.asarray(boxes)
    return b.reshape(-1, 4)[:, [1, 0, 3, 2]].astype(np.float32)


def paste_masks(mask_probs: torch.Tensor, boxes: torch.Tensor, image_shape: tuple[int, int]) -> torch.Tensor:
    """Paste ROI masks into the image with sub-pixel accuracy.

    ``mask_probs (float[n, M, M])`` in the ROI frame of ``boxes (float[n, 4], (x0, y0, x1, y1)
    continuous px of the output image)`` -> ``float[n, H, W]`` (bilinear, zero outside the box).
    The output pixel centre p + 0.5 maps to ROI bin coordinate (p + 0.5 - x0) / w * M - 0.5.
    """
    n = mask_probs.shape[0]
    h, w = image_shape
    if n == 0:
        return mask_probs.new_zeros((0, h, w))
    dev, dt = mask_probs.device, mask_probs.dtype
    x0, y0, x1, y1 = boxes.to(dt).unbind(1)
    px = torch.arange(w, device=dev, dtype=dt) + 0.5
    py = torch.arange(h, device=dev, dtype=dt) + 0.5
    gx = 2 * (px[None] - x0[:, None]) / (x1 - x0).clamp_min(1e-3)[:, None] - 1  # [n, W]
    gy = 2 * (py[None] - y0[:, None]) / (y1 - y0).clamp_min(1e-3)[:, None] - 1  # [n, H]
    grid = torch.stack([gx[:, None, :].expand(n, h, w), gy[:, :, None].expand(n, h, w)], dim=-1)
    return F.grid_sample(mask_probs[:, None], grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False)[:, 0]


def filter_instances(
    boxes: torch.Tensor, scores: torch.Tensor, mask_probs: torch.Tensor, *, image_shape: tuple[int, int],
    scale: float = 1.0, score_thresh: float = 0.5, mask_thresh: float = 0.5, min_area_px: int = 0,
    max_containment: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's detections -> ``(masks bool[n, H, W], scores float32[n], boxes float32[n, 4]
    (y0, x0, y1, x1))`` in the crop's px.

    ``boxes (float[k, 4], (x0, y0, x1, y1) model px)``, ``scores (float[k])``,
    ``mask_probs (float[k, M, M])``; model px = crop px x ``scale``. Keeps instances with
    score >= ``score_thresh`` whose pasted mask (probability >= ``mask_thresh``) has at least
    ``min_area_px`` pixels (and one at least) and that are not duplicates of a better one
    (``suppress_contained`` with ``max_containment``; 1.0 keeps all). Instances may overlap
    (amodal); order is by descending score. Returned boxes are the predicted boxes, not the
    masks' extents.
    """
    keep = scores >= score_thresh
    boxes, scores, mask_probs = boxes[keep] / scale, scores[keep], mask_probs[keep]
    masks = paste_masks(mask_probs, boxes, image_shape) >= mask_thresh
    area = masks.flatten(1).sum(1)
    keep = area >= max(min_area_px, 1)
    order = torch.argsort(scores[keep], descending=True)
    masks, scores, boxes = masks[keep][order], scores[keep][order], boxes[keep][order]
    unique = torch.as_tensor(suppress_contained(masks, max_containment), dtype=torch.long, device=masks.device)
    return (masks[unique].cpu().numpy(), scores[unique].detach().cpu().numpy().astype(np.float32),
            xyxy_to_yxyx(boxes[unique]))


def suppress_contained(masks: torch.Tensor, max_containment: float) -> list[int]:
    """Indices of ``masks (bool[n, H, W])`` (best first) to keep: an instance is dropped when
    its overlap with an already kept one exceeds ``max_containment`` of the smaller of the
    two areas (a duplicate or a fragment of the same cell). Real cells in a well overlap
    only partly (amodal overlap of neighbours), so a threshold of ~0.6 keeps them; 1.0 keeps
    everything."""
    n = masks.shape[0]
    if n == 0 or max_containment >= 1.0:
        return list(range(n))
    flat = masks.flatten(1).float()
    inter = flat @ flat.T
    area = flat.sum(1)
    smaller = torch.minimum(area[:, None], area[None, :]).clamp_min(1)
    dup = (inter / smaller) > max_containment
    keep: list[int] = []
    for i in range(n):
        if not any(bool(dup[i, j]) for j in keep):
            keep.append(i)
    return keep


def instance_properties(masks: np.ndarray) -> dict[str, np.ndarray]:
    """Shape properties of ``masks (bool[n, H, W])`` (non-empty), as scikit-image's
    ``regionprops`` gives them, computed for all instances at once: ``area`` (int64[n], px),
    ``y``, ``x`` (float64[n], centroid, px), ``bbox`` (int64[n, 4], (y0, x0, y1, x1), end
    exclusive), ``eccentricity`` (float64[n], of the ellipse with the same second moments:
    sqrt(1 - l2 / l1), l1 >= l2 the eigenvalues of the covariance of the pixel coordinates;
    0 when l1 is 0)."""
    m = np.asarray(masks, bool)
    n, h, w = m.shape
    rows_px, cols_px = m.sum(axis=2).astype(np.float64), m.sum(axis=1).astype(np.float64)  # [n, H], [n, W]
    area = rows_px.sum(axis=1)
    ys, xs = np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64)
    cy, cx = rows_px @ ys / area, cols_px @ xs / area
    dy, dx = ys[None] - cy[:, None], xs[None] - cx[:, None]  # [n, H], [n, W]
    var_y = (rows_px * dy ** 2).sum(axis=1) / area
    var_x = (cols_px * dx ** 2).sum(axis=1) / area
    cov = np.einsum("nhw,nh,nw->n", m, dy, dx, dtype=np.float64) / area
    half_trace, root = (var_y + var_x) / 2, np.sqrt(((var_y - var_x) / 2) ** 2 + cov ** 2)
    l1, l2 = half_trace + root, np.maximum(half_trace - root, 0.0)
    ecc = np.sqrt(1.0 - np.divide(l2, l1, out=np.ones_like(l1), where=l1 > 0))
    ecc[l1 <= 0] = 0.0
    occupied_y, occupied_x = rows_px > 0, cols_px > 0
    bbox = np.stack([occupied_y.argmax(1), occupied_x.argmax(1), h - occupied_y[:, ::-1].argmax(1),
                     w - occupied_x[:, ::-1].argmax(1)], axis=1).astype(np.int64)
    return {"area": area.astype(np.int64), "y": cy, "x": cx, "bbox": bbox, "eccentricity": ecc}
