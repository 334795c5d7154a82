"""The registered re-identification embedding: train-and-register, load-by-alias, and
embedding the pipeline's detections (the segmenter's masks) for the tracker."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from lftiming_ml.classification.data import extract_patches, normalise_phase
from lftiming_ml.corpus import CorpusConfig
from lftiming_ml.models.registry import ModelVersionInfo, load_by_alias, register_bundle
from lftiming_ml.models.training import pick_device
from lftiming_ml.reid.config import MODEL_NAME
from lftiming_ml.reid.engine import LogFn
from lftiming_ml.reid.model import ReidNet, embed_inputs, reid_from_registry, stack_inputs
from lftiming_ml.reid.offline import train_bundle
from lftiming_ml.tracking.types import WellFrameDetections


def train_and_register(
    *, corpus: CorpusConfig, corpus_root: Path, tracking_uri: str, artifact_location: str | None,
    profile: str = "cpu", alias: str = "champion", overrides: Mapping[str, object] | None = None,
    log_fn: LogFn | None = None,
) -> tuple[ModelVersionInfo, list[dict[str, float]], float]:
    """``offline.train_bundle``, then log the run and register a version of ``MODEL_NAME``
    under ``alias``. Returns the version, the history and the training time (s, data excluded)."""
    bundle = train_bundle(corpus=corpus, corpus_root=corpus_root, profile=profile, overrides=overrides, log_fn=log_fn)
    info = register_bundle(bundle, tracking_uri=tracking_uri, alias=alias, artifact_location=artifact_location)
    return info, bundle.history, bundle.metrics["train_seconds"]


def load_reid(*, tracking_uri: str, alias: str = "champion") -> tuple[ReidNet, ModelVersionInfo]:
    """The embedding ``alias`` points at (weights read with ``weights_only=True``)."""
    state_dict, config, info = load_by_alias(tracking_uri=tracking_uri, model_name=MODEL_NAME, alias=alias)
    return reid_from_registry(state_dict, config), info


def embed_detections(net: ReidNet, phase: np.ndarray, detections: Sequence[WellFrameDetections], *,
                     device: str | torch.device | None = "auto") -> list[WellFrameDetections]:
    """``detections`` of one well movie with ``embeddings`` (float32[n, D]) filled in.

    phase (uint16|float[T, S, S]): the movie's phase channel, in the crop the detections'
    centroids and masks are in. Detections without masks cannot be embedded (ValueError).
    """
    if len(detections) != len(phase):
        raise ValueError(f"{len(detections)} frames of detections for a {len(phase)}-frame movie")
    p = net.profile
    norm = normalise_phase(phase, p.phase_gain)
    dev = pick_device(device)
    net.to(dev).eval()
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
    emb = embed_inputs(net, np.concatenate(patches), dev) if patches else np.zeros((0, p.embedding_dim), np.float32)
    out, at = list(detections), 0
    for t, n in owners:
        d = detections[t]
        out[t] = WellFrameDetections(d.centroids, d.areas, d.masks, d.cell_types, embeddings=emb[at:at + n])
        at += n
    return out
