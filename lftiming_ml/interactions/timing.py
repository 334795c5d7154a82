"""What the interaction stage needs from a chip's ``chip.json``: pixel size, frame interval
and frame count (``ChipTiming``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lftiming_ml.chip import read_manifest


@dataclass(frozen=True)
class ChipTiming:
    """What the interaction stage needs from ``chip.json``."""

    chip_id: str
    pixel_size_um: float
    frame_interval_min: float
    n_frames: int


def chip_timing(chip_dir: Path | str) -> ChipTiming:
    """Pixel size, frame interval and frame count from ``chip.json`` (validated)."""
    m = read_manifest(chip_dir)
    return ChipTiming(m.chip_id, m.pixel_size_um, m.frame_interval_min, m.n_frames)


__all__ = ["ChipTiming", "chip_timing"]
