"""Atomic replacement of one Zarr group inside a chip's store.

Each group (a well's movie, its masks, its tracks) is built completely in a staging folder
beside the store (``.<store>.staging/``) and moved into place with renames: readers see the
old group or the complete new one, never a half-written one, and re-running replaces
rather than duplicates. (Local filesystems only; on object stores write a group fully,
then list it in an index.)
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import zarr


def ensure_chip_root(store_path: Path, chip_id: str, *parents: str) -> zarr.Group:
    """The store's root group, created on first write and stamped with ``chip_id`` (one
    store per chip: a store of another chip is refused), with the groups ``parents``
    (nested, e.g. ``"wells", "f000"``) created. Returns the innermost group."""
    root = zarr.open_group(str(store_path), mode="a", zarr_format=3)
    stored = root.attrs.get("chip_id")
    if stored is None:
        root.attrs["chip_id"] = chip_id
    elif stored != chip_id:
        raise ValueError(f"{store_path} holds chip {stored!r}, not {chip_id!r}: one store per chip")
    group = root
    for name in parents:
        group = group.require_group(name)
    return group


def replace_group(store_path: Path, target: Path, fill: Callable[[zarr.Group], None]) -> Path:
    """Build a Zarr group with ``fill`` in a staging folder beside the store, then move it to
    ``target`` (a folder inside the store) with renames. Returns ``target``."""
    staging = store_path.parent / f".{store_path.name}.staging"
    tmp = staging / uuid.uuid4().hex
    try:
        fill(zarr.open_group(str(tmp), mode="w", zarr_format=3))
        if target.exists():
            trash = staging / f"old-{uuid.uuid4().hex}"
            os.replace(target, trash)
            os.replace(tmp, target)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        with suppress(OSError):  # only when empty; other writers may be staging groups
            staging.rmdir()
    return target


def open_group_if_present(path: Path) -> zarr.Group | None:
    """The group at ``path`` (read-only), or None when there is none."""
    if not (path / "zarr.json").is_file():
        return None
    return zarr.open_group(str(path), mode="r", zarr_format=3)


__all__ = ["ensure_chip_root", "open_group_if_present", "replace_group"]
