"""``lftiming sql``: read-only, one statement, parameters bound (never pasted), clear errors."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from lftiming_assets.cli import main
from lftiming_ml.sql import SqlError, format_result, parse_params, run_query
from lftiming_ml.store.tables import register_views, write_chip_table


@pytest.fixture
def db(tmp_path: Path) -> Path:
    for chip, kills in (("chip-a", [0, 2, 1]), ("chip-b", [3])):
        df = pd.DataFrame({"chip_id": chip, "effector_id": range(len(kills)), "n_kills": kills})
        write_chip_table(tmp_path / "tables", "effector_kinetics", chip, df)
    path = tmp_path / "lftiming.duckdb"
    with duckdb.connect(str(path)) as con:
        register_views(con, tmp_path / "tables")
    return path


def test_query_sees_views_of_all_chips(db: Path) -> None:
    out = run_query(db, "SELECT chip_id, sum(n_kills) AS kills FROM effector_kinetics GROUP BY chip_id ORDER BY 1")
    assert out.to_dict(orient="list") == {"chip_id": ["chip-a", "chip-b"], "kills": [3, 3]}


def test_parameters_are_bound_not_pasted(db: Path) -> None:
    q = "SELECT effector_id FROM effector_kinetics WHERE chip_id = $chip AND n_kills >= $n ORDER BY 1"
    assert run_query(db, q, {"chip": "chip-a", "n": 1})["effector_id"].tolist() == [1, 2]
    assert run_query(db, q, {"chip": "chip-a' OR '1'='1", "n": 0}).empty
    with pytest.raises(SqlError, match=r"missing \['n'\]"):
        run_query(db, q, {"chip": "chip-a"})
    with pytest.raises(SqlError, match=r"not used \['x'\]"):
        run_query(db, q, {"chip": "chip-a", "n": 1, "x": 2})


@pytest.mark.parametrize("sql", [
    "CREATE TABLE t AS SELECT 1",
    "DROP VIEW effector_kinetics",
    "INSERT INTO effector_kinetics VALUES ('c', 1, 1)",
    "COPY (SELECT 1) TO '{out}'",
    "ATTACH '{out}' AS other",
    "SELECT 1; DROP VIEW effector_kinetics",
])
def test_writes_are_refused(db: Path, sql: str) -> None:
    out = db.parent / "written.csv"
    with pytest.raises(SqlError, match="read-only|one statement"):
        run_query(db, sql.format(out=out))
    assert not out.exists()
    assert len(run_query(db, "SELECT * FROM effector_kinetics")) == 4


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM read_csv('{secret}')",
    "SELECT * FROM read_csv('{tables}/../secret.csv')",
    "SELECT * FROM read_parquet('{other}')",
])
def test_files_outside_the_tables_cannot_be_read(db: Path, sql: str) -> None:
    (db.parent / "secret.csv").write_text("password\nhunter2\n")
    other = db.parent / "elsewhere" / "t.parquet"
    other.parent.mkdir()
    pd.DataFrame({"x": [1]}).to_parquet(other)
    query = sql.format(secret=db.parent / "secret.csv", tables=db.parent / "tables", other=other)
    with pytest.raises(SqlError, match="refused: queries read only the outcome tables"):
        run_query(db, query)
    assert len(run_query(db, "SELECT * FROM effector_kinetics")) == 4  # the views still read their files


def test_install_and_load_are_refused(db: Path) -> None:
    for sql in ("INSTALL httpfs", "LOAD httpfs"):
        with pytest.raises(SqlError, match="read-only|refused"):
            run_query(db, sql)


def test_bad_sql_and_missing_database(db: Path, tmp_path: Path) -> None:
    with pytest.raises(SqlError, match="bad SQL"):
        run_query(db, "SELEKT 1")
    with pytest.raises(SqlError, match="query failed.*no_such_table"):
        run_query(db, "SELECT * FROM no_such_table")
    with pytest.raises(FileNotFoundError, match="no lftiming database"):
        run_query(tmp_path / "absent.duckdb", "SELECT 1")


def test_parse_params() -> None:
    assert parse_params(["n=2", "f=0.5", "ok=true", "chip=demo-s0", 'id="007"', "s=a=b"]) == {
        "n": 2, "f": 0.5, "ok": True, "chip": "demo-s0", "id": "007", "s": "a=b"}
    with pytest.raises(SqlError):
        parse_params(["novalue"])
    with pytest.raises(SqlError):
        parse_params(["n=1", "n=2"])


def test_cli(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["sql", "SELECT effector_id, n_kills FROM effector_kinetics WHERE n_kills > $n ORDER BY 1",
               "--param", "n=1", "--db", str(db), "--csv"])
    assert rc == 0 and capsys.readouterr().out.splitlines() == ["effector_id,n_kills", "0,3", "1,2"]
    assert main(["sql", "DELETE FROM effector_kinetics", "--db", str(db)]) == 2
    assert "read-only" in capsys.readouterr().err
    assert main(["sql", "SELECT 1", "--db", str(db.parent / "nope.duckdb")]) == 2
    assert "no lftiming database" in capsys.readouterr().err
    assert format_result(pd.DataFrame({"a": []}), "table") == "(0 rows; columns: a)"


def test_table_cuts_long_values_only_when_asked() -> None:
    df = pd.DataFrame({"name": ["chips", "lr"], "v1": ["s" * 200, 0.001]})
    cut = format_result(df, "table", max_width=20)
    assert "s" * 17 + "..." in cut and "s" * 18 not in cut
    assert "0.001" in cut and max(len(line) for line in cut.splitlines()) < 40
    assert "s" * 200 in format_result(df, "table")
    assert "s" * 200 in format_result(df, "csv", max_width=20)  # only the aligned table is cut
    named = pd.DataFrame({"name": ["n" * 30], "v1": ["s" * 200]})
    assert "n" * 30 in format_result(named, "table", max_width=20, cut_columns=["v1"])
