"""Where a chip's data lives: the one place that knows the data folder's layout.

::

    <data>/raw/<chip_id>/            the raw chip (input contract: ``lftiming_ml.chip``);
                                     ``gt/`` beside it on simulated or annotated chips
                                     (read only by ``lftiming_ml.truth``)
    <data>/zarr/<chip_id>.zarr       per-well movies, masks and tracks (``store.movies``,
                                     ``store.masks``, ``store.tracks``)
    <data>/tables/<table>/<chip_id>.parquet
                                     per-chip tables (``store.tables``), views of all chips
                                     in ``<data>/lftiming.duckdb``
    <data>/reports/<chip_id>/        plots and previews
    <data>/annotations/<chip_id>/    curated labels per well, versioned (``lftiming_ml.annotations``):
                                     records/<sha256>/ (immutable), versions/<sha256>.json,
                                     current.json
    <data>/exports/<chip_id>/<format>/
                                     wells exported for editing (``lftiming export``)
    <data>/training/<model family>/  simulated training corpora (cached)
    <data>/mlflow/                   the model registry (sqlite + artifacts)

``ChipStore`` names one chip's places; ``DataLayout`` the folder's. Chip ids are checked to
be safe path components before any path is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lftiming_ml.chip.manifest import check_safe_id

DUCKDB_NAME = "lftiming.duckdb"


def zarr_store_path(zarr_dir: Path | str, chip_id: str) -> Path:
    """The chip's Zarr store, ``<zarr_dir>/<chip_id>.zarr``."""
    return Path(zarr_dir) / f"{check_safe_id(chip_id, 'chip id')}.zarr"


@dataclass(frozen=True)
class ChipStore:
    """One chip's places: ``raw_dir`` (input), ``zarr_path`` (arrays), ``tables_dir``
    (all chips' tables; this chip's rows are ``table_path(table)``), ``reports_dir``,
    ``annotations_dir`` (curated labels; ``annotations_root`` is set by ``DataLayout.chip``)."""

    chip_id: str
    raw_dir: Path
    zarr_path: Path
    tables_dir: Path
    reports_root: Path
    annotations_root: Path | None = None

    def __post_init__(self) -> None:
        check_safe_id(self.chip_id, "chip id")

    def table_path(self, table: str) -> Path:
        """Where this chip's rows of ``table`` live."""
        from lftiming_ml.store.tables import chip_table_path

        return chip_table_path(self.tables_dir, table, self.chip_id)

    @property
    def reports_dir(self) -> Path:
        return self.reports_root / self.chip_id

    @property
    def annotations_dir(self) -> Path:
        """The chip's annotations store, ``<data>/annotations/<chip_id>``."""
        if self.annotations_root is None:
            raise ValueError(f"chip {self.chip_id}: this ChipStore has no annotations_root (build it with "
                             "DataLayout.chip)")
        return self.annotations_root / self.chip_id


@dataclass(frozen=True)
class DataLayout:
    """The data folder (``LFTIMING_DATA``, default ``<project>/data``)."""

    root: Path

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def zarr_dir(self) -> Path:
        return self.root / "zarr"

    @property
    def tables_dir(self) -> Path:
        return self.root / "tables"

    @property
    def reports_root(self) -> Path:
        return self.root / "reports"

    @property
    def annotations_root(self) -> Path:
        return self.root / "annotations"

    @property
    def duckdb_path(self) -> Path:
        return self.root / DUCKDB_NAME

    @property
    def mlflow_dir(self) -> Path:
        return self.root / "mlflow"

    def export_dir(self, chip_id: str, fmt: str) -> Path:
        """Where ``lftiming export`` writes a chip's wells in ``fmt`` (``ctc``, ``napari``) by default."""
        return self.root / "exports" / check_safe_id(chip_id, "chip id") / check_safe_id(fmt, "export format")

    def training_dir(self, family: str) -> Path:
        """Cache of a model family's simulated training corpus (``wells``, ``segmentation``, ...)."""
        return self.root / "training" / check_safe_id(family, "model family")

    def chip(self, chip_id: str) -> ChipStore:
        """The places of chip ``chip_id`` (ValueError if the id is not a safe name)."""
        check_safe_id(chip_id, "chip id")
        return ChipStore(chip_id=chip_id, raw_dir=self.raw_dir / chip_id, zarr_path=zarr_store_path(self.zarr_dir, chip_id),
                         tables_dir=self.tables_dir, reports_root=self.reports_root,
                         annotations_root=self.annotations_root)


__all__ = ["DUCKDB_NAME", "ChipStore", "DataLayout", "zarr_store_path"]
