"""The re-identification network, its input and rebuilding it from the registry.

Input per cell (``stack_inputs``): the normalised phase patch centred on the centroid
(``classification.data.normalise_phase``, the classifiers' normalisation), cut out at the
cell's mask dilated by ``mask_dilation_px`` (so a touching neighbour stays out), and the
mask, as two channels of ``patch_size`` px.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import binary_dilation
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from lftiming_ml.models.pooling import ChannelsLastMaxPool2d
from lftiming_ml.reid.config import MODEL_NAME, ReidProfile


class ReidNet(nn.Module):
    """Small CNN: ``float[B, 2, P, P]`` patches -> ``float[B, D]`` L2-normalised embeddings.
    (Its max pooling is ``models.pooling.ChannelsLastMaxPool2d``: ``nn.MaxPool2d``'s values.)"""

    def __init__(self, profile: ReidProfile) -> None:
        super().__init__()
        self.profile = profile
        widths = [2, *profile.channels]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), ChannelsLastMaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1], profile.embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.features(x).mean((2, 3))), dim=1)


def stack_inputs(phase: np.ndarray, masks: np.ndarray, profile: ReidProfile) -> np.ndarray:
    """``float32[n, 2, P, P]`` network input from phase (``float[n, P, P]``, normalised) and
    mask (``bool[n, P, P]``) patches: the phase (outside the dilated mask scaled by
    ``outside_weight``) and the mask channel (times ``mask_weight``)."""
    phase = np.asarray(phase, np.float32)
    masks = np.asarray(masks, bool)
    if profile.outside_weight < 1:
        keep = masks
        if profile.mask_dilation_px:
            keep = binary_dilation(masks, structure=np.ones((1, 3, 3), bool), iterations=profile.mask_dilation_px)
        phase = np.where(keep, phase, phase * np.float32(profile.outside_weight))
    return np.stack([phase, masks.astype(np.float32) * profile.mask_weight], axis=1)


@torch.no_grad()
def embed_inputs(net: nn.Module, x: np.ndarray, device: torch.device, batch: int = 2048,
                 dim: int | None = None) -> np.ndarray:
    """``float32[n, D]`` embeddings of ``x (float32[n, 2, P, P])`` (``stack_inputs``), in
    batches of ``batch`` on ``device`` (where ``net`` is: a ``ReidNet`` or its
    ``inference_net``; ``dim`` is D, needed for an empty ``x`` when ``net`` has no profile)."""
    out = [net(torch.from_numpy(x[i:i + batch]).to(device)).cpu().numpy() for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros((0, dim or net.profile.embedding_dim), np.float32)


class _InferenceReid(nn.Module):
    """``ReidNet`` for inference only: each convolution fused with its batch norm
    (``torch.nn.utils.fusion.fuse_conv_bn_eval``: the same function up to float rounding),
    weights and activations channels-last (plain ``nn.MaxPool2d`` is vectorised there), the
    convolutions in ``dtype`` autocast; pooling, head and normalisation in float32."""

    def __init__(self, net: ReidNet, dtype: torch.dtype) -> None:
        super().__init__()
        layers, mods = [], list(net.features)
        for i, m in enumerate(mods):
            if isinstance(m, nn.BatchNorm2d):
                continue
            if isinstance(m, nn.Conv2d) and i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm2d):
                m = fuse_conv_bn_eval(m, mods[i + 1])
            elif isinstance(m, nn.MaxPool2d):
                m = nn.MaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation, ceil_mode=m.ceil_mode)
            layers.append(m)
        self.features = nn.Sequential(*layers).to(memory_format=torch.channels_last)
        self.head = copy.deepcopy(net.head)
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        if self.dtype == torch.float32:
            f = self.features(x)
        else:
            with torch.autocast(x.device.type, dtype=self.dtype):
                f = self.features(x)
        return F.normalize(self.head(f.float().mean((2, 3))), dim=1)


def inference_net(net: ReidNet, dtype: torch.dtype = torch.float32) -> nn.Module:
    """``net``'s inference form (``_InferenceReid``) for ``dtype`` on ``net``'s device, built
    on first use and kept with ``net`` until its weights change (a tensor's version counter
    moves with every in-place write: an optimizer step, ``load_state_dict``)."""
    cache = net.__dict__.setdefault("_inference_forms", {})
    device = next(net.parameters()).device
    weights = tuple(t._version for t in net.state_dict().values())
    key = (str(device), dtype)
    if key not in cache or cache[key][0] != weights:
        cache[key] = (weights, _InferenceReid(net.eval(), dtype).to(device).eval())
    return cache[key][1]


def reid_from_registry(state_dict: Mapping[str, torch.Tensor], config: Mapping[str, object]) -> ReidNet:
    """Rebuild a logged ``ReidNet`` (eval mode, CPU) from its ``config.registry_config`` and weights."""
    if config.get("kind") != MODEL_NAME:
        raise ValueError(f"registered config is a {config.get('kind')!r}, not a {MODEL_NAME!r}")
    net = ReidNet(ReidProfile.model_validate(config["profile"]))
    net.load_state_dict(dict(state_dict))
    return net.eval()
