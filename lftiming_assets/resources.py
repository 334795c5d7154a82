"""Typed resources: where data lives, the Zarr stores, the chip tables (Parquet + DuckDB
views), MLflow for training and the model registry for inference.

Every location defaults under the project's ``data/`` folder and can be moved with an
environment variable (``LFTIMING_DATA``, ``LFTIMING_DUCKDB``, ``MLFLOW_TRACKING_URI``).
Assets read and write tables only through ``ChipTables`` and load models only through
``ModelRegistry``, so tests hand them fakes or temporary folders.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource
from pydantic import Field, PrivateAttr

from lftiming_ml.classification.config import ClassifierTask
from lftiming_ml.classification.serving import MODEL_NAMES as CLASSIFIER_NAMES
from lftiming_ml.classification.serving import build_classifier_fn
from lftiming_ml.models.registry import ModelVersionInfo, resolve_alias
from lftiming_ml.segmentation.config import SegmenterKind
from lftiming_ml.segmentation.serving import MODEL_NAMES as SEGMENTER_NAMES
from lftiming_ml.segmentation.serving import build_segment_fn
from lftiming_ml.models.sources import ModelSource, RegisteredModel
from lftiming_ml.reid.config import MODEL_NAME as REID_NAME
from lftiming_ml.reid.model import reid_from_registry
from lftiming_ml.store.commit import ChipCommit, active_commit, chip_commit
from lftiming_ml.store.layout import DataLayout, zarr_store_path
from lftiming_ml.store.tables import chip_table_path, read_chip_table, register_views, write_chip_table
from lftiming_ml.wells.grid import DetectFn
from lftiming_ml.wells.serving import load_detector
from lftiming_ml.workers import DASK_SCHEDULER_ENV, WorkerPool, default_workers


def default_data_dir() -> str:
    return os.environ.get("LFTIMING_DATA", str(Path.cwd() / "data"))


class LftimingStorage(dg.ConfigurableResource):
    """The data folder (``lftiming_ml.store.layout.DataLayout``): ``raw/`` chips in,
    ``tables/``, ``zarr/``, ``reports/`` out, ``training/`` corpora."""

    data_dir: str

    @property
    def layout(self) -> DataLayout:
        return DataLayout(Path(self.data_dir))

    @property
    def root(self) -> Path:
        return self.layout.root

    @property
    def raw_dir(self) -> Path:
        return self.layout.raw_dir

    def chip_dir(self, chip_id: str) -> Path:
        return self.layout.chip(chip_id).raw_dir

    def training_dir(self, family: str) -> Path:
        """The cached simulated corpus of a model family (``wells``, ``segmentation``, ``classification``)."""
        return self.layout.training_dir(family)

    def reports_dir(self, chip_id: str) -> Path:
        path = self.layout.chip(chip_id).reports_dir
        path.mkdir(parents=True, exist_ok=True)
        return path


class ZarrStore(dg.ConfigurableResource):
    """One Zarr v3 store per chip under ``root`` (``<root>/<chip_id>.zarr``)."""

    root: str

    def chip_store_path(self, chip_id: str) -> Path:
        return zarr_store_path(self.root, chip_id)


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


class ChipTables(dg.ConfigurableResource):
    """Per-chip Parquet tables under ``tables_dir`` (one file per table and chip) and the
    DuckDB views that read every chip's file of a table. ``write`` replaces a chip's rows of
    one or more tables in one commit (``lftiming_ml.store.commit``), then refreshes the
    views once; ``commit`` makes a whole step's tables and Zarr groups one commit."""

    tables_dir: str
    duckdb: DuckDBResource
    zarr_dir: str = Field(default="", description="The chips' Zarr stores (default: zarr/ beside tables_dir); "
                                                  "a chip's lock and staging live beside its store.")

    def path(self, table: str, chip_id: str) -> Path:
        """Where ``table``'s rows of ``chip_id`` live."""
        return chip_table_path(self.tables_dir, table, chip_id)

    def store_path(self, chip_id: str) -> Path:
        """The chip's Zarr store (its commits' lock and staging are beside it)."""
        return zarr_store_path(self.zarr_dir or Path(self.tables_dir).parent / "zarr", chip_id)

    def read(self, table: str, chip_id: str, columns: list[str] | None = None) -> pd.DataFrame:
        """The chip's rows of ``table`` (FileNotFoundError naming the file if not written yet)."""
        return read_chip_table(self.tables_dir, table, chip_id, columns)

    @contextmanager
    def commit(self, chip_id: str, what: str = "a pipeline step") -> Iterator[ChipCommit]:
        """One commit of the chip's outputs for the block: every table written with ``write``
        and every Zarr group or store written by the library inside it appears at once when
        the block ends, or not at all if it raises or the process dies; then the views are
        refreshed. Holds the chip's write lock (a second writer of the chip waits)."""
        with chip_commit(self.store_path(chip_id), chip_id=chip_id, tables_dir=self.tables_dir, what=what) as commit:
            yield commit
        self.refresh_views()

    def write(self, chip_id: str, tables: Mapping[str, pd.DataFrame]) -> list[str]:
        """Write each table's rows of ``chip_id`` (every row carrying ``chip_id``) in one
        commit, then refresh the views once; returns the view names. Inside ``commit`` the
        rows join that commit (the views are refreshed when it ends)."""
        inside = active_commit(tables_dir=self.tables_dir, chip_id=chip_id) is not None
        with chip_commit(self.store_path(chip_id), chip_id=chip_id, tables_dir=self.tables_dir,
                         what="a table write"):
            for name, df in tables.items():
                write_chip_table(self.tables_dir, name, chip_id, df)
        return list(tables) if inside else self.refresh_views()

    def refresh_views(self) -> list[str]:
        """Expose every table folder holding Parquet files as a DuckDB view; returns the names."""
        Path(self.duckdb.database).parent.mkdir(parents=True, exist_ok=True)
        with self.duckdb.get_connection() as con:
            return register_views(con, self.tables_dir)


class ModelRegistry(dg.ConfigurableResource):
    """Registered models (MLflow) for inference. Each loader resolves ``alias`` (the version
    the pipeline uses, ``champion`` by default), builds the model once and returns it ready
    to run with the ``ModelVersionInfo`` it loaded."""

    tracking_uri: str
    alias: str = "champion"

    def resolve(self, model_name: str) -> ModelVersionInfo:
        """The version ``alias`` points at (``ModelNotRegisteredError`` if none)."""
        return resolve_alias(tracking_uri=self.tracking_uri, model_name=model_name, alias=self.alias)

    def well_detector(self) -> tuple[DetectFn, ModelVersionInfo]:
        """Reference frames -> well detections (``well_detector``)."""
        return load_detector(tracking_uri=self.tracking_uri, alias=self.alias)

    def segmenter(self, kind: SegmenterKind = "locsnet") -> tuple[ModelSource, ModelVersionInfo]:
        """Phase crops -> amodal instances (``locsnet`` or ``mask_rcnn_baseline``): the version
        as a source each worker process builds once (``models.sources.RegisteredModel``)."""
        info = self.resolve(SEGMENTER_NAMES[kind])
        return RegisteredModel(self.tracking_uri, info.name, info.version, build_segment_fn), info

    def reid(self) -> tuple[ModelSource, ModelVersionInfo]:
        """The tracker's re-identification embedding (``reid_embedding``), as a source each
        worker process builds once."""
        info = self.resolve(REID_NAME)
        return RegisteredModel(self.tracking_uri, info.name, info.version, reid_from_registry), info

    def classifier(self, task: ClassifierTask) -> tuple[ModelSource, ModelVersionInfo]:
        """The CNN-LSTM of ``task`` (``celltype_classifier`` or ``apoptosis_classifier``), as a
        source each worker process builds once."""
        info = self.resolve(CLASSIFIER_NAMES[(task, "cnn_lstm")])
        return RegisteredModel(self.tracking_uri, info.name, info.version, build_classifier_fn), info


class FieldWorkers(dg.ConfigurableResource):
    """Where the per-field work units of the chip stages run (``lftiming_ml.workers``): local
    worker processes, started on first use and kept for the run, or a Dask cluster."""

    workers: int = Field(default=0, ge=0, description=(
        "Local worker processes for per-field units (0: $LFTIMING_WORKERS, else one per core, at most one per 3 GB "
        "of memory; 1: in the run's own process). Each has cores / workers torch threads and builds each model once."))
    dask_scheduler: str = Field(default="", description=(
        "Address of a Dask scheduler (tcp://host:8786) to send units to instead (default: $LFTIMING_DASK_SCHEDULER); "
        "its workers must see the same data folder and model registry. Needs the 'dask' extra."))
    _pool: WorkerPool | None = PrivateAttr(default=None)

    def pool(self) -> WorkerPool:
        """The run's pool (its processes start when a stage first has two units to run)."""
        if self._pool is None:
            self._pool = WorkerPool(workers=self.workers or default_workers(),
                                    dask_scheduler=self.dask_scheduler or os.environ.get(DASK_SCHEDULER_ENV) or None)
        return self._pool

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def build_resources(data_dir: str | None = None) -> dict[str, object]:
    """The resources wired into ``Definitions`` (or into tests, with a temporary ``data_dir``)."""
    layout = DataLayout(Path(data_dir or default_data_dir()))
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{(layout.mlflow_dir / 'mlflow.db').resolve()}")
    duckdb = DuckDBResource(database=os.environ.get("LFTIMING_DUCKDB", str(layout.duckdb_path)))
    return {
        "storage": LftimingStorage(data_dir=str(layout.root)),
        "zarr_store": ZarrStore(root=str(layout.zarr_dir)),
        "duckdb": duckdb,
        "tables": ChipTables(tables_dir=str(layout.tables_dir), duckdb=duckdb, zarr_dir=str(layout.zarr_dir)),
        "mlflow": MLflowTracking(tracking_uri=tracking_uri, artifact_root=str(layout.mlflow_dir / "artifacts")),
        "registry": ModelRegistry(tracking_uri=tracking_uri),
        "workers": FieldWorkers(),
    }


__all__ = ["ChipTables", "FieldWorkers", "LftimingStorage", "MLflowTracking", "ModelRegistry", "ZarrStore",
           "build_resources"]
