"""Appearance of the tracker's detections: each detection's re-identification embedding
(``lftiming_ml.reid``), the input of Eq. 7's appearance term (``costs``, ``linking``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from lftiming_ml.classification.sequences import extract_patches, normalise_phase
from lftiming_ml.models.precision import inference_dtype
from lftiming_ml.models.training import pick_device
from lftiming_ml.reid.model import ReidNet, embed_inputs, inference_net, stack_inputs
from lftiming_ml.tracking.types import WellFrameDetections


def embed_detections(net: ReidNet, phase: np.ndarray, detections: Sequence[WellFrameDetections], *,
                     device: str | torch.device | None = "auto", precision: str = "auto") -> list[WellFrameDetections]:
    """``detections`` of one well movie with ``embeddings`` (float32[n, D]) filled in, by
    ``net``'s inference form (``reid.model.inference_net``: batch norms fused, channels-last,
    convolutions in ``models.precision.inference_dtype(precision)``).

    phase (uint16|float[T, S, S]): the movie's phase channel, in the crop the detections'
    centroids and masks are in. Detections without masks cannot be embedded (ValueError).
    """
    if len(detections) != len(phase):
        raise ValueError(f"{len(detections)} frames of detections for a {len(phase)}-frame movie")
    p = net.profile
    norm = normalise_phase(phase, p.phase_gain)
    dev = pick_device(device)
    fast = inference_net(net.to(dev).eval(), inference_dtype(precision, dev))
    patches, owners = [], []
    for t, d in enumerate(detections):
        if d.n == 0:
            continue
        if d.masks is None:
            raise ValueError(f"frame {t}: detections without masks cannot be embedded")
        img, msk = extract_patches(np.repeat(norm[t:t + 1], d.n, axis=0), np.asarray(d.masks, bool), d.centroids,
                                   p.patch_size)
        patches.append(stack_inputs(img, msk, p))
        owners.append((t, d.n))
    emb = embed_inputs(fast, np.concatenate(patches), dev, dim=p.embedding_dim) if patches else np.zeros((0, p.embedding_dim), np.float32)
    out, at = list(detections), 0
    for t, n in owners:
        d = detections[t]
        out[t] = WellFrameDetections(d.centroids, d.areas, d.masks, d.cell_types, embeddings=emb[at:at + n])
        at += n
    return out


__all__ = ["embed_detections"]
