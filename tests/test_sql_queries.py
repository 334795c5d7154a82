"""Every ```sql block of the README's queries section runs against a database of two small
simulated chips' outcome tables and returns rows with the expected columns."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from lftiming_ml.interactions.kinetics import killing_frequency
from lftiming_ml.interactions.outcomes import VERSION_COLUMNS, unstamp
from lftiming_ml.sql import parse_params, run_query
from lftiming_ml.store.tables import register_views
from tests.interactions.pipeline_chip import build_pipeline_chip, write_outcome_tables

README = Path(__file__).resolve().parents[1] / "README.md"
EXPECTED_COLUMNS = [
    ["et_group", "chips", "wells", "wells_with_kill", "frequency", "ci_low", "ci_high"],
    ["chip_id", "serial_killers", "median_t_death_min_serial", "median_t_death_min_single"],
    ["chip_id", "field_id", "row", "col", "et_group", "queue_rank", "score", "reasons"],
    ["et_group", "interactions", "kills", "median_t_seek_min", "median_t_contact_min", "median_t_death_min"],
    ["chip_id", "et_group", "time_min", "survival", "ci_low", "ci_high"],
    ["chip_id", "field_id", "row", "col", "effector_id", "n_kills", "speed_um_min", "t_seek_min"],
    ["chip_id", "segmenter_version", "reid_version", "celltype_version", "apoptosis_version", "interactions",
     "kills"],
]


def readme_queries() -> list[tuple[str, dict[str, object]]]:
    """(sql, params) of every ```sql block between the queries markers of README.md."""
    text = README.read_text()
    section = text[text.index("<!-- queries:start -->"):text.index("<!-- queries:end -->")]
    out = []
    for block in re.findall(r"```sql\n(.*?)```", section, flags=re.S):
        found = re.search(r"^-- params:(.*)$", block, flags=re.M)
        out.append((block, parse_params(found.group(1).split()) if found else {}))
    return out


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, pd.DataFrame]]]:
    root = tmp_path_factory.mktemp("sqldb")
    tables = [write_outcome_tables(build_pipeline_chip(root, f"ix-s{seed}", seed=seed)) for seed in (7, 8)]
    db = root / "lftiming.duckdb"
    with duckdb.connect(str(db)) as con:
        register_views(con, root / "tables")
    return db, tables


def test_readme_has_the_queries() -> None:
    queries = readme_queries()
    assert len(queries) == len(EXPECTED_COLUMNS) >= 5


@pytest.mark.parametrize("index", range(len(EXPECTED_COLUMNS)))
def test_readme_query_runs(database: tuple[Path, list], index: int) -> None:
    sql, params = readme_queries()[index]
    result = run_query(database[0], sql, params)
    assert list(result.columns) == EXPECTED_COLUMNS[index]
    assert len(result) > 0


def test_killing_frequency_query_matches_library(database: tuple[Path, list]) -> None:
    db, tables = database
    sql, params = readme_queries()[0]
    by_sql = run_query(db, sql, params).set_index("et_group")
    wells = pd.concat([unstamp(t["well_outcomes"]) for t in tables], ignore_index=True)
    lib = killing_frequency(wells).set_index("et_group").drop(index="all")
    assert sorted(by_sql.index) == sorted(lib.index)
    assert (by_sql["chips"] <= 2).all() and by_sql["wells"].sum() == lib["n"].sum()
    for column in ("frequency", "ci_low", "ci_high"):
        assert by_sql[column].to_numpy() == pytest.approx(lib.loc[by_sql.index, column].to_numpy(), abs=1e-3)


def documented_columns() -> dict[str, set[str]]:
    """docs/tables.md: table (a ``### name`` heading) -> column names of its table rows."""
    out: dict[str, set[str]] = {}
    table = None
    for line in (README.parent / "docs" / "tables.md").read_text().splitlines():
        heading = re.match(r"^### (\w+)", line)
        if heading:
            table = heading.group(1)
            out[table] = set()
        elif table and line.startswith("| ") and not line.startswith("| column"):
            out[table] |= {c.strip() for c in line.split("|")[1].split(",")}
    return out


def test_docs_list_every_column(database: tuple[Path, list]) -> None:
    db, tables = database
    docs = documented_columns()
    shared = set(VERSION_COLUMNS)  # documented once, above the sections
    header = (README.parent / "docs" / "tables.md").read_text().split("\n## ")[0]
    for column in VERSION_COLUMNS:
        assert f"| {column} | int64 |" in header, column
    inputs = {t: pd.read_parquet(db.parent / "tables" / t / "ix-s7.parquet")
              for t in ("cell_tracks", "cell_types", "cell_deaths")}
    for name, df in tables[0].items():
        assert name in docs, f"docs/tables.md has no section for {name}"
        assert list(df.columns[-len(VERSION_COLUMNS):]) == VERSION_COLUMNS, name
        assert set(df.columns) - shared == docs[name], name
    for name, df in inputs.items():  # an input's own version columns (cell_tracks.reid_version) are its own
        assert name in docs, f"docs/tables.md has no section for {name}"
        assert set(df.columns) == docs[name], name
