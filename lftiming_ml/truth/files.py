"""The ``gt/`` folder of a simulated (or annotated) chip and its readers.

``<chip>/gt/`` (written by ``lftiming_ml.sim.truth``, whose docstring gives every column)::

    cells.parquet      one row per cell per frame (field px, type, alive, contacts, ...)
    wells.parquet      one row per well per frame (interior box, crop origin, counts)
    contacts.parquet   one row per touching pair per frame
    masks.zarr         <field_id>/r<row>c<col>/{amodal,visible}  bool[T, N, S, S] + attrs cell_ids
    truth.json         simulator config, per-field drift and focus

The raw-chip contract reserves the folder name (``lftiming_ml.chip.reader.GT_DIR``) and the
pipeline never reads it. Every reader raises FileNotFoundError naming the missing file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import zarr

from lftiming_ml.chip.reader import GT_DIR

CELLS = "cells.parquet"
WELLS = "wells.parquet"
CONTACTS = "contacts.parquet"
MASKS = "masks.zarr"
TRUTH_JSON = "truth.json"


def gt_path(chip_dir: Path | str, name: str = "") -> Path:
    """``<chip_dir>/gt`` or one of its files (``CELLS``, ``WELLS``, ...)."""
    path = Path(chip_dir) / GT_DIR
    return path / name if name else path


def has_truth(chip_dir: Path | str, *names: str) -> bool:
    """The chip has a ``gt/`` folder holding each of ``names`` (any of it when none are named)."""
    gt = gt_path(chip_dir)
    return gt.is_dir() and all((gt / n).exists() for n in names)


def _existing(chip_dir: Path | str, name: str) -> Path:
    path = gt_path(chip_dir, name)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no ground truth {name} for this chip")
    return path


def read_cells(chip_dir: Path | str, columns: list[str] | None = None) -> pd.DataFrame:
    """``gt/cells.parquet`` (``columns`` only, if given)."""
    return pd.read_parquet(_existing(chip_dir, CELLS), columns=columns)


def read_wells(chip_dir: Path | str, columns: list[str] | None = None) -> pd.DataFrame:
    """``gt/wells.parquet`` (``columns`` only, if given)."""
    return pd.read_parquet(_existing(chip_dir, WELLS), columns=columns)


def read_contacts(chip_dir: Path | str) -> pd.DataFrame:
    """``gt/contacts.parquet``."""
    return pd.read_parquet(_existing(chip_dir, CONTACTS))


def open_masks(chip_dir: Path | str) -> zarr.Group:
    """The root group of ``gt/masks.zarr`` (read-only); wells are ``<field_id>/r<row>c<col>``."""
    return zarr.open_group(str(_existing(chip_dir, MASKS)), mode="r")


def read_truth_json(chip_dir: Path | str) -> dict:
    """``gt/truth.json``: the simulator config and per-field drift (px) and focus (um)."""
    return json.loads(_existing(chip_dir, TRUTH_JSON).read_text())


__all__ = ["CELLS", "CONTACTS", "MASKS", "TRUTH_JSON", "WELLS", "gt_path", "has_truth", "open_masks", "read_cells",
           "read_contacts", "read_truth_json", "read_wells"]
