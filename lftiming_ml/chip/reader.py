"""Strict reading of raw chips: every problem is a ``ChipValidationError`` naming the file.

``read_manifest`` parses ``chip.json``; ``validate_chip`` additionally opens every stack and
checks shape, dtype, frame count, finiteness and readability; ``read_stack`` loads one
validated stack.
"""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from pydantic import ValidationError

from lftiming_ml.chip.manifest import MANIFEST_NAME, ChannelRole, ChipManifest, check_safe_id

GT_DIR = "gt"


class ChipValidationError(ValueError):
    """A raw chip breaks the contract. ``path`` is the offending file or folder."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):  # picklable as itself: a worker process's error must reach the run, not break the pool
        return type(self), (self.path, self.problem), self.__dict__


@dataclass(frozen=True)
class StackInfo:
    """Summary of one validated stack: its file, channel role and intensity statistics."""

    field_id: str
    channel: str
    role: ChannelRole
    path: Path
    frame_means: np.ndarray  # float64[T]: mean intensity of each frame (ADU)


def read_manifest(chip_dir: Path | str) -> ChipManifest:
    """Parse and validate ``<chip_dir>/chip.json``; the chip id must equal the folder name."""
    chip_dir = Path(chip_dir)
    path = chip_dir / MANIFEST_NAME
    if not chip_dir.is_dir():
        raise ChipValidationError(chip_dir, "chip folder does not exist")
    try:
        check_safe_id(chip_dir.name, "chip folder name")
    except ValueError as e:
        raise ChipValidationError(chip_dir, str(e)) from None
    if not path.is_file():
        raise ChipValidationError(path, f"missing {MANIFEST_NAME}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ChipValidationError(path, f"not valid JSON ({e})") from None
    try:
        manifest = ChipManifest.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'manifest'}: {err['msg']}" for err in e.errors()
        )
        raise ChipValidationError(path, problems) from None
    if manifest.chip_id != chip_dir.name:
        raise ChipValidationError(path, f"chip_id {manifest.chip_id!r} differs from the folder name {chip_dir.name!r}")
    return manifest


class _TiffLog(logging.Handler):
    """Collects what tifffile logs while it reads one file (it logs, rather than raises, a
    broken chain of pages or invalid ImageJ metadata and then reads what it can)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().split("> ", 1)[-1])


def _structure_problem(tif: tifffile.TiffFile, size: int) -> str | None:
    """The first part of the file's structure (IFD, tag value, image data) that runs past
    its end, or None."""
    header = tif.tiff
    tif.pages.useframes = False  # whole pages with all their tags, not ImageJ's light frames
    for index in range(len(tif.pages)):
        page = tif.pages[index]
        tif.filehandle.seek(page.offset)
        raw = tif.filehandle.read(header.tagnosize)
        n_tags = struct.unpack(header.tagnoformat, raw)[0] if len(raw) == header.tagnosize else 0
        if page.offset + header.tagnosize + n_tags * header.tagsize + header.offsetsize > size:
            return f"page {index}'s IFD runs past the end of the file (trailing IFDs missing)"
        for tag in page.tags.values():
            if tag.valueoffset + tag.valuebytecount > size:
                return f"page {index}'s tag {tag.name} runs past the end of the file"
        ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts)]
        if ends and max(ends) > size:
            return f"page {index} runs past the end of the file"
    return None


def _read_whole_tiff(path: Path) -> np.ndarray:
    """Read the first series, refusing files that are cut short (truncated: a page, its
    IFD or the chain of IFDs runs past the end) or that tifffile reads only with warnings."""
    size = path.stat().st_size
    log = _TiffLog()
    tiff_logger = logging.getLogger("tifffile")
    tiff_logger.addHandler(log)
    try:
        try:
            with tifffile.TiffFile(path) as tif:
                problem = _structure_problem(tif, size)
                if problem is None:
                    series = tif.series[0]
                    n_planes = int(np.prod(series.shape[:-2])) if len(series.shape) > 2 else 1
                    declared = (tif.imagej_metadata or {}).get("images")
                    if declared is not None and int(declared) != n_planes:
                        problem = f"header declares {declared} frames, {n_planes} readable"
                    elif series.dataoffset is not None and series.dataoffset + series.nbytes > size:
                        problem = "image data runs past the end of the file"
                    else:
                        data = series.asarray()
        except (struct.error, tifffile.TiffFileError, EOFError) as e:
            with open(path, "rb") as f:
                tiff_header = f.read(2) in (b"II", b"MM")
            if not tiff_header or (not log.messages and isinstance(e, tifffile.TiffFileError)):
                raise  # not a TIFF at all, or damaged otherwise: "not a readable TIFF"
            problem = f"the file ends inside its header or first IFD ({type(e).__name__}: {e})"
    finally:
        tiff_logger.removeHandler(log)
    broken_chain = [m for m in log.messages if "invalid page offset" in m]
    if broken_chain:
        raise ChipValidationError(path, f"truncated TIFF: the chain of pages breaks off ({broken_chain[0]}; the "
                                        f"file is {size} bytes)")
    if problem is not None:
        raise ChipValidationError(path, f"truncated TIFF: {problem}")
    if log.messages:
        raise ChipValidationError(path, f"damaged TIFF: {'; '.join(log.messages)}")
    return data


def _open_stack(path: Path, manifest: ChipManifest) -> np.ndarray:
    if not path.is_file():
        raise ChipValidationError(path, "image stack named in chip.json is missing")
    try:
        data = _read_whole_tiff(path)
    except ChipValidationError:
        raise
    except Exception as e:  # tifffile raises many types for corrupt input; name the file
        raise ChipValidationError(path, f"not a readable TIFF ({type(e).__name__}: {e})") from None
    t, (h, w) = manifest.n_frames, manifest.field_shape
    if data.ndim == 2 and t == 1:
        data = data[None]
    if data.ndim != 3:
        raise ChipValidationError(path, f"expected a T x H x W stack, got shape {data.shape}")
    if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
        n_bad = int((~np.isfinite(data)).sum())
        raise ChipValidationError(path, f"contains {n_bad} NaN/inf pixels (and must be uint16)")
    if data.dtype != np.uint16:
        raise ChipValidationError(path, f"dtype {data.dtype}, expected uint16")
    if data.shape[0] != t:
        kind = "missing" if data.shape[0] < t else "extra"
        raise ChipValidationError(path, f"{kind} frames: {data.shape[0]} frames, chip.json says n_frames={t}")
    if data.shape[1:] != (h, w):
        raise ChipValidationError(path, f"frame shape {data.shape[1:]}, chip.json says field_shape={(h, w)}")
    return data


def read_stack(chip_dir: Path | str, manifest: ChipManifest, field_id: str, role: ChannelRole | str) -> np.ndarray:
    """One channel of one field as ``uint16[T, H, W]``, checked against the manifest."""
    chip_dir = Path(chip_dir)
    channel = manifest.channel(role)
    if channel is None:
        raise ChipValidationError(chip_dir / MANIFEST_NAME, f"chip has no {ChannelRole(role).value} channel")
    field = next((f for f in manifest.fields if f.field_id == field_id), None)
    if field is None:
        raise ChipValidationError(chip_dir / MANIFEST_NAME, f"no field {field_id!r}")
    return _open_stack(chip_dir / field.images[channel.name], manifest)


def validate_chip(chip_dir: Path | str) -> tuple[ChipManifest, list[StackInfo]]:
    """Check a whole chip: manifest, every stack, and no stray TIFFs outside ``gt/``.

    Returns the manifest and one ``StackInfo`` per (field, channel), in manifest order.
    """
    chip_dir = Path(chip_dir)
    manifest = read_manifest(chip_dir)
    named: set[Path] = set()
    infos: list[StackInfo] = []
    for field in manifest.fields:
        for channel in manifest.channels:
            path = chip_dir / field.images[channel.name]
            named.add(path.resolve())
            data = _open_stack(path, manifest)
            means = data.reshape(data.shape[0], -1).mean(axis=1, dtype=np.float64)
            infos.append(StackInfo(field.field_id, channel.name, channel.role, path, means))
    for path in sorted(chip_dir.rglob("*")):
        rel = path.relative_to(chip_dir)
        if rel.parts[0] == GT_DIR or not path.is_file():
            continue
        if path.suffix.lower() in {".tif", ".tiff"} and path.resolve() not in named:
            raise ChipValidationError(path, "TIFF not named in chip.json (unknown field or channel?)")
    return manifest, infos
