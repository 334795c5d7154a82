"""``lftiming evaluate``: score every stage of a chip that has both an output and ground truth.

Each section reads the stage's per-chip table (and, where it needs arrays, the chip's Zarr
store) and the chip's ``gt/`` and calls the one metric of ``lftiming_ml.metrics`` for it.
Sections without output or truth are skipped and listed as such, never scored as zero.

A section is ``f(chip_dir, tables_dir, store_path) -> dict | None`` (None: no output yet);
adding a stage's evaluation is one entry in ``SECTIONS``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from lftiming_ml.chip import read_manifest
from lftiming_ml.evaluation.classification import evaluate_classification
from lftiming_ml.evaluation.interactions import evaluate_contacts, evaluate_kinetics
from lftiming_ml.evaluation.segmentation import evaluate_segmentation
from lftiming_ml.evaluation.tracking import evaluate_tracking
from lftiming_ml.metrics.wells import score_wells
from lftiming_ml.store.layout import ChipStore
from lftiming_ml.store.tables import chip_table_path
from lftiming_ml.truth.files import WELLS, gt_path, has_truth, read_wells
from lftiming_ml.wells.config import WellGridParams

WELL_MATCH_UM = 13.0  # a predicted well matches a true one within a quarter of a well


def _wells(chip_dir: Path, tables_dir: Path, store_path: Path) -> dict | None:
    pred_path = chip_table_path(tables_dir, "well_grid", chip_dir.name)
    if not (pred_path.is_file() and has_truth(chip_dir, WELLS)):
        return None
    manifest = read_manifest(chip_dir)
    scores = score_wells(pd.read_parquet(pred_path), read_wells(chip_dir),
                         match_px=WELL_MATCH_UM / manifest.pixel_size_um, um_per_px=manifest.pixel_size_um,
                         canonical_um_per_px=WellGridParams().canonical_um_per_px)
    return scores.as_dict()


Section = Callable[[Path, Path, Path], dict | None]
"""``(chip_dir, tables_dir, store_path) -> metrics | None``; store_path is the chip's Zarr store."""

SECTIONS: dict[str, Section] = {
    "wells": _wells,
    "segmentation": evaluate_segmentation,
    "tracking": evaluate_tracking,
    "classification": evaluate_classification,
    "contacts": evaluate_contacts,
    "kinetics": evaluate_kinetics,
}


def evaluate_chip(store: ChipStore) -> dict[str, dict | str]:
    """Per section: the metrics of chip ``store``, or ``"skipped: ..."`` when output or truth
    is missing. Raises FileNotFoundError when the chip has no ground truth at all."""
    if not has_truth(store.raw_dir):
        raise FileNotFoundError(f"{gt_path(store.raw_dir)}: chip has no ground truth to evaluate against")
    out: dict[str, dict | str] = {}
    for name, section in SECTIONS.items():
        result = section(store.raw_dir, store.tables_dir, store.zarr_path)
        out[name] = result if result is not None else "skipped: no output yet for this chip"
    return out


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return str(value)


def format_report(report: dict[str, dict | str]) -> str:
    """Human-readable lines of ``evaluate_chip``'s result."""
    lines: list[str] = []

    def add(items: dict, indent: str) -> None:
        for key, value in items.items():
            if isinstance(value, dict):
                lines.append(f"{indent}{key}:")
                add(value, indent + "  ")
            else:
                lines.append(f"{indent}{key:<24} {_shown(value)}")

    for name, section in report.items():
        if isinstance(section, str):
            lines.append(f"{name}: {section}")
            continue
        lines.append(f"{name}:")
        add(section, "  ")
    return "\n".join(lines)
