"""The raw-chip contract: ``data/raw/<chip_id>/chip.json`` and its image stacks.

A chip folder holds ``chip.json`` (this module's ``ChipManifest``) and, per field of view
and channel, one TIFF stack of shape ``T x H x W`` and dtype ``uint16``, at the relative
path the manifest names. A ground-truth folder ``gt/`` may sit beside them (simulated or
annotated chips only); the inference path never reads it.

Example ``chip.json``::

    {"schema_version": 1, "chip_id": "demo-s0", "frame_interval_min": 5.0,
     "pixel_size_um": 0.65, "n_frames": 72, "field_shape": [736, 736],
     "channels": [{"name": "phase", "role": "phase"},
                  {"name": "pkh67", "role": "effector_dye"}],
     "layout": {"wells_per_block": 6, "well_size_um": 50.0, "pitch_um": 70.0},
     "fields": [{"field_id": "f000", "block_row": 0, "block_col": 0,
                 "images": {"phase": "f000/phase.tif", "pkh67": "f000/pkh67.tif"}}]}
"""

from __future__ import annotations

import re
from enum import Enum
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MANIFEST_NAME = "chip.json"
SCHEMA_VERSION = 1
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ChannelRole(str, Enum):
    """What a channel shows. ``phase`` is required; the others are optional."""

    phase = "phase"
    effector_dye = "effector_dye"
    target_dye = "target_dye"
    death_marker = "death_marker"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_safe_id(value: str, what: str) -> str:
    """Return ``value`` if it is a safe path component (letters, digits, ``._-``), else raise."""
    if not SAFE_ID.match(value) or value in {".", ".."}:
        raise ValueError(
            f"{what} {value!r} is not a safe name: use 1-64 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit"
        )
    return value


class Channel(_Strict):
    name: str = Field(description="Channel name as exported (safe path name), e.g. 'phase', 'pkh67'.")
    role: ChannelRole = Field(description="phase | effector_dye | target_dye | death_marker")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        return check_safe_id(v, "channel name")


class WellLayout(_Strict):
    """Nominal nanowell geometry (the well detector measures the real one)."""

    wells_per_block: int = Field(6, ge=1, description="Wells per block side (6 -> 6x6).")
    well_size_um: float = Field(50.0, gt=0, description="Inner side of a square well (um).")
    pitch_um: float = Field(70.0, gt=0, description="Centre-to-centre well spacing (um).")


class FieldOfView(_Strict):
    field_id: str = Field(description="Field id, a safe path name, unique in the chip.")
    block_row: int = Field(ge=0, description="Row of the 6x6 block this field images.")
    block_col: int = Field(ge=0, description="Column of the block.")
    images: dict[str, str] = Field(description="Channel name -> TIFF path relative to the chip folder.")

    @field_validator("field_id")
    @classmethod
    def _safe_field(cls, v: str) -> str:
        return check_safe_id(v, "field id")

    @field_validator("images")
    @classmethod
    def _relative_paths(cls, v: dict[str, str]) -> dict[str, str]:
        for name, rel in v.items():
            p = PurePosixPath(rel)
            if p.is_absolute() or ".." in p.parts or not rel:
                raise ValueError(f"image path {rel!r} of channel {name!r} must be relative, inside the chip folder")
            if p.suffix.lower() not in {".tif", ".tiff"}:
                raise ValueError(f"image path {rel!r} of channel {name!r} must be a .tif/.tiff file")
        return v


class ChipManifest(_Strict):
    """``chip.json``: everything needed to read a chip's images."""

    schema_version: int = Field(SCHEMA_VERSION, description="Contract version; only 1 exists.")
    chip_id: str = Field(description="Chip id; must equal the chip folder's name.")
    frame_interval_min: float = Field(gt=0, description="Nominal time between frames (min).")
    pixel_size_um: float = Field(gt=0, description="Pixel size of the stacks (um/px).")
    n_frames: int = Field(ge=1, description="Frames T in every stack.")
    timestamps_min: list[float] | None = Field(
        None, description="Acquisition time of each frame (min, strictly increasing); default i*interval."
    )
    field_shape: tuple[int, int] = Field(description="(H, W) of every frame, px.")
    channels: list[Channel] = Field(min_length=1)
    layout: WellLayout = WellLayout()
    fields: list[FieldOfView] = Field(min_length=1)
    condition: str | None = Field(None, description="Free text: donor, CAR construct, E:T loading...")
    source: dict[str, object] | None = Field(None, description="Provenance, e.g. simulator config.")

    @field_validator("chip_id")
    @classmethod
    def _safe_chip(cls, v: str) -> str:
        return check_safe_id(v, "chip id")

    @field_validator("schema_version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != SCHEMA_VERSION:
            raise ValueError(f"schema_version {v} is not supported (only {SCHEMA_VERSION})")
        return v

    @field_validator("field_shape")
    @classmethod
    def _shape(cls, v: tuple[int, int]) -> tuple[int, int]:
        if min(v) < 1:
            raise ValueError(f"field_shape {v} must be positive")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ChipManifest:
        names = [c.name for c in self.channels]
        if len(set(names)) != len(names):
            raise ValueError(f"channel names repeat: {names}")
        roles = [c.role for c in self.channels]
        if len(set(roles)) != len(roles):
            raise ValueError(f"each channel role may appear once: {[r.value for r in roles]}")
        if ChannelRole.phase not in roles:
            raise ValueError("a channel with role 'phase' is required")
        ids = [f.field_id for f in self.fields]
        if len(set(ids)) != len(ids):
            raise ValueError(f"field ids repeat: {ids}")
        for f in self.fields:
            if set(f.images) != set(names):
                missing = sorted(set(names) - set(f.images))
                extra = sorted(set(f.images) - set(names))
                raise ValueError(
                    f"field {f.field_id!r}: images must name every channel once"
                    f" (missing {missing}, unknown {extra})"
                )
        if self.timestamps_min is not None:
            ts = self.timestamps_min
            if len(ts) != self.n_frames:
                raise ValueError(f"timestamps_min has {len(ts)} entries for n_frames={self.n_frames}")
            bad = [i for i in range(1, len(ts)) if not ts[i] > ts[i - 1]]
            if bad:
                raise ValueError(f"timestamps_min must increase strictly; not at frame index {bad[0]}")
            if any(t != t or t in (float("inf"), float("-inf")) for t in ts):
                raise ValueError("timestamps_min contains NaN or inf")
        return self

    def channel(self, role: ChannelRole | str) -> Channel | None:
        """The channel with ``role``, or None if the chip has none."""
        role = ChannelRole(role)
        return next((c for c in self.channels if c.role == role), None)

    def frame_times_min(self) -> list[float]:
        """Acquisition time of each frame (min)."""
        if self.timestamps_min is not None:
            return list(self.timestamps_min)
        return [i * self.frame_interval_min for i in range(self.n_frames)]
