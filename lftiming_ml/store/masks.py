"""A well's segmentation beside its movie (what ``cell_masks`` writes)::

    wells/<field_id>/r<row>c<col>/masks/instances   bool[T, K, S, S], amodal, may overlap
    wells/<field_id>/r<row>c<col>/masks/scores      float32[T, K], NaN in empty slots

``K`` is the most instances in any frame of the well; frame t's instances fill slots
``0 .. n_t - 1`` best score first, the other slots are all-False with a NaN score. The
group is staged and renamed into place (``groups.replace_group``). Each array is one chunk:
every reader takes a whole well, and a chunk per frame made a write ~90 ms of file and
directory creation per well (72 frames) against ~7 ms for one chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BloscCodec

from lftiming_ml.store.groups import open_group_if_present, replace_group
from lftiming_ml.store.movies import WellMovieInfo, well_group_path

MASKS_GROUP = "masks"


def write_well_masks(store_path: Path | str, info: WellMovieInfo, masks: np.ndarray, scores: np.ndarray,
                     *, attrs: Mapping[str, object] | None = None) -> Path:
    """Write (or replace) ``masks (bool[T, K, S, S])`` and ``scores (float32[T, K])`` as the
    well's ``masks`` group, atomically. Returns its folder."""
    store_path = Path(store_path)
    well_dir = store_path / info.group_path
    if not (well_dir / "zarr.json").is_file():
        raise FileNotFoundError(f"{store_path}: no well {info.group_path} to write masks beside")

    def fill(group: zarr.Group) -> None:
        t, k = scores.shape
        group.create_array("instances", data=masks, chunks=(max(t, 1), max(k, 1), *masks.shape[2:]),
                           dimension_names=("t", "instance", "y", "x"),
                           compressors=BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle", typesize=1))
        group.create_array("scores", data=scores, chunks=(max(t, 1), max(k, 1)), dimension_names=("t", "instance"))
        group.attrs.update({"lftiming_masks": {"n_instances": [int(n) for n in np.isfinite(scores).sum(1)],
                                               **dict(attrs or {})}})

    return replace_group(store_path, well_dir / MASKS_GROUP, fill)


def open_well_masks(store_path: Path | str, field_id: str, row: int, col: int) -> tuple[np.ndarray, np.ndarray]:
    """A well's ``(instances bool[T, K, S, S], scores float32[T, K])``.

    Raises FileNotFoundError naming the well when it has not been segmented."""
    group = open_group_if_present(Path(store_path) / well_group_path(field_id, row, col) / MASKS_GROUP)
    if group is None:
        raise FileNotFoundError(f"{Path(store_path)}: well {well_group_path(field_id, row, col)} has no masks "
                                "(materialize cell_masks)")
    return np.asarray(group["instances"][...]), np.asarray(group["scores"][...])


__all__ = ["MASKS_GROUP", "open_well_masks", "write_well_masks"]
