"""Training and evaluation samples: well crops of simulated chips with their amodal masks,
and bring-your-own annotations (an image + an instance label image, tiled into crops).

A sample is one well at one frame: ``image (uint16[S, S])`` phase crop and ``masks
(bool[N, S, S])`` amodal instance masks of the N cells present (N may be 0), in the same
crop px (0.65 um/px for simulated chips). Simulated crops are ``crop_size`` px squares
centred on the ground-truth well box (``gt/wells.parquet`` crop_y0/crop_x0/crop_size), cut
from the field with real surroundings (walls), edge-padded where they leave the field: the
same framing as the per-well movies. ``meta`` carries what strata and reports need.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lftiming_ml.chip.manifest import ChannelRole
from lftiming_ml.chip.reader import read_manifest, read_stack
from lftiming_ml.corpus import CorpusConfig
from lftiming_ml.segmentation.config import CorpusSampling
from lftiming_ml.truth.files import open_masks, read_wells
from lftiming_ml.truth.strata import well_strata


@dataclass
class SegmentationSample:
    """One crop: ``image (uint16[S, S])``, ``masks (bool[N, S, S])`` amodal, ``meta`` (chip,
    field_id, row, col, frame, n_cells, stratum, contact_rich, ... for simulated wells)."""

    image: np.ndarray
    masks: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.image.ndim != 2 or self.masks.ndim != 3 or self.masks.shape[1:] != self.image.shape:
            raise ValueError(f"image {self.image.shape} and masks {self.masks.shape} do not describe one crop")


def crop_with_padding(image: np.ndarray, y0: int, x0: int, size: int) -> np.ndarray:
    """``image[y0:y0+size, x0:x0+size]`` of ``image (T?, H, W)`` (last two axes), edge-padded
    where the window leaves the image."""
    h, w = image.shape[-2:]
    ya, xa = max(y0, 0), max(x0, 0)
    yb, xb = min(y0 + size, h), min(x0 + size, w)
    part = image[..., ya:yb, xa:xb]
    pad = [(0, 0)] * (image.ndim - 2) + [(ya - y0, y0 + size - yb), (xa - x0, x0 + size - xb)]
    return np.pad(part, pad, mode="edge") if any(p for pair in pad for p in pair) else part.copy()


def load_chip_samples(chip_dir: Path | str, *, crop_size: int = 96, frames: Iterable[int] | None = None,
                      keep_empty: float = 1.0, seed: int = 0) -> list[SegmentationSample]:
    """All well-frame samples of a simulated chip (``frames`` None = every frame).

    Cell-free well-frames are kept with probability ``keep_empty`` (deterministic by seed).
    """
    chip_dir = Path(chip_dir)
    manifest = read_manifest(chip_dir)
    wells = read_wells(chip_dir)
    if frames is not None:
        wells = wells[wells["frame"].isin(list(frames))]
    strata = well_strata(chip_dir)
    root = open_masks(chip_dir)
    rng = np.random.default_rng(seed)
    samples: list[SegmentationSample] = []
    for field_id, fw in wells.groupby("field_id", sort=True):
        phase = read_stack(chip_dir, manifest, str(field_id), ChannelRole.phase)
        for (row, col), ww in fw.groupby(["row", "col"], sort=True):
            group = root[f"{field_id}/r{row}c{col}"]
            amodal = np.asarray(group["amodal"][:]) if "amodal" in group else None
            info = strata.loc[(field_id, row, col)]
            for rec in ww.sort_values("frame").itertuples(index=False):
                s = int(rec.crop_size)
                off = (crop_size - s) // 2
                oy, ox = int(rec.crop_y0) - off, int(rec.crop_x0) - off
                masks = np.zeros((0, crop_size, crop_size), bool)
                if amodal is not None:
                    present = amodal[rec.frame].reshape(amodal.shape[1], -1).any(1)
                    canvas = np.zeros((int(present.sum()), crop_size, crop_size), bool)
                    # place the s x s truth crop at offset `off` (clipped if crop_size < s)
                    a, b = max(off, 0), max(-off, 0)
                    n = min(s - b, crop_size - a)
                    canvas[:, a:a + n, a:a + n] = amodal[rec.frame][present][:, b:b + n, b:b + n]
                    masks = canvas[canvas.reshape(len(canvas), -1).any(1)]
                if len(masks) == 0 and rng.random() >= keep_empty:
                    continue
                samples.append(SegmentationSample(
                    image=crop_with_padding(phase[rec.frame], oy, ox, crop_size), masks=masks,
                    meta={"chip": chip_dir.name, "field_id": str(field_id), "row": int(row), "col": int(col),
                          "frame": int(rec.frame), "n_cells": int(rec.n_cells),
                          "n_effectors": int(rec.n_effectors), "n_targets": int(rec.n_targets),
                          "loaded_effectors": int(info["loaded_effectors"]),
                          "loaded_targets": int(info["loaded_targets"]),
                          "stratum": str(info["stratum"]), "contact_rich": bool(info["contact_rich"]),
                          "crop_origin": (oy, ox)}))
    return samples


# --- bring-your-own annotations -------------------------------------------------------------

def tile_origins(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of ``tile``-long windows covering ``length`` with at least ``overlap``
    shared px between neighbours; the last window ends at ``length``."""
    if length <= tile:
        return [0]
    step = max(tile - overlap, 1)
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def samples_from_label_image(image: np.ndarray, labels: np.ndarray, *, crop_size: int = 96, overlap: int = 16,
                             min_pixels: int = 10, source: str = "") -> list[SegmentationSample]:
    """Tile an annotated image into ``crop_size`` samples.

    ``image (uint16|float[H, W])`` phase, ``labels (int[H, W])`` instance ids (0 = background).
    A label image cannot hold overlaps, so these instances never overlap (overlap targets
    are empty and the complement equals the whole mask). Instances with fewer than
    ``min_pixels`` px inside a tile are left out of that tile (cells cut by the tile edge
    still count when larger). Images smaller than a tile are edge-padded (labels with 0).
    Float images are scaled to uint16 by their max (phase contrast is positive).
    """
    if image.shape != labels.shape or image.ndim != 2:
        raise ValueError(f"image {image.shape} and labels {labels.shape} must be the same 2-D shape")
    img = np.asarray(image)
    if img.dtype != np.uint16:
        f = img.astype(np.float64)
        f = f - min(f.min(), 0.0)
        img = np.round(f / max(f.max(), 1e-12) * 60000).astype(np.uint16)
    h, w = img.shape
    out = []
    for y0 in tile_origins(h, crop_size, overlap):
        for x0 in tile_origins(w, crop_size, overlap):
            tile_img = crop_with_padding(img, y0, x0, crop_size)
            tile_lab = np.zeros((crop_size, crop_size), labels.dtype)
            part = labels[y0:y0 + crop_size, x0:x0 + crop_size]
            tile_lab[:part.shape[0], :part.shape[1]] = part
            ids, counts = np.unique(tile_lab[tile_lab > 0], return_counts=True)
            ids = ids[counts >= min_pixels]
            masks = tile_lab[None] == ids[:, None, None] if len(ids) else np.zeros((0, crop_size, crop_size), bool)
            out.append(SegmentationSample(image=tile_img, masks=masks,
                                          meta={"source": source, "tile_origin": (y0, x0), "n_cells": len(ids)}))
    return out


def read_annotated_pair(image_path: Path | str, label_path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """Read an image (TIFF or PNG; the first plane, channels averaged) and its instance label
    image (PNG/TIFF; an RGB label image is turned into ids by unique colour)."""
    import tifffile
    from PIL import Image

    def _read(p: Path) -> np.ndarray:
        return tifffile.imread(p) if p.suffix.lower() in (".tif", ".tiff") else np.asarray(Image.open(p))

    img, lab = _read(Path(image_path)), _read(Path(label_path))
    if img.ndim == 3:  # multi-page stack (T|C, H, W) -> first plane; colour (H, W, 3|4) -> mean
        img = img.mean(-1) if img.shape[-1] in (3, 4) else img[0]
    if lab.ndim == 3:
        flat = lab[..., :3].reshape(-1, 3)
        _, ids = np.unique(flat, axis=0, return_inverse=True)
        background = np.all(flat == 0, axis=1)
        ids = ids.reshape(-1) + 1
        ids[background] = 0
        lab = ids.reshape(lab.shape[:2])
    return img, lab.astype(np.int32)


def load_annotated_sets(set_dirs: Sequence[Path | str], *, image_name: str = "raw.tif", label_name: str = "labeled.png",
                        crop_size: int = 96, overlap: int = 16) -> list[SegmentationSample]:
    """Samples from annotated folders each holding ``image_name`` and ``label_name`` (the
    Usiigaci layout: ``set<k>/raw.tif`` + ``set<k>/labeled.png``)."""
    out: list[SegmentationSample] = []
    for d in map(Path, set_dirs):
        img, lab = read_annotated_pair(d / image_name, d / label_name)
        out.extend(samples_from_label_image(img, lab, crop_size=crop_size, overlap=overlap, source=d.name))
    return out


# --- simulated corpus (``lftiming_ml.corpus`` simulates and splits it) ---------------------

def load_corpus_samples(corpus: CorpusConfig, chip_dirs: Sequence[Path | str], *,
                        sampling: CorpusSampling = CorpusSampling(), seed: int = 0) -> list[SegmentationSample]:
    """Samples of ``chip_dirs`` (chips of ``corpus``) at every ``sampling.frame_step``-th
    frame, ``sampling.crop_size`` crops."""
    frames = range(0, corpus.n_frames, sampling.frame_step)
    return [s for i, d in enumerate(chip_dirs) for s in load_chip_samples(
        d, crop_size=sampling.crop_size, frames=frames, keep_empty=sampling.keep_empty, seed=seed + i)]
