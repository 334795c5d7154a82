"""Per-well movies in one Zarr v3 store per chip, with OME-NGFF 0.5 metadata.

Layout (``layout.ChipStore.zarr_path``, ``<data>/zarr/<chip_id>.zarr``)::

    wells/<field_id>/r<row>c<col>/        group; attrs "ome" (image) and "lftiming" (WellMovieInfo)
    wells/<field_id>/r<row>c<col>/0       uint16[T, C, S, S], one chunk per channel, Blosc-zstd
                                          (level 1, byte shuffle: faster to write than level 5
                                          with bit shuffle, and smaller on simulated wells; README)

``ome`` holds ``version: "0.5"``, one ``multiscales`` level (axes t [minute], c, y, x
[micrometer], scale ``[frame_interval_min, 1, um_per_px, um_per_px]``) and ``omero``
channel labels, so napari (napari-ome-zarr) opens a well group as a 4-D image. Empty wells
are recorded as a group with ``lftiming`` attrs only (``occupied = cropped = False``, no
array, no ``ome``).

Each channel is its own chunk, so ``open_well_phase`` decompresses the phase channel only:
the stages from ``cell_masks`` to ``killing_kinetics`` read nothing else. ``open_well_channel``
decompresses one channel of a given role alone (the review queue's fluorescence checks, the
one stage that reads a dye). (Stores written before this
layout hold one chunk for all channels; they read the same, only slower.) Every read of
movie pixels goes through ``_read_channels``.

Wells are written with ``groups.replace_group`` (staged, then renamed into place).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import zarr
from pydantic import BaseModel, ConfigDict, Field, model_validator
from zarr.codecs import BloscCodec

from lftiming_ml.store.groups import ensure_chip_root, open_group_if_present, replace_group

WELL_GROUP = re.compile(r"^r(\d+)c(\d+)$")
ARRAY_NAME = "0"
PHASE_ROLE = "phase"
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

    @property
    def phase_index(self) -> int:
        """Index of the phase channel on the movie's c axis."""
        return self.channel_roles.index(PHASE_ROLE)


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


def write_well_movie(store_path: Path | str, info: WellMovieInfo, movie: np.ndarray | None, *,
                     clevel: int = 1) -> Path:
    """Write (or replace) one well's group atomically; returns its folder.

    movie: ``uint16[T, C, S, S]`` for an occupied well (``info.cropped`` must be True), None
    for an empty one (recorded only). Stored with one chunk per channel.
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
    ensure_chip_root(store_path, info.chip_id, "wells", info.field_id)

    def fill(group: zarr.Group) -> None:
        attrs: dict = {"lftiming": info.model_dump(mode="json")}
        if movie is not None:
            t, _, s, _ = movie.shape
            group.create_array(ARRAY_NAME, data=movie, chunks=(t, 1, s, s), dimension_names=("t", "c", "y", "x"),
                               compressors=BloscCodec(cname="zstd", clevel=clevel, shuffle="shuffle", typesize=2))
            attrs["ome"] = ome_attributes(info, movie)
        group.attrs.update(attrs)

    return replace_group(store_path, store_path / info.group_path, fill)


def _open_well(store_path: Path | str, field_id: str, row: int, col: int) -> tuple[zarr.Group, WellMovieInfo]:
    group = open_group_if_present(Path(store_path) / well_group_path(field_id, row, col))
    if group is None:
        raise FileNotFoundError(f"{Path(store_path)}: no well {well_group_path(field_id, row, col)}")
    return group, WellMovieInfo.model_validate(group.attrs["lftiming"])


def _read_channels(array: zarr.Array, channels: slice | int) -> np.ndarray:
    """Decompress the chunks of ``channels`` of a movie array (every pixel read passes here)."""
    return np.asarray(array[:, channels])


def open_well_movie(store_path: Path | str, field_id: str, row: int,
                    col: int) -> tuple[np.ndarray | None, WellMovieInfo]:
    """One well, every channel: ``(uint16[T, C, S, S] or None for an empty well, its WellMovieInfo)``.

    Raises FileNotFoundError naming the well when the store does not hold it.
    """
    group, info = _open_well(store_path, field_id, row, col)
    return (_read_channels(group[ARRAY_NAME], slice(None)) if info.cropped else None), info


def open_well_phase(store_path: Path | str, field_id: str, row: int,
                    col: int) -> tuple[np.ndarray | None, WellMovieInfo]:
    """One well's phase channel only: ``(uint16[T, S, S] or None for an empty well, its
    WellMovieInfo)``; the fluorescence chunks are not read. FileNotFoundError names a
    missing well."""
    group, info = _open_well(store_path, field_id, row, col)
    return (_read_channels(group[ARRAY_NAME], info.phase_index) if info.cropped else None), info


def open_well_channel(store_path: Path | str, field_id: str, row: int, col: int,
                      role: str) -> tuple[np.ndarray | None, WellMovieInfo]:
    """One well's channel of ``role`` (``effector_dye``, ``target_dye``, ``death_marker`` or
    ``phase``) only: ``(uint16[T, S, S] or None for an empty well, its WellMovieInfo)``; no
    other channel's chunk is read. KeyError naming the well's roles when it has no channel of
    that role; FileNotFoundError names a missing well."""
    group, info = _open_well(store_path, field_id, row, col)
    if role not in info.channel_roles:
        raise KeyError(f"{info.group_path}: no {role!r} channel (roles: {info.channel_roles})")
    index = info.channel_roles.index(role)
    return (_read_channels(group[ARRAY_NAME], index) if info.cropped else None), info


def well_movie_shape(store_path: Path | str, info: WellMovieInfo) -> tuple[int, ...]:
    """Shape ``(T, C, S, S)`` of a cropped well's movie, read from its metadata (no pixels)."""
    group, _ = _open_well(store_path, info.field_id, info.row, info.col)
    return tuple(group[ARRAY_NAME].shape)


def list_well_movies(store_path: Path | str, field_id: str | None = None) -> list[WellMovieInfo]:
    """Every recorded well of the store (cropped or empty), sorted by (field_id, row, col);
    with ``field_id``, only that field's wells (only its folder is read: a per-field work unit
    must not read all of a 100-field chip's 3,600 well groups; [] when the store has no such field)."""
    wells_dir = Path(store_path) / "wells"
    found = []
    field_dirs = wells_dir.glob("*") if field_id is None else [wells_dir / field_id]
    for field_dir in sorted(p for p in field_dirs if (p / "zarr.json").is_file()):
        for well_dir in field_dir.iterdir():
            if WELL_GROUP.match(well_dir.name) and (well_dir / "zarr.json").is_file():
                attrs = zarr.open_group(str(well_dir), mode="r", zarr_format=3).attrs
                found.append(WellMovieInfo.model_validate(attrs["lftiming"]))
    return sorted(found, key=lambda i: (i.field_id, i.row, i.col))


def crop_pixel_size_um(store_path: Path | str) -> float:
    """The um/px of a chip store's well crops (one value for the chip)."""
    sizes = {info.um_per_px for info in list_well_movies(store_path)}
    if len(sizes) != 1:
        raise ValueError(f"{store_path}: expected one crop pixel size, found {sorted(sizes) or 'no wells'}")
    return sizes.pop()


__all__ = ["ARRAY_NAME", "PHASE_ROLE", "WELL_GROUP", "WellMovieInfo", "crop_pixel_size_um", "list_well_movies",
           "ome_attributes", "open_well_channel", "open_well_movie", "open_well_phase", "well_group_path", "well_movie_shape", "write_well_movie"]
