"""Atomic replacement of one Zarr group inside a chip's store.

Each group (a well's movie, its masks, its tracks) is built completely under a staging name
and moved into place with renames when its commit commits (``store.commit``): readers see
the old group or the complete new one, never a half-written one, and re-running replaces
rather than duplicates. (Local filesystems only; on object stores write a group fully,
then list it in an index.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import zarr

from lftiming_ml.store.commit import active_commit, chip_commit, in_staging


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
    """Build a Zarr group with ``fill`` and put it at ``target`` (a folder inside the store).

    Inside an open commit of the store (``commit.chip_commit``) the group is staged and
    replaces ``target`` when the commit commits; in a store being built by ``replace_store``
    (private until committed) it is written in place; otherwise it is a commit of its own.
    Returns ``target``."""
    commit = active_commit(store_path)
    if commit is not None:
        return commit.stage_group(target, fill)
    if in_staging(store_path):
        fill(zarr.open_group(str(target), mode="w", zarr_format=3))
        return target
    with chip_commit(store_path, what="a Zarr group write") as own:
        return own.stage_group(target, fill)


def open_group_if_present(path: Path) -> zarr.Group | None:
    """The group at ``path`` (read-only), or None when there is none."""
    if not (path / "zarr.json").is_file():
        return None
    return zarr.open_group(str(path), mode="r", zarr_format=3)


__all__ = ["ensure_chip_root", "open_group_if_present", "replace_group"]
