"""Work units: a stage's outputs for one part of a chip (a field), computed in any process
(this one, a local worker, a Dask worker) and kept on disk until the stage's commit takes
them.

Inside ``unit_staging`` every Zarr group a stage writes through the store (``write_well_masks``,
...) is built in the unit's folder instead of the store, exactly as a commit stages it
(``store.commit``); ``UnitStaging.finish`` then records the unit's result and rows and makes
the unit visible with one rename. Nothing a reader sees changes: the stage's own commit
(``adopt_units``) moves each finished unit's groups into the store together with the
stage's tables, and removes the stage's unit folder, in one journal.

A unit left behind by a killed or failed run is reused by the next run of the stage when its
key is the same (``unit_key``: the stage, its model versions and parameters, and the stamps
of the inputs it read, ``input_stamps``): finished fields are not recomputed, an interrupted
one is redone from scratch (its half-written folder is never read).

Layout, in the chip's work folder (``layout.chip_work_dir``)::

    units/<stage>/<key>/<unit>/unit.json        present once finished: groups staged, result
    units/<stage>/<key>/<unit>/groups/<n>/      staged Zarr groups (moved into the store on commit)
    units/<stage>/<key>/<unit>/rows.parquet     the unit's table rows
    units/<stage>/<key>/.<unit>.<random>/       a unit being written (removed when it fails)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import zarr

from lftiming_ml.store.commit import ChipCommit, staging_context
from lftiming_ml.store.layout import chip_work_dir

UNITS = "units"
UNIT_JSON = "unit.json"
ROWS = "rows.parquet"


def unit_key(parts: Mapping[str, object]) -> str:
    """A short stable hash of what a unit's outputs depend on (JSON-able ``parts``)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def input_stamps(store_path: Path | str, field_id: str, groups: Sequence[str] = ("",)) -> list[list[object]]:
    """Stamps of the inputs a field's unit reads: for every well group of the field and
    each sub-group name in ``groups`` (``""``: the well's movie group, ``"masks"``,
    ``"tracks"``), the path, size and modification time (ns) of its ``zarr.json``, or None
    when absent. A commit replaces a group with a freshly written one, so a re-materialized
    input changes its stamp."""
    field = Path(store_path) / "wells" / field_id
    out: list[list[object]] = []
    for well in sorted(field.glob("r*c*")) if field.is_dir() else []:
        for name in groups:
            meta = (well / name / "zarr.json") if name else (well / "zarr.json")
            try:
                st = meta.stat()
                out.append([f"{well.name}/{name}", st.st_size, st.st_mtime_ns])
            except FileNotFoundError:
                out.append([f"{well.name}/{name}", None])
    return out


def stage_units_dir(store_path: Path | str, stage: str) -> Path:
    """Every unit of ``stage`` of the chip whose store is ``store_path``."""
    return chip_work_dir(Path(store_path)) / UNITS / stage


def unit_dir(store_path: Path | str, stage: str, key: str, unit: str) -> Path:
    return stage_units_dir(store_path, stage) / key / unit


@dataclass(frozen=True)
class UnitOutput:
    """A finished unit: its folder, ``result`` (JSON) and ``rows`` (None when it has none)."""

    path: Path
    result: dict
    rows: pd.DataFrame | None


def finished_unit(store_path: Path | str, stage: str, key: str, unit: str) -> UnitOutput | None:
    """The unit if a run of the stage finished it with this key, else None."""
    path = unit_dir(store_path, stage, key, unit)
    meta = path / UNIT_JSON
    if not meta.is_file():
        return None
    record = json.loads(meta.read_text())
    rows = pd.read_parquet(path / ROWS) if (path / ROWS).is_file() else None
    return UnitOutput(path, record["result"], rows)


def unit_rows(outputs: Sequence[UnitOutput], columns: Mapping[str, str]) -> pd.DataFrame:
    """The units' rows concatenated in order, with ``columns``' dtypes (empty: no rows)."""
    parts = [o.rows for o in outputs if o.rows is not None and len(o.rows)]
    if not parts:
        return pd.DataFrame(columns=list(columns)).astype(columns)
    return pd.concat(parts, ignore_index=True)[list(columns)].astype(columns)


class UnitStaging:
    """Where a unit's writes go while it runs (see the module docstring); made by
    ``unit_staging``. Quacks like a ``ChipCommit`` for ``groups.replace_group``."""

    def __init__(self, store_path: Path, chip_id: str, txdir: Path, final: Path) -> None:
        self.store_path, self.chip_id, self.txdir, self.final = store_path, chip_id, txdir, final
        self.tables_dir = None  # a unit's rows come back through ``finish``, never as table writes
        self.groups: list[list[str]] = []
        self.done = False

    def stage_group(self, target: Path, fill: Callable[[zarr.Group], None]) -> Path:
        target = Path(target)
        n = len(self.groups) + 1
        fill(zarr.open_group(str(self.txdir / "groups" / str(n)), mode="w", zarr_format=3))
        self.groups.append([str(n), target.relative_to(self.store_path).as_posix()])
        return target

    def _refuse(self, *_args, **_kwargs):
        raise RuntimeError(f"{self.final}: a work unit stages Zarr groups and returns rows; it cannot "
                           "replace the store, stage files or remove outputs")

    stage_store = stage_file = remove = _refuse

    def finish(self, result: Mapping[str, object], rows: pd.DataFrame | None = None) -> None:
        """Record the unit's ``result`` and ``rows``, then make it visible (one rename)."""
        if rows is not None:
            rows.to_parquet(self.txdir / ROWS, index=False)
        with open(self.txdir / UNIT_JSON, "w") as f:
            json.dump({"chip_id": self.chip_id, "groups": self.groups, "result": dict(result)}, f)
            f.flush()
            os.fsync(f.fileno())
        if self.final.exists():  # the same unit finished by a concurrent run: keep that one
            shutil.rmtree(self.txdir, ignore_errors=True)
        else:
            os.replace(self.txdir, self.final)
        self.done = True


@contextmanager
def unit_staging(store_path: Path | str, stage: str, key: str, unit: str) -> Iterator[UnitStaging]:
    """Stage the block's Zarr group writes to ``store_path`` as unit ``unit`` of ``stage``;
    the block calls ``finish``. A block that raises, or ends without ``finish``, leaves
    nothing."""
    store_path = Path(store_path)
    final = unit_dir(store_path, stage, key, unit)
    txdir = final.parent / f".{unit}.{uuid.uuid4().hex[:8]}"
    txdir.mkdir(parents=True)
    chip_id = store_path.name.removesuffix(".zarr")
    staging = UnitStaging(store_path, chip_id, txdir, final)
    try:
        with staging_context(staging):
            yield staging
    finally:
        if not staging.done:
            shutil.rmtree(txdir, ignore_errors=True)


def adopt_units(commit: ChipCommit, stage: str, units: Sequence[UnitOutput]) -> None:
    """In ``commit`` (of the units' chip): every group the ``units`` staged replaces its
    target in the store, and the stage's unit folder (these units, stale keys, leftovers of
    killed runs) goes, all when the commit commits."""
    for u in units:
        for n, target in json.loads((u.path / UNIT_JSON).read_text())["groups"]:
            commit.adopt(u.path / "groups" / n, commit.store_path / target)
    commit.remove(stage_units_dir(commit.store_path, stage))


__all__ = ["UnitOutput", "UnitStaging", "adopt_units", "finished_unit", "input_stamps", "stage_units_dir",
           "unit_dir", "unit_key", "unit_rows", "unit_staging"]
