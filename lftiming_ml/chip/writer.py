"""Writing raw chips in the contract (used by the simulator and by converters)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from lftiming_ml.chip.manifest import MANIFEST_NAME, ChipManifest


def write_stack(path: Path, stack: np.ndarray, *, pixel_size_um: float) -> None:
    """Write ``stack (uint16[T, H, W])`` as an ImageJ-compatible TIFF with the pixel size."""
    if stack.dtype != np.uint16 or stack.ndim != 3:
        raise ValueError(f"{path}: stack must be uint16[T, H, W], got {stack.dtype}{list(stack.shape)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    res = 1.0 / pixel_size_um
    tifffile.imwrite(
        path, stack, imagej=True, resolution=(res, res),
        metadata={"axes": "TYX", "unit": "um"},
    )


def write_manifest(chip_dir: Path, manifest: ChipManifest) -> Path:
    """Write ``chip.json`` into ``chip_dir`` (which is expected to be a temporary folder)."""
    path = Path(chip_dir) / MANIFEST_NAME
    path.write_text(manifest.model_dump_json(indent=2, exclude_none=True), encoding="utf-8")
    return path
