"""Atomic writes: build under a temporary name beside the target, then rename.

Nothing already stored is lost or half-written: a crash leaves the old file or folder in
place and at most a ``.tmp-*`` sibling, which the next write removes.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


def _tmp_sibling(target: Path) -> Path:
    return target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")


def _clean_stale(target: Path) -> None:
    for stale in target.parent.glob(f".{target.name}.tmp-*"):
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()


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
    if target.exists():
        old = _tmp_sibling(target)
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


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
