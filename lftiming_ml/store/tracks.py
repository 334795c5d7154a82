"""A well's tracks as masks beside its movie (what ``cell_tracks`` writes)::

    wells/<field_id>/r<row>c<col>/tracks/masks   bool[T, K, S, S], one slot per track id

Slot ``k`` is track ``k`` (track ids are 0..K-1 per well); all-False where the track does
not exist; masks may overlap. The group is staged and renamed into place; the array is one chunk (every
reader takes a whole well; ``store.masks`` says why).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BloscCodec

from lftiming_ml.store.groups import open_group_if_present, replace_group
from lftiming_ml.store.movies import WellMovieInfo, well_group_path

TRACKS_GROUP = "tracks"


def write_well_track_masks(store_path: Path | str, info: WellMovieInfo, masks: np.ndarray, *,
                           attrs: Mapping[str, object] | None = None) -> Path:
    """Write (or replace) the well's ``tracks`` group from ``masks (bool[T, K, S, S])``."""
    store_path = Path(store_path)
    well_dir = store_path / info.group_path
    if not (well_dir / "zarr.json").is_file():
        raise FileNotFoundError(f"{store_path}: no well {info.group_path} to write tracks beside")

    def fill(group: zarr.Group) -> None:
        t, k = masks.shape[:2]
        group.create_array("masks", data=masks, chunks=(max(t, 1), max(k, 1), *masks.shape[2:]),
                           dimension_names=("t", "track", "y", "x"),
                           compressors=BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle", typesize=1))
        group.attrs.update({"lftiming_tracks": {"track_ids": list(range(k)), **dict(attrs or {})}})

    return replace_group(store_path, well_dir / TRACKS_GROUP, fill)


def open_well_track_masks(store_path: Path | str, field_id: str, row: int, col: int) -> np.ndarray:
    """A well's track masks ``bool[T, K, S, S]`` (slot k = track id k).

    Raises FileNotFoundError naming the well when it has not been tracked."""
    group = open_group_if_present(Path(store_path) / well_group_path(field_id, row, col) / TRACKS_GROUP)
    if group is None:
        raise FileNotFoundError(f"{Path(store_path)}: well {well_group_path(field_id, row, col)} has no tracks")
    return np.asarray(group["masks"][...])


__all__ = ["TRACKS_GROUP", "open_well_track_masks", "write_well_track_masks"]
