"""Crash-safe commits of a chip's outputs: after a crash at any point each asset holds its
old complete outputs or its new complete outputs, Zarr groups and tables together.

A commit (``chip_commit``) holds the chip's write lock (``store.lock``) and gathers what a
stage writes: every ``write_well_movie`` / ``write_well_masks`` / ``write_well_track_masks``
(Zarr groups), ``replace_store`` (a whole new store), ``write_chip_table`` and
``stage_file`` (reports) made inside the block is built under a staging name, nothing
visible changes. When the block ends normally the commit writes its journal (the list of
renames that put every staged output in place) with one atomic rename, then applies it.
When the block raises, the staged outputs are deleted and nothing changed.

The journal is the commit point: a crash before it is written leaves the old outputs (the
staging is removed by the next commit of the chip); a crash after it leaves the new ones,
because the next commit of the chip first replays every journal it finds (each rename is
skipped when already done) and then removes every leftover staging folder. Readers that
open a chip while a journal is being applied (milliseconds) may see part of it.

Layout, in the chip's work folder (``layout.chip_work_dir``, ``.<chip_id>.work`` beside the
store)::

    write.lock                the write lock (``store.lock.chip_lock``)
    tx/<id>/staged.txt        staged files outside tx/<id>/ (tables, reports), one path a line
    tx/<id>/groups/<n>/       staged Zarr groups; tx/<id>/store/ a staged whole store
    tx/<id>/journal.json      present once committed: the renames, in order
    tx/<id>/trash/            what the renames displaced (deleted with tx/<id>/)

Tables and reports are staged beside their target (``.<name>.tx-<id>``) so each rename stays
in one folder. (Local filesystems; protects against crashed processes, not power loss.)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import zarr

from lftiming_ml.store.layout import chip_work_dir
from lftiming_ml.store.lock import chip_lock

JOURNAL = "journal.json"
STAGED_LIST = "staged.txt"
WRITE_LOCK = "write.lock"
LOCK_TIMEOUT_ENV = "LFTIMING_LOCK_TIMEOUT_S"
"""Seconds a writer waits for a chip another process is writing (default: for ever)."""

log = logging.getLogger(__name__)
_open: ContextVar[tuple[ChipCommit, ...]] = ContextVar("lftiming_open_commits", default=())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


class ChipCommit:
    """The outputs one commit of a chip stages (see the module docstring); made by
    ``chip_commit``. ``store_path``: the chip's Zarr store; ``tables_dir``: where its tables
    live (None: this commit writes no tables)."""

    def __init__(self, store_path: Path, chip_id: str, tables_dir: Path | None, txdir: Path) -> None:
        self.store_path, self.chip_id, self.tables_dir, self.txdir = store_path, chip_id, tables_dir, txdir
        self.ops: list[list[str]] = []
        self._n = 0

    def _record_staged(self, path: Path) -> None:
        with open(self.txdir / STAGED_LIST, "a") as f:
            f.write(f"{path}\n")

    def _sibling(self, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f".{target.name}.tx-{self.txdir.name}")
        self._record_staged(staged)
        return staged

    def stage_group(self, target: Path, fill: Callable[[zarr.Group], None]) -> Path:
        """Build a Zarr group with ``fill``; on commit it replaces ``target`` (inside the store)."""
        target = Path(target)
        self._n += 1
        staged = self.txdir / "groups" / str(self._n)
        fill(zarr.open_group(str(staged), mode="w", zarr_format=3))
        self.ops.append(["replace", str(staged), str(target)])
        return target

    def stage_store(self) -> Path:
        """An empty folder to build a whole new store in; on commit it replaces the chip's
        store. For every well present in both, the sub-groups the new well lacks (the masks
        and tracks of later stages) move over from the old store, so later assets keep their
        outputs until they are re-run."""
        staged = self.txdir / "store"
        if staged.exists():
            raise ValueError(f"{self.store_path}: one commit replaces the store once")
        staged.mkdir(parents=True)
        self.ops.append(["store", str(staged), str(self.store_path)])
        return staged

    def stage_file(self, target: Path | str, write: Callable[[Path], None]) -> Path:
        """``write(path)`` writes the new content of ``target``; on commit it replaces it."""
        target = Path(target)
        staged = self._sibling(target)
        write(staged)
        self.ops.append(["replace", str(staged), str(target)])
        return target

    def adopt(self, src: Path | str, target: Path | str) -> Path:
        """A group already built in the chip's work folder (a work unit's, ``store.units``)
        replaces ``target`` on commit."""
        self.ops.append(["replace", str(src), str(target)])
        return Path(target)

    def remove(self, path: Path | str) -> None:
        """On commit, ``path`` (a file or folder) goes too."""
        self._n += 1
        self.ops.append(["park", str(path), str(self.txdir / "trash" / f"removed-{self._n}")])

    def _expanded(self) -> list[list[str]]:
        """The ops with each whole-store replacement spelled out as renames."""
        out: list[list[str]] = []
        for kind, src, dst in self.ops:
            if kind != "store":
                out.append([kind, src, dst])
                continue
            old, new = Path(dst), Path(src)
            parked = self.txdir / "trash" / "old-store"
            out.append(["park", str(old), str(parked)])
            for well in sorted(old.glob("wells/*/*")):
                staged_well = new / well.relative_to(old)
                if not (staged_well / "zarr.json").is_file():
                    continue
                for child in sorted(well.iterdir()):
                    if (child / "zarr.json").is_file() and not (staged_well / child.name).exists():
                        out.append(["replace", str(parked / child.relative_to(old)), str(staged_well / child.name)])
            out.append(["replace", str(new), str(old)])
        return out

    def commit(self) -> None:
        """Write the journal (the commit point), apply it, remove the staging."""
        journal = self.txdir / JOURNAL
        tmp = self.txdir / f"{JOURNAL}.tmp"
        with open(tmp, "w") as f:
            json.dump({"chip_id": self.chip_id, "ops": self._expanded()}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, journal)
        _fsync_dir(self.txdir)
        replay(self.txdir)

    def discard(self) -> None:
        """Remove everything staged; nothing visible changed."""
        discard(self.txdir)


def _apply(ops: list[list[str]], trash: Path) -> None:
    """Apply a journal's renames in order; each one is skipped when already done, so a
    journal interrupted anywhere can be applied again."""
    for i, (kind, src, dst) in enumerate(ops):
        src_p, dst_p = Path(src), Path(dst)
        if kind == "park":
            if (src_p.exists() or src_p.is_symlink()) and not dst_p.exists():
                dst_p.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src_p, dst_p)
        elif kind == "replace":
            if not src_p.exists():
                continue  # done
            if dst_p.is_dir() and not dst_p.is_symlink():
                trash.mkdir(parents=True, exist_ok=True)
                os.replace(dst_p, trash / f"replaced-{i}-{uuid.uuid4().hex[:6]}")
            os.replace(src_p, dst_p)
        else:
            raise ValueError(f"unknown journal op {kind!r}")


def replay(txdir: Path) -> None:
    """Finish a committed transaction folder (its journal applied, then removed)."""
    journal = txdir / JOURNAL
    ops = json.loads(journal.read_text())["ops"]
    _apply(ops, txdir / "trash")
    journal.unlink()
    _fsync_dir(txdir)
    discard(txdir)


def discard(txdir: Path) -> None:
    """Remove a transaction folder that was not committed, and the files it staged outside it."""
    listed = txdir / STAGED_LIST
    if listed.is_file():
        for line in listed.read_text().splitlines():
            if line.strip():
                _remove(Path(line.strip()))
    shutil.rmtree(txdir, ignore_errors=True)


def recover(store_path: Path | str) -> list[str]:
    """Under the chip's write lock: replay every committed journal of the chip, remove every
    uncommitted staging (and the staging folder of older versions beside the store). Returns
    what was done, one line each."""
    store_path = Path(store_path)
    done = []
    tx_root = chip_work_dir(store_path) / "tx"
    for txdir in sorted(tx_root.glob("*")) if tx_root.is_dir() else []:
        if (txdir / JOURNAL).is_file():
            replay(txdir)
            done.append(f"finished the interrupted commit {txdir.name}")
        else:
            discard(txdir)
            done.append(f"removed the uncommitted outputs {txdir.name}")
    legacy = store_path.parent / f".{store_path.name}.staging"
    if legacy.is_dir():
        shutil.rmtree(legacy, ignore_errors=True)
        done.append(f"removed {legacy.name}")
    return done


def active_commit(store_path: Path | str | None = None, *, tables_dir: Path | str | None = None,
                  chip_id: str | None = None) -> ChipCommit | None:
    """The commit open in this context for the store ``store_path``, or for the tables of
    ``chip_id`` under ``tables_dir``; None when writes go straight to their place."""
    want_store = Path(store_path).resolve() if store_path is not None else None
    want_tables = Path(tables_dir).resolve() if tables_dir is not None else None
    for c in reversed(_open.get()):
        if want_store is not None and c.store_path is not None and c.store_path.resolve() == want_store:
            return c
        if (want_tables is not None and c.tables_dir is not None and c.chip_id == chip_id
                and c.tables_dir.resolve() == want_tables):
            return c
    return None


def in_staging(path: Path | str) -> bool:
    """Whether ``path`` lies in the staging of a commit open in this context (a store being
    built by ``replace_store``: private, written in place)."""
    path = Path(path).resolve()
    return any(path.is_relative_to(c.txdir.resolve()) for c in _open.get())


@contextmanager
def staging_context(staging: object) -> Iterator[None]:
    """Make ``staging`` (an object with ``store_path``, ``tables_dir``, ``chip_id``, ``txdir``
    and ``stage_group``, e.g. a work unit's ``store.units.UnitStaging``) where this context's
    writes to its store are staged, like an open commit, for the block."""
    token = _open.set((*_open.get(), staging))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _open.reset(token)


class _StoreBuild:
    """A store that a commit open in another process is building (``building_store``)."""

    store_path = tables_dir = chip_id = None

    def __init__(self, txdir: Path) -> None:
        self.txdir = txdir


@contextmanager
def building_store(staged: Path | str) -> Iterator[None]:
    """For the block, writes under ``staged`` (the whole new store a commit builds,
    ``replace_store``, handed to a worker process) go in place, as they do in the process
    that opened the commit: the worker builds part of the private store, the commit's owner
    puts it in place."""
    with staging_context(_StoreBuild(Path(staged))):
        yield


def _lock_timeout() -> float | None:
    value = os.environ.get(LOCK_TIMEOUT_ENV, "")
    return float(value) if value else None


@contextmanager
def chip_commit(store_path: Path | str, *, chip_id: str | None = None, tables_dir: Path | str | None = None,
                what: str = "an lftiming writer", timeout_s: float | None | str = "env") -> Iterator[ChipCommit]:
    """Stage every write to this chip's store (and, with ``tables_dir``, its tables) made in
    the block; commit them together when it ends, discard them when it raises.

    Holds the chip's write lock meanwhile (waiting ``timeout_s`` seconds for another writer;
    default ``$LFTIMING_LOCK_TIMEOUT_S`` or for ever; ``store.lock.ChipBusyError`` after), and
    first recovers what an earlier crash left (``recover``). Inside an open commit of the
    same store it joins that one."""
    store_path = Path(store_path)
    chip_id = chip_id or store_path.name.removesuffix(".zarr")
    joined = active_commit(store_path)
    if joined is not None:
        if tables_dir is not None and joined.tables_dir is None:
            joined.tables_dir = Path(tables_dir)
        yield joined
        return
    work = chip_work_dir(store_path)
    timeout = _lock_timeout() if timeout_s == "env" else timeout_s
    with chip_lock(work / WRITE_LOCK, chip_id, what=what, timeout_s=timeout,
                   on_wait=lambda busy: log.warning(f"{busy}; waiting for it to finish")):
        for line in recover(store_path):
            log.warning(f"chip {chip_id}: {line}")
        txdir = work / "tx" / uuid.uuid4().hex[:12]
        txdir.mkdir(parents=True)
        commit = ChipCommit(store_path, chip_id, Path(tables_dir) if tables_dir is not None else None, txdir)
        token = _open.set((*_open.get(), commit))
        try:
            yield commit
        except BaseException:
            commit.discard()
            raise
        finally:
            _open.reset(token)
        commit.commit()


@contextmanager
def replace_store(store_path: Path | str, chip_id: str | None = None) -> Iterator[Path]:
    """Yield an empty folder to build the chip's whole new store in; it replaces the store
    when the commit it belongs to commits (its own when none is open)."""
    with chip_commit(store_path, chip_id=chip_id, what="a store replacement") as commit:
        yield commit.stage_store()


__all__ = ["LOCK_TIMEOUT_ENV", "ChipCommit", "active_commit", "building_store", "chip_commit", "in_staging", "recover", "replace_store", "replay",
           "staging_context"]
