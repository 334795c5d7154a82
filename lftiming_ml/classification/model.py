"""The CNN-LSTM (paper 2.4) and its frame-level CNN baseline, from one builder.

Per frame a ResNet trunk (weights=None, conv1 widened to four channels: the phase patch
replicated three times + the binary mask) pooled to one vector, projected to
``profile.embed_dim``. ``cnn_lstm`` concatenates the five motion descriptors, runs an LSTM
over the track's frames and maps each output (apoptosis, per frame) or their mean over the
track (cell type, one label per track) through dropout and a fully connected layer to one
logit. ``frame_cnn`` maps each frame's embedding straight to a logit (no motion, no
memory); its track logit is the mean of its frame logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lftiming_ml.classification.config import ClassifierKind, ClassifierProfile
from lftiming_ml.classification.sequences import N_MOTION
from lftiming_ml.models.pooling import fast_max_pools

TRUNK_FEATURES = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}


def _masked_mean(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of ``x (float[B, T, ...])`` over the valid frames ``valid (bool[B, T])``."""
    w = valid.to(x.dtype).reshape(*valid.shape, *([1] * (x.ndim - 2)))
    return (x * w).sum(1) / w.sum(1).clamp_min(1.0)


class CellSequenceClassifier(nn.Module):
    """``forward(phase, mask, motion, valid) -> (frame_logits float[B, T], track_logits float[B])``
    with ``phase (float[B, T, P, P])`` normalised patches, ``mask (float|bool[B, T, P, P])``,
    ``motion (float[B, T, 5])`` and ``valid (bool[B, T])`` (each row a prefix of True)."""

    def __init__(self, *, profile: ClassifierProfile, kind: ClassifierKind) -> None:
        super().__init__()
        self.profile, self.kind = profile, kind
        trunk = getattr(torchvision.models, profile.backbone)(weights=None)
        trunk.conv1 = nn.Conv2d(4, 64, kernel_size=7, stride=2, padding=3, bias=False)
        trunk.fc = nn.Identity()
        stages = [[trunk.conv1, trunk.bn1], [trunk.layer1], [trunk.layer2], [trunk.layer3], [trunk.layer4]]
        for stage in stages[:profile.frozen_stages]:
            for module in stage:
                module.requires_grad_(False)
        self.trunk = trunk
        self.project = nn.Sequential(nn.Linear(TRUNK_FEATURES[profile.backbone], profile.embed_dim), nn.ReLU())
        if kind == "cnn_lstm":
            self.lstm = nn.LSTM(profile.embed_dim + N_MOTION, profile.hidden_dim, num_layers=profile.lstm_layers,
                                batch_first=True, bidirectional=profile.bidirectional)
            out_dim = profile.hidden_dim * (2 if profile.bidirectional else 1)
        elif kind == "frame_cnn":
            self.lstm = None
            out_dim = profile.embed_dim
        else:
            raise ValueError(f"unknown classifier kind {kind!r}; 'cnn_lstm' or 'frame_cnn'")
        self.dropout = nn.Dropout(profile.dropout)
        self.head = nn.Linear(out_dim, 1)

    def embed(self, phase: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``phase, mask (float[N, P, P])`` -> ``float[N, embed_dim]``."""
        x = torch.stack([phase, phase, phase, mask.to(phase.dtype)], dim=1)
        size = self.profile.input_size
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return self.project(self.trunk(x))

    def forward(self, phase: torch.Tensor, mask: torch.Tensor, motion: torch.Tensor, valid: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        b, t = valid.shape
        emb = torch.zeros(b, t, self.profile.embed_dim, dtype=phase.dtype, device=phase.device)
        emb[valid] = self.embed(phase[valid], mask[valid])
        if self.lstm is None:
            frame = self.head(self.dropout(emb)).squeeze(-1)
            return frame, _masked_mean(frame, valid)
        lengths = valid.sum(1).clamp_min(1).cpu()
        packed = pack_padded_sequence(torch.cat([emb, motion], dim=-1), lengths, batch_first=True,
                                      enforce_sorted=False)
        out, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=t)
        frame = self.head(self.dropout(out)).squeeze(-1)
        track = self.head(self.dropout(_masked_mean(out, valid))).squeeze(-1)
        return frame, track


def build_classifier(*, profile: ClassifierProfile, kind: ClassifierKind = "cnn_lstm") -> CellSequenceClassifier:
    """A fresh classifier (trunk built with weights=None; ``profile.frozen_stages`` frozen; the
    trunk's max pooling is ``models.pooling.ChannelsLastMaxPool2d``, same values)."""
    return fast_max_pools(CellSequenceClassifier(profile=profile, kind=kind))


__all__ = ["CellSequenceClassifier", "build_classifier"]
