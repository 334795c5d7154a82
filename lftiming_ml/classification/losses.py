"""Losses of the classifiers (pure functions of tensors; paper 3.3 and 2.5).

Binary cross-entropy with label smoothing (targets ``y (1 - s) + s / 2``) and the penalty
on decreases of the apoptotic probability over a track (apoptosis is irreversible).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def smoothed_bce(logits: torch.Tensor, targets: torch.Tensor, *, smoothing: float = 0.1,
                 valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean BCE-with-logits of ``logits`` against 0/1 ``targets`` (same shape) smoothed by
    ``smoothing``, over the entries where ``valid`` (bool, same shape) is True."""
    soft = targets.to(logits.dtype) * (1 - smoothing) + smoothing / 2
    loss = F.binary_cross_entropy_with_logits(logits, soft, reduction="none")
    if valid is None:
        return loss.mean()
    w = valid.to(loss.dtype)
    return (loss * w).sum() / w.sum().clamp_min(1.0)


def monotonicity_penalty(probs: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over consecutive valid frame pairs of ``relu(p[t] - p[t + 1])`` for ``probs
    (float[B, T])``: zero for non-decreasing sequences, positive for every decrease."""
    drops = F.relu(probs[:, :-1] - probs[:, 1:])
    if valid is None:
        return drops.mean() if drops.numel() else probs.sum() * 0
    pair = (valid[:, :-1] & valid[:, 1:]).to(drops.dtype)
    return (drops * pair).sum() / pair.sum().clamp_min(1.0)


def apoptosis_loss(frame_logits: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor, *,
                   smoothing: float = 0.1, w_monotone: float = 1.0) -> dict[str, torch.Tensor]:
    """Per-frame smoothed BCE + ``w_monotone`` x monotonicity penalty of the probabilities;
    ``frame_logits (float[B, T])``, ``labels (0/1[B, T])``, ``valid (bool[B, T])``."""
    bce = smoothed_bce(frame_logits, labels, smoothing=smoothing, valid=valid)
    mono = monotonicity_penalty(torch.sigmoid(frame_logits), valid)
    return {"loss_bce": bce, "loss_monotone": mono, "loss": bce + w_monotone * mono}


__all__ = ["apoptosis_loss", "monotonicity_penalty", "smoothed_bce"]
