"""Per-chip Parquet tables and the one DuckDB database that exposes them across chips.

Layout: ``<tables_dir>/<table>/<chip_id>.parquet`` (``layout.DataLayout.tables_dir``). A
table's DuckDB view reads all chips' files, so re-materializing a chip replaces its file and
never duplicates its rows.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from lftiming_ml.chip.manifest import check_safe_id
from lftiming_ml.io import write_parquet
from lftiming_ml.store.commit import active_commit
from lftiming_ml.store.layout import chip_table_path


def write_chip_table(tables_dir: Path | str, table: str, chip_id: str, df: pd.DataFrame) -> Path:
    """Write one chip's rows of ``table`` atomically; every row must carry ``chip_id``.

    Inside an open commit of the chip's tables (``commit.chip_commit(..., tables_dir=...)``)
    the file is staged and replaces the old one when the commit commits."""
    if "chip_id" not in df.columns or (len(df) and not (df["chip_id"] == chip_id).all()):
        raise ValueError(f"table {table!r}: every row needs chip_id == {chip_id!r}")
    path = chip_table_path(tables_dir, table, chip_id)
    commit = active_commit(tables_dir=tables_dir, chip_id=chip_id)
    if commit is not None:
        return commit.stage_file(path, lambda tmp: df.to_parquet(tmp, index=False))
    return write_parquet(df, path)


def read_chip_table(tables_dir: Path | str, table: str, chip_id: str, columns: list[str] | None = None
                    ) -> pd.DataFrame:
    """One chip's rows of ``table`` (``columns`` only, if given).

    Raises FileNotFoundError naming the file and the table to materialize when it is missing."""
    path = chip_table_path(tables_dir, table, chip_id)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: chip {chip_id} has no {table} table yet; materialize {table} first")
    return pd.read_parquet(path, columns=columns)


def register_views(con: duckdb.DuckDBPyConnection, tables_dir: Path | str) -> list[str]:
    """(Re)create one view per table folder holding Parquet files; returns the view names."""
    tables_dir = Path(tables_dir).resolve()
    names = []
    for folder in sorted(p for p in tables_dir.glob("*") if p.is_dir()):
        if not any(folder.glob("*.parquet")):
            continue
        check_safe_id(folder.name, "table name")
        glob = str(folder / "*.parquet").replace("'", "''")
        con.execute(f"CREATE OR REPLACE VIEW {folder.name} AS SELECT * FROM read_parquet('{glob}', union_by_name=true)")
        names.append(folder.name)
    return names
