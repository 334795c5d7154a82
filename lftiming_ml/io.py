"""Atomic writes: build under a temporary name beside the target, then rename.

Nothing already stored is lost or half-written: a crash leaves the old file or folder in
place and at most a ``.tmp-<pid>-*`` sibling, which the next write removes once process
``pid`` is gone. A temporary of a writer still running is never touched, so two writers of
one target do not delete each other's work (the last rename wins).
"""

from __future__ import annotations

import errno
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pandas as pd


STALE_UNOWNED_S = 24 * 3600
"""A temporary without a writer's pid in its name (older versions) counts as stale after this."""


def _tmp_sibling(target: Path) -> Path:
    return target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_stale(tmp: Path) -> bool:
    owner = tmp.name.rsplit(".tmp-", 1)[-1].split("-")[0]
    if owner.isdigit() and "-" in tmp.name.rsplit(".tmp-", 1)[-1]:
        return int(owner) != os.getpid() and not pid_alive(int(owner))
    try:
        return time.time() - tmp.lstat().st_mtime > STALE_UNOWNED_S
    except FileNotFoundError:
        return False


def _clean_stale(target: Path) -> None:
    """Remove temporaries of ``target`` left by writers that died (never a live writer's)."""
    for stale in target.parent.glob(f".{target.name}.tmp-*"):
        if _is_stale(stale):
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)


@contextmanager
def atomic_dir(target: Path | str, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces ``target`` in one rename.

    Raises FileExistsError if ``target`` exists and ``overwrite`` is False. On an exception
    the temporary folder is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite to replace it")
    _clean_stale(target)
    tmp = _tmp_sibling(target)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    displaced = []
    while True:  # another writer of target may rename its own folder in between: last one wins
        if target.exists():
            displaced.append(_tmp_sibling(target))
            with suppress(FileNotFoundError):
                os.replace(target, displaced[-1])
        try:
            os.replace(tmp, target)
            break
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    for old in displaced:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_file(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``target`` (os.replace)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(target)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_parquet(df: pd.DataFrame, path: Path | str) -> Path:
    """Write ``df`` to ``path`` as Parquet, atomically. Returns the path."""
    with atomic_file(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)
