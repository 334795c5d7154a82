"""benchmarks/dagster_backfill.py, its pure parts: the table checksum ignores row order and
sees a changed value, the comparison names the column that differs, and the scratch
project's dagster.yaml changes only max_concurrent_runs. Starts no Dagster service."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import dagster_backfill  # noqa: E402


def _table() -> pd.DataFrame:
    return pd.DataFrame({"well": ["r0c0", "r0c1", "r1c0"], "frame": [0, 1, 2], "area": [10.5, 11.0, 9.25]})


def test_checksum_ignores_row_order_and_sees_a_changed_value() -> None:
    df = _table()
    shuffled = df.iloc[[2, 0, 1]].reset_index(drop=True)
    assert dagster_backfill.frame_sha256(shuffled) == dagster_backfill.frame_sha256(df)
    changed = df.copy()
    changed.loc[1, "area"] = 11.000001
    assert dagster_backfill.frame_sha256(changed) != dagster_backfill.frame_sha256(df)
    doubled = pd.concat([df, df], ignore_index=True)
    assert dagster_backfill.frame_sha256(doubled) != dagster_backfill.frame_sha256(df)


def test_compare_names_the_differing_column(tmp_path: Path) -> None:
    for project, area in (("a", 10.5), ("b", 10.75)):
        df = _table()
        df.loc[0, "area"] = area
        (tmp_path / project / "tables" / "cells").mkdir(parents=True)
        df.to_parquet(tmp_path / project / "tables" / "cells" / "c1.parquet")
    digests = {p: {"c1": dagster_backfill.chip_tables(tmp_path / p, "c1")} for p in ("a", "b")}
    assert digests["a"]["c1"]["cells"]["rows"] == 3
    same = dagster_backfill.compare(tmp_path / "a", tmp_path / "a", ["c1"], digests["a"], digests["a"])
    assert same["equal"] and same["tables_compared"] == 1
    differ = dagster_backfill.compare(tmp_path / "a", tmp_path / "b", ["c1"], digests["a"], digests["b"])
    assert not differ["equal"]
    assert differ["chips_differing"]["c1"]["cells"] == {"rows": (3, 3), "columns": ["area"]}


def test_instance_yaml_changes_only_max_concurrent_runs() -> None:
    repo = yaml.safe_load((dagster_backfill.ROOT / "dagster.yaml").read_text())
    one = yaml.safe_load(dagster_backfill.instance_yaml(1))
    assert one["run_coordinator"]["config"]["max_concurrent_runs"] == 1
    one["run_coordinator"]["config"]["max_concurrent_runs"] = repo["run_coordinator"]["config"]["max_concurrent_runs"]
    assert one == repo
