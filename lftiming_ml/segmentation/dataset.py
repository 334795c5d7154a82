"""Torch dataset of segmentation samples: input preparation, augmentation and targets.

Targets follow torchvision's Mask R-CNN: ``boxes (float32[N, 4], (x0, y0, x1, y1) continuous
model px, end exclusive)``, ``labels (int64[N], 1 = cell)``, ``masks (uint8[N, h, w])``
amodal. The overlap and complement targets are derived from ``masks`` inside the model
(``losses.overlap_complement_targets``), so one dataset serves LOCSNET and Mask R-CNN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from lftiming_ml.segmentation.config import SegmenterProfile
from lftiming_ml.segmentation.data import SegmentationSample
from lftiming_ml.segmentation.infer import prepare_crop, to_network_input
from lftiming_ml.segmentation.postprocess import boxes_from_masks


def masks_to_model_scale(masks: np.ndarray, shape: tuple[int, int]) -> torch.Tensor:
    """``masks (bool[N, H, W])`` -> ``bool[N, h, w]`` (area-weighted resampling, >= 0.5)."""
    m = torch.from_numpy(np.ascontiguousarray(masks)).bool()
    if tuple(m.shape[-2:]) == tuple(shape):
        return m
    if m.shape[0] == 0:
        return torch.zeros((0, *shape), dtype=torch.bool)
    up = F.interpolate(m[:, None].float(), size=shape, mode="bilinear", align_corners=False, antialias=True)
    return up[:, 0] >= 0.5


def make_target(masks: torch.Tensor) -> dict[str, torch.Tensor]:
    """``masks (bool[N, h, w])`` -> torchvision target dict (empty masks dropped)."""
    masks = masks[masks.flatten(1).any(1)] if masks.shape[0] else masks
    return {"boxes": boxes_from_masks(masks), "labels": torch.ones(masks.shape[0], dtype=torch.int64),
            "masks": masks.to(torch.uint8)}


class SegmentationDataset(Dataset):
    """``SegmentationSample``s -> (``float32[3, h, w]`` network input, target dict).

    With ``augment``: a random 90-degree rotation and flip (image and masks together), a
    random gain (log-normal, sd ``gain_sd``) and offset (sd ``gain_sd``) on the normalised
    image, and Gaussian noise with sd uniform in [0, ``noise_sd``].
    """

    def __init__(self, samples: Sequence[SegmentationSample], profile: SegmenterProfile, *, augment: bool = False,
                 gain_sd: float = 0.15, noise_sd: float = 0.03, seed: int = 0) -> None:
        self.samples, self.profile, self.augment = list(samples), profile, augment
        self.gain_sd, self.noise_sd, self.seed = gain_sd, noise_sd, seed
        self._epoch_rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        s = self.samples[i]
        x = prepare_crop(s.image, self.profile)
        masks = masks_to_model_scale(s.masks, tuple(x.shape[-2:]))
        if self.augment:
            rng = self._epoch_rng
            k, flip = int(rng.integers(4)), bool(rng.integers(2))
            x, masks = torch.rot90(x, k, (-2, -1)), torch.rot90(masks, k, (-2, -1))
            if flip:
                x, masks = x.flip(-1), masks.flip(-1)
            gain = float(np.exp(rng.normal(0, self.gain_sd)))
            x = x * gain + float(rng.normal(0, self.gain_sd))
            x = x + torch.from_numpy(rng.normal(0, rng.uniform(0, self.noise_sd), x.shape).astype(np.float32))
        return to_network_input(x.contiguous()), make_target(masks.contiguous())


def reseed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: give each worker's copy of a ``SegmentationDataset`` its
    own augmentation stream (from the loader's per-epoch, per-worker seed), else every worker
    would draw the same rotations and noise."""
    info = torch.utils.data.get_worker_info()
    info.dataset._epoch_rng = np.random.default_rng(info.seed)


def collate_segmentation(batch):
    """Lists of images and targets (torchvision detection models take lists)."""
    images, targets = zip(*batch)
    return list(images), list(targets)
