"""The re-identification loss, a pure function of embeddings and labels."""

from __future__ import annotations

import torch


def supervised_contrastive_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float,
                                groups: torch.Tensor | None = None) -> torch.Tensor:
    """Khosla et al. (2020): minus the mean log-probability of each view's positives (same
    label) among all other views of the batch (with ``groups``: only those of its group).

    z (float[V, D]): unit rows; labels (int64[V]): cell of each view; groups (int64[V] |
    None): well of each view. Returns a scalar tensor.
    """
    sim = z @ z.T / temperature
    eye = torch.eye(len(labels), dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, -1e9)
    if groups is not None:
        sim = sim.masked_fill(groups[:, None] != groups[None, :], -1e9)
    pos = (labels[:, None] == labels[None, :]) & ~eye
    log_p = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    return -((log_p * pos).sum(1) / pos.sum(1).clamp(min=1)).mean()
