"""Typed resources: where data lives, the Zarr stores, DuckDB and MLflow.

Every location defaults under the project's ``data/`` folder and can be moved with an
environment variable (``LFTIMING_DATA``, ``LFTIMING_DUCKDB``, ``MLFLOW_TRACKING_URI``).
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from lftiming_ml.chip.manifest import check_safe_id
from lftiming_ml.store.tables import register_views


def default_data_dir() -> str:
    return os.environ.get("LFTIMING_DATA", str(Path.cwd() / "data"))


class LftimingStorage(dg.ConfigurableResource):
    """The data folder: ``raw/`` chips in, ``tables/``, ``zarr/`` and ``reports/`` out."""

    data_dir: str

    @property
    def root(self) -> Path:
        return Path(self.data_dir)

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def tables_dir(self) -> Path:
        return self.root / "tables"

    def chip_dir(self, chip_id: str) -> Path:
        return self.raw_dir / check_safe_id(chip_id, "chip id")

    def reports_dir(self, chip_id: str) -> Path:
        path = self.root / "reports" / check_safe_id(chip_id, "chip id")
        path.mkdir(parents=True, exist_ok=True)
        return path


class ZarrStore(dg.ConfigurableResource):
    """One Zarr v3 store per chip under ``root`` (``<root>/<chip_id>.zarr``)."""

    root: str

    def chip_store_path(self, chip_id: str) -> Path:
        return Path(self.root) / f"{check_safe_id(chip_id, 'chip id')}.zarr"

    def open_chip(self, chip_id: str, mode: str = "a"):
        """The chip's root ``zarr.Group`` (created on first write)."""
        import zarr

        path = self.chip_store_path(chip_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        return zarr.open_group(str(path), mode=mode, zarr_format=3)


class MLflowTracking(dg.ConfigurableResource):
    """MLflow tracking with a sqlite backend and a local artifact folder by default."""

    tracking_uri: str
    artifact_root: str

    def artifact_location(self) -> str:
        """The artifact folder as a file URI (where runs of new experiments store files)."""
        Path(self.artifact_root).mkdir(parents=True, exist_ok=True)
        return Path(self.artifact_root).resolve().as_uri()

    def configure(self, experiment: str) -> str:
        """Point mlflow at this store and make sure ``experiment`` exists; returns its id."""
        import mlflow

        Path(self.artifact_root).mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(self.tracking_uri)
        found = mlflow.get_experiment_by_name(experiment)
        if found is not None:
            exp_id = found.experiment_id
        else:
            exp_id = mlflow.create_experiment(experiment, artifact_location=Path(self.artifact_root).resolve().as_uri())
        mlflow.set_experiment(experiment_id=exp_id)
        return exp_id


def refresh_views(duckdb_resource: DuckDBResource, storage: LftimingStorage) -> list[str]:
    """Expose every per-chip Parquet table as a DuckDB view; returns the view names."""
    Path(duckdb_resource.database).parent.mkdir(parents=True, exist_ok=True)
    with duckdb_resource.get_connection() as con:
        return register_views(con, storage.tables_dir)


def build_resources(data_dir: str | None = None) -> dict[str, object]:
    """The resources wired into ``Definitions`` (or into tests, with a temporary ``data_dir``)."""
    data = Path(data_dir or default_data_dir())
    mlflow_dir = data / "mlflow"
    return {
        "storage": LftimingStorage(data_dir=str(data)),
        "zarr_store": ZarrStore(root=str(data / "zarr")),
        "duckdb": DuckDBResource(database=os.environ.get("LFTIMING_DUCKDB", str(data / "lftiming.duckdb"))),
        "mlflow": MLflowTracking(
            tracking_uri=os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{(mlflow_dir / 'mlflow.db').resolve()}"),
            artifact_root=str(mlflow_dir / "artifacts"),
        ),
    }


__all__ = ["LftimingStorage", "ZarrStore", "MLflowTracking", "build_resources", "refresh_views"]
