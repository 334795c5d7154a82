"""The store's commits (``lftiming_ml.store.commit``) and locks, on tiny stores: staged
outputs are invisible until the commit, an exception discards them, a crash before the
journal leaves the old state and one after it the new state (replayed by the next commit),
and a live writer's temporaries are never removed by another writer."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from lftiming_ml.io import atomic_dir
from lftiming_ml.store import commit as store_commit
from lftiming_ml.store.commit import chip_commit, recover, replace_store
from lftiming_ml.store.groups import ensure_chip_root, replace_group
from lftiming_ml.store.layout import chip_work_dir
from lftiming_ml.store.lock import ChipBusyError, chip_lock
from lftiming_ml.store.tables import chip_table_path, read_chip_table, write_chip_table

CHIP = "c1"


def _fill(value: int):
    return lambda g: g.create_array("a", data=np.full((2, 2), value, np.uint8)) and g.attrs.update({"v": value})


def _value(group_dir: Path) -> int:
    return int(zarr.open_group(str(group_dir), mode="r")["a"][0, 0])


def _rows(value: int) -> pd.DataFrame:
    return pd.DataFrame({"chip_id": [CHIP] * 3, "v": [value] * 3})


def _old_state(tmp_path: Path) -> tuple[Path, Path]:
    store, tables = tmp_path / "zarr" / f"{CHIP}.zarr", tmp_path / "tables"
    ensure_chip_root(store, CHIP, "wells", "f000")
    replace_group(store, store / "wells" / "f000" / "r0c0", _fill(1))
    write_chip_table(tables, "t", CHIP, _rows(1))
    return store, tables


def _leftovers(tmp_path: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
                  if ".tx-" in p.name or ".tmp-" in p.name or p.name == "tx" and any(p.iterdir()))


def test_commit_applies_zarr_and_tables_together(tmp_path: Path) -> None:
    store, tables = _old_state(tmp_path)
    with chip_commit(store, chip_id=CHIP, tables_dir=tables):
        replace_group(store, store / "wells" / "f000" / "r0c0", _fill(2))
        write_chip_table(tables, "t", CHIP, _rows(2))
        assert _value(store / "wells" / "f000" / "r0c0") == 1  # staged: not visible yet
        assert read_chip_table(tables, "t", CHIP)["v"].tolist() == [1, 1, 1]
    assert _value(store / "wells" / "f000" / "r0c0") == 2
    assert read_chip_table(tables, "t", CHIP)["v"].tolist() == [2, 2, 2]
    assert _leftovers(tmp_path) == []


def test_exception_discards_everything(tmp_path: Path) -> None:
    store, tables = _old_state(tmp_path)
    with pytest.raises(RuntimeError, match="stage failed"):
        with chip_commit(store, chip_id=CHIP, tables_dir=tables):
            replace_group(store, store / "wells" / "f000" / "r0c0", _fill(2))
            write_chip_table(tables, "t", CHIP, _rows(2))
            raise RuntimeError("stage failed")
    assert _value(store / "wells" / "f000" / "r0c0") == 1
    assert read_chip_table(tables, "t", CHIP)["v"].tolist() == [1, 1, 1]
    assert _leftovers(tmp_path) == [] and not list((chip_work_dir(store) / "tx").iterdir())


def _crash_in_commit(store: Path, tables: Path, after_ops: int | None) -> None:
    """Child process: stage new outputs, then die (os._exit) before the journal
    (``after_ops`` None) or after applying ``after_ops`` of the journal's renames."""
    real_replace = os.replace
    count = {"n": 0, "in_apply": False}

    def counting_replace(src, dst):
        if count["in_apply"]:
            if count["n"] == after_ops:
                os._exit(9)
            count["n"] += 1
        return real_replace(src, dst)

    def apply(ops, trash):
        count["in_apply"] = True
        return real_apply(ops, trash)

    real_apply = store_commit._apply
    store_commit._apply = apply
    store_commit.os.replace = counting_replace
    if after_ops is None:
        store_commit.ChipCommit.commit = lambda self: os._exit(9)
    with chip_commit(store, chip_id=CHIP, tables_dir=tables):
        replace_group(store, store / "wells" / "f000" / "r0c0", _fill(2))
        write_chip_table(tables, "t", CHIP, _rows(2))
        write_chip_table(tables, "u", CHIP, _rows(2))


@pytest.mark.parametrize("after_ops", [None, 0, 1, 2])
def test_crash_leaves_old_or_new_state_and_next_commit_cleans(tmp_path: Path, after_ops: int | None) -> None:
    store, tables = _old_state(tmp_path)
    child = mp.get_context("fork").Process(target=_crash_in_commit, args=(store, tables, after_ops))
    child.start()
    child.join()
    assert child.exitcode == 9
    assert list((chip_work_dir(store) / "tx").iterdir())  # the crash left its staging
    journal = any((d / "journal.json").exists() for d in (chip_work_dir(store) / "tx").iterdir())
    assert journal == (after_ops is not None)
    recover(store)  # what the next commit of the chip does first (under its lock)
    new = after_ops is not None  # committed once the journal exists, however far it got
    assert _value(store / "wells" / "f000" / "r0c0") == (2 if new else 1)
    assert read_chip_table(tables, "t", CHIP)["v"].tolist() == [2 if new else 1] * 3
    assert chip_table_path(tables, "u", CHIP).exists() == new
    assert _leftovers(tmp_path) == []


def test_replace_store_keeps_later_stages_groups_of_wells_still_there(tmp_path: Path) -> None:
    store, _ = _old_state(tmp_path)
    replace_group(store, store / "wells" / "f000" / "r0c0" / "masks", _fill(5))
    with replace_store(store, CHIP) as new:
        ensure_chip_root(new, CHIP, "wells", "f000")
        replace_group(new, new / "wells" / "f000" / "r0c0", _fill(3))
        replace_group(new, new / "wells" / "f000" / "r0c1", _fill(4))
    assert _value(store / "wells" / "f000" / "r0c0") == 3
    assert _value(store / "wells" / "f000" / "r0c0" / "masks") == 5  # carried over
    assert _value(store / "wells" / "f000" / "r0c1") == 4
    assert _leftovers(tmp_path) == []


def _hold(lock: Path, seconds: float) -> None:
    with chip_lock(lock, CHIP, what="a test holder"):
        time.sleep(seconds)


def test_lock_refuses_or_waits_naming_the_holder(tmp_path: Path) -> None:
    lock = tmp_path / "run.lock"
    child = mp.get_context("fork").Process(target=_hold, args=(lock, 3.0))
    child.start()
    deadline = time.time() + 10
    while not (lock.exists() and json.loads(lock.read_text() or "{}").get("pid") == child.pid) and time.time() < deadline:
        time.sleep(0.05)
    with pytest.raises(ChipBusyError, match=rf"chip {CHIP} is in use by a test holder \(pid {child.pid}"):
        with chip_lock(lock, CHIP, what="me", timeout_s=0):
            pass
    waited = []
    with chip_lock(lock, CHIP, what="me", timeout_s=30, on_wait=waited.append):
        assert not child.is_alive() or child.join(0) is None
    assert waited and "a test holder" in waited[0]
    child.join()


def _killed_holder(lock: Path) -> None:
    with chip_lock(lock, CHIP, what="doomed"):
        os.kill(os.getpid(), 9)


def test_lock_of_a_killed_process_is_free(tmp_path: Path) -> None:
    lock = tmp_path / "write.lock"
    child = mp.get_context("fork").Process(target=_killed_holder, args=(lock,))
    child.start()
    child.join()
    assert child.exitcode == -9
    with chip_lock(lock, CHIP, what="next", timeout_s=0):
        pass


def test_atomic_dir_never_removes_a_live_writers_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_dir(target) as first:
        (first / "a").write_text("first")
        with atomic_dir(target, overwrite=True) as second:  # a second writer starts meanwhile
            (second / "b").write_text("second")
        assert first.is_dir() and (first / "a").read_text() == "first"  # untouched
    assert (target / "a").read_text() == "first"  # last rename wins, no error
    dead = tmp_path / ".out.tmp-999999999-abcd1234"
    dead.mkdir()  # a temporary of a writer that died (no such pid)
    with atomic_dir(target, overwrite=True):
        pass
    assert not dead.exists()
