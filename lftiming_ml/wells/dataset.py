"""Training samples for the well detector, cut from simulated chips (``lftiming_ml.corpus``
simulates them: ``WELL_DETECTOR_CORPUS``).

A sample is one phase frame of one field with the ground-truth well *interior* boxes of
that frame (``gt/wells.parquet``: the inside of the PDMS rim, drift included) and an
occupied/empty label per well from ``n_cells > 0`` at that frame. Interior boxes, not rim
boxes, because the lattice fit, the crops and the acceptance metric (centre error against
interior centres) are all about the interior. Frame 0 plus later frames give drift and
defocus variety. Augmentation: the 8 flips/90-degree rotations and intensity jitter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from lftiming_ml.chip import read_manifest, read_stack
from lftiming_ml.truth.files import read_wells
from lftiming_ml.wells.detector import EMPTY, OCCUPIED, field_to_model_boxes, prepare_field
from lftiming_ml.wells.detector_config import DetectorProfile

MIN_VISIBLE_FRACTION = 0.5  # a well cut by the field edge is a target only if this much of it is inside


@dataclass(frozen=True)
class FieldSample:
    """One phase frame and its wells.

    image (uint16[H, W]); boxes (float[n, 4], (y0, x0, y1, x1) interior, field px, clipped to
    the image); occupied (bool[n], n_cells > 0 at ``frame``).
    """

    chip_id: str
    field_id: str
    frame: int
    image: np.ndarray
    boxes: np.ndarray
    occupied: np.ndarray


def visible_wells(boxes: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Clip ``boxes (float[n, 4], (y0, x0, y1, x1))`` to an image of ``shape`` (H, W) px.

    Returns the clipped boxes of wells with at least ``MIN_VISIBLE_FRACTION`` of their area
    inside, and ``keep (bool[n])``. The image spans [-0.5, H - 0.5] (pixel centres at integers).
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    lim = np.array([shape[0], shape[1], shape[0], shape[1]]) - 0.5
    clipped = np.clip(b, -0.5, lim)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    inside = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    keep = inside >= MIN_VISIBLE_FRACTION * np.maximum(area, 1e-9)
    return clipped[keep], keep


def load_field_samples(chip_dir: Path | str, frames: Sequence[int]) -> list[FieldSample]:
    """Every field of a simulated chip at ``frames`` (clipped to the movie, duplicates dropped)."""
    chip_dir = Path(chip_dir)
    manifest = read_manifest(chip_dir)
    wells = read_wells(chip_dir)
    use = sorted({min(max(int(f), 0), manifest.n_frames - 1) for f in frames})
    samples = []
    for fov in manifest.fields:
        stack = read_stack(chip_dir, manifest, fov.field_id, "phase")
        for t in use:
            w = wells[(wells.field_id == fov.field_id) & (wells.frame == t)].sort_values(["row", "col"])
            boxes, keep = visible_wells(w[["y0", "x0", "y1", "x1"]].to_numpy(), stack.shape[1:])
            samples.append(FieldSample(manifest.chip_id, fov.field_id, t, stack[t],
                                       boxes, (w["n_cells"].to_numpy() > 0)[keep]))
    return samples


# --- augmentation (pure functions on model-scale tensors) ---------------------------------

def dihedral(image: torch.Tensor, boxes: torch.Tensor, *, transpose: bool, flip_y: bool, flip_x: bool
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """One of the 8 flips/90-degree rotations of ``image (float[C, h, w])`` and its
    ``boxes (float[n, 4], (x0, y0, x1, y1), pixel centres at integers)``: transpose first, then flips."""
    b = boxes.clone()
    if transpose:
        image = image.transpose(-1, -2)
        b = b[:, [1, 0, 3, 2]]
    h, w = image.shape[-2:]
    if flip_y:
        image = image.flip(-2)
        b[:, [1, 3]] = (h - 1) - b[:, [3, 1]]
    if flip_x:
        image = image.flip(-1)
        b[:, [0, 2]] = (w - 1) - b[:, [2, 0]]
    return image.contiguous(), b


def jitter_intensity(image: torch.Tensor, generator: torch.Generator, *, gain_sd: float, noise_sd: float
                     ) -> torch.Tensor:
    """Random gain (log-normal, sd ``gain_sd``), offset (sd ``gain_sd`` / 2) and Gaussian noise
    (sd uniform in [0, ``noise_sd``]) on a normalised ``image (float[C, h, w])``."""
    r = torch.rand(3, generator=generator)
    gain = float(np.exp(gain_sd * (2 * r[0].item() - 1) * 1.5))
    offset = gain_sd / 2 * (2 * r[1].item() - 1)
    noise = torch.randn(image.shape, generator=generator) * (noise_sd * r[2].item())
    return image * gain + offset + noise


class WellDetectionDataset(Dataset):
    """Field samples as Faster R-CNN inputs: ``(float[3, h, w], {"boxes": float[n, 4]
    (x0, y0, x1, y1) model px, "labels": int64[n] (1 empty, 2 occupied)})``.

    Images are normalised and resampled once, at construction.
    """

    def __init__(self, samples: Sequence[FieldSample], profile: DetectorProfile, *, augment: bool = False,
                 gain_sd: float = 0.15, noise_sd: float = 0.03, seed: int = 0) -> None:
        self.samples = list(samples)
        self.augment, self.gain_sd, self.noise_sd = augment, gain_sd, noise_sd
        self.generator = torch.Generator().manual_seed(seed)
        self.inputs: list[torch.Tensor] = []
        self.targets: list[dict[str, torch.Tensor]] = []
        for s in self.samples:
            x, scale = prepare_field(s.image, profile)
            self.inputs.append(x)
            self.targets.append({
                "boxes": field_to_model_boxes(s.boxes, scale),
                "labels": torch.as_tensor(np.where(s.occupied, OCCUPIED, EMPTY), dtype=torch.int64),
            })

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, target = self.inputs[i], dict(self.targets[i])
        if self.augment:
            t, fy, fx = (torch.rand(3, generator=self.generator) < 0.5).tolist()
            x, target["boxes"] = dihedral(x, target["boxes"], transpose=t, flip_y=fy, flip_x=fx)
            x = jitter_intensity(x, self.generator, gain_sd=self.gain_sd, noise_sd=self.noise_sd)
        return x.expand(3, -1, -1), target


def collate_detection(batch: list) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """Keep images and targets as lists (torchvision detection's input format)."""
    return [b[0] for b in batch], [b[1] for b in batch]
