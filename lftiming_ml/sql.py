"""Read-only SQL on the outcome tables: the one DuckDB database of all chips.

The database (``data/lftiming.duckdb``, or ``$LFTIMING_DUCKDB``) holds one view per table
over every chip's Parquet file (``lftiming_ml.store.tables.register_views``); the assets refresh
it. ``run_query`` opens it read-only, accepts exactly one SELECT (or EXPLAIN) statement and
passes values as DuckDB named parameters (``$name``), never pasted into the SQL text, and
turns DuckDB's file access off for everything but the folders the database's views read
(``allowed_directories``, then ``enable_external_access = false``: no
``read_csv('/etc/passwd')``, ``glob``, other Parquet files, extensions or ``ATTACH``; the
views over the project's tables still read)::

    run_query(db, "SELECT * FROM well_outcomes WHERE n_effectors >= $n", {"n": 2})

Errors are ``SqlError`` (a ValueError) with a message a person can act on; a missing
database is a FileNotFoundError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb
import pandas as pd

READ_STATEMENTS = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)


class SqlError(ValueError):
    """A query that cannot run: bad SQL, not read-only, wrong parameters."""


def parse_params(pairs: Sequence[str]) -> dict[str, object]:
    """``["name=value", ...]`` -> ``{name: value}``; a value that is a JSON number, true,
    false, null or a "quoted string" is decoded (``n=2`` -> 2, ``id='"007"'`` -> "007"),
    anything else stays text (``chip=demo-s0`` -> "demo-s0")."""
    out: dict[str, object] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise SqlError(f"parameter {pair!r}: expected name=value with a name like min_kills")
        if name in out:
            raise SqlError(f"parameter {name!r} given twice")
        try:
            value = json.loads(raw)
            out[name] = value if value is None or isinstance(value, (int, float, str, bool)) else raw
        except json.JSONDecodeError:
            out[name] = raw
    return out


def _statement(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.Statement:
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as e:
        raise SqlError(f"bad SQL: {e}") from None
    if len(statements) != 1:
        raise SqlError(f"expected exactly one statement, got {len(statements)}")
    statement = statements[0]
    if statement.type not in READ_STATEMENTS:
        raise SqlError(f"the database is read-only here: only SELECT (or EXPLAIN) runs, not "
                       f"{statement.type.name}; outcome tables change only when assets are materialized")
    return statement


def _view_folders(con: duckdb.DuckDBPyConnection) -> list[Path]:
    """The folders the database's views read Parquet files from (``read_parquet('<dir>/*.parquet')``)."""
    sqls = [row[0] for row in con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall()]
    return sorted({Path(m).parent for sql in sqls for m in re.findall(r"read_parquet\('((?:[^']|'')*)'", sql or "")})


def run_query(database: Path | str, sql: str, params: Mapping[str, object] | None = None, *,
              tables_dir: Path | str | None = None) -> pd.DataFrame:
    """The result of one read-only query on ``database`` as a DataFrame.

    params: values of the query's ``$name`` parameters (every one it uses, no others).
    tables_dir: the only folder the query may read files from; default: the folders the
    database's views read (``store.tables.register_views``: one per table).
    """
    database = Path(database)
    if not database.is_file():
        raise FileNotFoundError(f"{database}: no lftiming database yet; materialize a chip's tables first "
                                f"(e.g. lftiming demo) or set LFTIMING_DUCKDB")
    params = dict(params or {})
    try:
        con = duckdb.connect(str(database), read_only=True)
    except duckdb.Error as e:
        raise SqlError(f"{database}: cannot open read-only ({e}); is a pipeline run writing to it?") from None
    with con:
        allowed = [Path(tables_dir)] if tables_dir is not None else _view_folders(con)
        con.execute("SET allowed_directories = ?", [[f"{p.resolve()}/" for p in allowed]])
        con.execute("SET enable_external_access = false")
        statement = _statement(con, sql)
        wanted = set(statement.named_parameters)
        if wanted != set(params):
            missing, extra = sorted(wanted - set(params)), sorted(set(params) - wanted)
            raise SqlError("parameters do not match the query: "
                           + "; ".join(m for m in (f"missing {missing}" if missing else "",
                                                   f"not used {extra}" if extra else "") if m))
        try:
            return con.execute(sql, params or None).fetchdf()
        except duckdb.PermissionException as e:
            raise SqlError(f"refused: queries read only the outcome tables (views), not files: {e}") from None
        except duckdb.Error as e:
            raise SqlError(f"query failed: {e}") from None


def format_result(df: pd.DataFrame, fmt: str = "table", *, max_width: int | None = None,
                  cut_columns: list[str] | None = None) -> str:
    """``df`` as text: 'table' (aligned columns), 'csv' or 'json' (records). ``max_width``
    (tables only): a longer value of ``cut_columns`` (default every column) is cut to that
    many characters, ending in ``...`` (one long value otherwise widens its column for every
    row)."""
    if fmt == "csv":
        return df.to_csv(index=False).rstrip("\n")
    if fmt == "json":
        return df.to_json(orient="records", indent=2, date_format="iso")
    if fmt != "table":
        raise ValueError(f"format must be table, csv or json, not {fmt!r}")
    if df.empty:
        return f"(0 rows; columns: {', '.join(df.columns)})"
    if max_width:
        cut = lambda v: v if len(str(v)) <= max_width else f"{str(v)[:max(max_width - 3, 1)]}..."  # noqa: E731
        df = df.copy()
        for column in cut_columns if cut_columns is not None else df.columns:
            df[column] = df[column].map(cut)
    return df.to_string(index=False)
