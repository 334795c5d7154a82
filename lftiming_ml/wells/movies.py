"""Per-well movies in one Zarr v3 store per chip, with OME-NGFF 0.5 metadata.

Layout (a local folder; ``store_path`` e.g. ``data/processed/<chip_id>/wells.zarr``)::

    wells/<field_id>/r<row>c<col>/        group; attrs "ome" (image) and "lftiming" (WellMovieInfo)
    wells/<field_id>/r<row>c<col>/0       uint16[T, C, S, S], one chunk, Blosc-zstd compressed

``ome`` holds ``version: "0.5"``, one ``multiscales`` level (axes t [minute], c, y, x
[micrometer], scale ``[frame_interval_min, 1, um_per_px, um_per_px]``) and ``omero``
channel labels, so napari (napari-ome-zarr) opens a well group as a 4-D image. Empty wells
are recorded as a group with ``lftiming`` attrs only (``occupied = cropped = False``, no
array, no ``ome``).

Each well is built completely in a staging folder beside the store (``.<store>.staging/``)
and moved into place with one rename, replacing an older version: readers never see a
half-written well, and re-running replaces rather than duplicates. (Local filesystems
only; on object stores write a well group fully, then list it in an index.)
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path

import numpy as np
import zarr
from pydantic import BaseModel, ConfigDict, Field, model_validator
from zarr.codecs import BloscCodec

from lftiming_ml.wells.config import WellGridParams
from lftiming_ml.wells.crops import crop_origins, crop_scale, prepare_stacks, well_box_in_crop, well_crop

WELL_GROUP = re.compile(r"^r(\d+)c(\d+)$")
ARRAY_NAME = "0"
_COLOURS = {"phase": "FFFFFF", "effector_dye": "00FF00", "target_dye": "FF0000", "death_marker": "FF00FF"}


class WellMovieInfo(BaseModel):
    """What a well group records (its ``lftiming`` attribute); coordinates (y, x)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chip_id: str
    field_id: str
    row: int = Field(ge=0, description="Well row in the block (0 = top).")
    col: int = Field(ge=0, description="Well column in the block (0 = left).")
    channels: list[str] = Field(description="Channel names, in the order of the movie's c axis.")
    channel_roles: list[str] = Field(
        description="Role of each channel: phase | effector_dye | target_dye | death_marker.")
    frame_interval_min: float = Field(gt=0, description="Time between frames (min).")
    um_per_px: float = Field(gt=0, description="Crop pixel size (um/px), the canonical resolution.")
    field_px_per_crop_px: float = Field(gt=0, description="Scale of the crop -> field mapping.")
    crop_origins_px: list[tuple[float, float]] = Field(
        description="Per frame, the field position (px) of crop pixel (0, 0): field = origin + (i, j) * scale.")
    well_box_px: tuple[float, float, float, float] = Field(
        description="Well interior (y0, x0, y1, x1) in crop px (edge positions).")
    occupied: bool = Field(description="Cells were loaded (detector's call); empty wells are not cropped.")
    cropped: bool = Field(description="The group holds the movie array '0'.")
    detection_score: float | None = Field(None, description="Score of the detection supporting the well, if any.")

    @model_validator(mode="after")
    def _consistent(self) -> WellMovieInfo:
        if len(self.channels) != len(self.channel_roles):
            raise ValueError(f"{len(self.channels)} channels but {len(self.channel_roles)} roles")
        if self.cropped and not self.occupied:
            raise ValueError("an empty well is recorded, not cropped")
        return self

    @property
    def n_frames(self) -> int:
        return len(self.crop_origins_px)

    @property
    def group_path(self) -> str:
        return well_group_path(self.field_id, self.row, self.col)


def well_group_path(field_id: str, row: int, col: int) -> str:
    """Path of a well's group inside the store, ``wells/<field_id>/r<row>c<col>``."""
    return f"wells/{field_id}/r{row}c{col}"


def ome_attributes(info: WellMovieInfo, movie: np.ndarray) -> dict:
    """OME-NGFF 0.5 ``ome`` attribute of a well image ``movie (uint16[T, C, S, S])``."""
    sample = movie[:, :, ::4, ::4]
    channels = []
    for c, (name, role) in enumerate(zip(info.channels, info.channel_roles)):
        lo, hi = (float(v) for v in np.percentile(sample[:, c], [0.5, 99.5]))
        channels.append({"label": name, "color": _COLOURS.get(role, "FFFFFF"), "active": True,
                         "window": {"min": 0.0, "max": 65535.0, "start": lo, "end": max(hi, lo + 1.0)}})
    return {
        "version": "0.5",
        "multiscales": [{
            "name": f"{info.chip_id}/{info.field_id}/r{info.row}c{info.col}",
            "axes": [{"name": "t", "type": "time", "unit": "minute"}, {"name": "c", "type": "channel"},
                     {"name": "y", "type": "space", "unit": "micrometer"},
                     {"name": "x", "type": "space", "unit": "micrometer"}],
            "datasets": [{"path": ARRAY_NAME, "coordinateTransformations": [
                {"type": "scale", "scale": [info.frame_interval_min, 1.0, info.um_per_px, info.um_per_px]}]}],
        }],
        "omero": {"channels": channels, "rdefs": {"model": "color", "defaultT": 0}},
    }


def _ensure_parents(store_path: Path, chip_id: str, field_id: str) -> None:
    root = zarr.open_group(str(store_path), mode="a", zarr_format=3)
    stored = root.attrs.get("chip_id")
    if stored is None:
        root.attrs["chip_id"] = chip_id
    elif stored != chip_id:
        raise ValueError(f"{store_path} holds chip {stored!r}, not {chip_id!r}: one store per chip")
    root.require_group("wells").require_group(field_id)


def write_well_movie(store_path: Path | str, info: WellMovieInfo, movie: np.ndarray | None, *,
                     clevel: int = 5) -> Path:
    """Write (or replace) one well's group atomically; returns its folder.

    movie: ``uint16[T, C, S, S]`` for an occupied well (``info.cropped`` must be True), None
    for an empty one (recorded only).
    """
    store_path = Path(store_path)
    if (movie is None) == info.cropped:
        given = "None" if movie is None else "given"
        raise ValueError(f"{info.group_path}: cropped={info.cropped} but movie is {given}")
    if movie is not None:
        want = (info.n_frames, len(info.channels))
        if movie.dtype != np.uint16 or movie.ndim != 4 or movie.shape[:2] != want or movie.shape[2] != movie.shape[3]:
            raise ValueError(f"{info.group_path}: movie must be uint16[T={want[0]}, C={want[1]}, S, S],"
                             f" got {movie.dtype}{list(movie.shape)}")
    _ensure_parents(store_path, info.chip_id, info.field_id)
    def fill(group: zarr.Group) -> None:
        attrs: dict = {"lftiming": info.model_dump(mode="json")}
        if movie is not None:
            group.create_array(ARRAY_NAME, data=movie, chunks=movie.shape, dimension_names=("t", "c", "y", "x"),
                               compressors=BloscCodec(cname="zstd", clevel=clevel, shuffle="bitshuffle", typesize=2))
            attrs["ome"] = ome_attributes(info, movie)
        group.attrs.update(attrs)

    return replace_group(store_path, store_path / info.group_path, fill)


def replace_group(store_path: Path, target: Path, fill: Callable[[zarr.Group], None]) -> Path:
    """Build a Zarr group with ``fill`` in a staging folder beside the store, then move it to
    ``target`` (a folder inside the store) with renames: readers see the old group or the
    complete new one, never a half-written one. Returns ``target``."""
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
        with suppress(OSError):  # only when empty; other writers may be staging wells
            staging.rmdir()
    return target


def open_well_movie(store_path: Path | str, field_id: str, row: int,
                    col: int) -> tuple[np.ndarray | None, WellMovieInfo]:
    """One well: ``(uint16[T, C, S, S] or None for an empty well, its WellMovieInfo)``.

    Raises FileNotFoundError naming the well when the store does not hold it.
    """
    path = Path(store_path) / well_group_path(field_id, row, col)
    if not (path / "zarr.json").is_file():
        raise FileNotFoundError(f"{Path(store_path)}: no well {well_group_path(field_id, row, col)}")
    group = zarr.open_group(str(path), mode="r", zarr_format=3)
    info = WellMovieInfo.model_validate(group.attrs["lftiming"])
    return (np.asarray(group[ARRAY_NAME][...]) if info.cropped else None), info


def list_well_movies(store_path: Path | str) -> list[WellMovieInfo]:
    """Every recorded well of the store (cropped or empty), sorted by (field_id, row, col)."""
    wells_dir = Path(store_path) / "wells"
    found = []
    for field_dir in sorted(p for p in wells_dir.glob("*") if (p / "zarr.json").is_file()):
        for well_dir in field_dir.iterdir():
            if WELL_GROUP.match(well_dir.name) and (well_dir / "zarr.json").is_file():
                attrs = zarr.open_group(str(well_dir), mode="r", zarr_format=3).attrs
                found.append(WellMovieInfo.model_validate(attrs["lftiming"]))
    return sorted(found, key=lambda i: (i.field_id, i.row, i.col))


def write_field_movies(
    store_path: Path | str,
    *,
    chip_id: str,
    field_id: str,
    stacks: Mapping[str, np.ndarray],
    channel_roles: Sequence[str],
    centres: np.ndarray,
    wells: Sequence[tuple[int, int]],
    occupied: np.ndarray,
    well_size_px: float,
    raw_um_per_px: float,
    frame_interval_min: float,
    params: WellGridParams,
    detection_scores: np.ndarray | None = None,
) -> list[WellMovieInfo]:
    """Crop and write every listed well of one field; empty wells are recorded, not cropped.

    stacks: channel name -> ``uint16[T, H, W]`` (manifest order); channel_roles: one per channel.
    centres (float[T, R, C, 2]): well centres per frame, (y, x) field px, drift applied
        (``WellLattice.centres_over_time(drift)``).
    wells: (row, col) to write (``WellLattice.wells()``); occupied (bool[R, C]);
    detection_scores (float[R, C], NaN where none): stored per well.
    Returns the infos written, in ``wells`` order.
    """
    ctr = np.asarray(centres, dtype=np.float64)
    prepared = prepare_stacks(stacks, raw_um_per_px=raw_um_per_px, params=params)
    box = well_box_in_crop(well_size_px, raw_um_per_px=raw_um_per_px, params=params)
    written = []
    for r, c in wells:
        full = bool(occupied[r, c])
        score = None if detection_scores is None else float(detection_scores[r, c])
        score = score if score is not None and np.isfinite(score) else None
        info = WellMovieInfo(
            chip_id=chip_id, field_id=field_id, row=r, col=c, channels=list(stacks),
            channel_roles=list(channel_roles), frame_interval_min=frame_interval_min,
            um_per_px=params.canonical_um_per_px, field_px_per_crop_px=crop_scale(raw_um_per_px, params),
            crop_origins_px=[tuple(o) for o in crop_origins(ctr[:, r, c], raw_um_per_px=raw_um_per_px,
                                                            params=params).tolist()],
            well_box_px=box, occupied=full, cropped=full, detection_score=score,
        )
        movie = well_crop(prepared, ctr[:, r, c], raw_um_per_px=raw_um_per_px, params=params) if full else None
        write_well_movie(store_path, info, movie)
        written.append(info)
    return written
