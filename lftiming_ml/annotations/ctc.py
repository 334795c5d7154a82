"""The Cell Tracking Challenge (CTC) layout of one well: write and read.

A sequence folder per well (``exchange`` names it ``<field_id>_r<row>c<col>``)::

    t000.tif ... tNNN.tif          the phase frames (uint16 S x S), one per frame
    TRA/man_track000.tif ...       uint16 label images, one per frame (0 = background)
    TRA/man_track.txt              one line per label: ``L B E P`` (label, first and last
                                   frame, parent label or 0)

Frame numbers have 3 digits (4 from 1000 frames on), as in the CTC datasets. Labels are
flattened from the amodal masks and split at gaps by ``labels`` (its docstring gives the
rule); the reader checks every file as it goes (``validate``) and names the file at fault:
a missing or extra frame, a truncated or unreadable TIFF, a wrong dtype or size, a
malformed ``man_track.txt`` line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tifffile

from lftiming_ml.annotations.validate import AnnotationError, check_label_stack

TRA = "TRA"
MAN_TRACK = "man_track.txt"
_MAN_TRACK_TIF = re.compile(r"^man_track(\d+)\.tif$")


def frame_digits(n_frames: int) -> int:
    return max(3, len(str(max(n_frames - 1, 0))))


def write_ctc_sequence(folder: Path, phase: np.ndarray, labels: np.ndarray,
                       rows: Sequence[tuple[int, int, int, int]]) -> Path:
    """Write ``phase (uint16[T, S, S])``, ``labels (uint16[T, S, S])`` and the ``(L, B, E,
    P)`` rows into ``folder`` (created; files inside are replaced). Returns the folder."""
    if phase.shape != labels.shape or labels.dtype != np.uint16:
        raise ValueError(f"phase {phase.shape} and uint16 labels {labels.dtype}{labels.shape} must match")
    (folder / TRA).mkdir(parents=True, exist_ok=True)
    d = frame_digits(labels.shape[0])
    for t in range(labels.shape[0]):
        tifffile.imwrite(folder / f"t{t:0{d}d}.tif", phase[t].astype(np.uint16))
        tifffile.imwrite(folder / TRA / f"man_track{t:0{d}d}.tif", labels[t])
    (folder / TRA / MAN_TRACK).write_text("".join(f"{lab} {b} {e} {p}\n" for lab, b, e, p in rows))
    return folder


def read_tiff(path: Path) -> np.ndarray:
    """One image file, or AnnotationError naming it (truncated, not a TIFF, unreadable)."""
    try:
        return tifffile.imread(path)
    except Exception as e:  # tifffile raises many kinds for a damaged file; each names the file here
        raise AnnotationError(path, f"cannot read the TIFF ({type(e).__name__}: {e})") from None


def read_man_track(path: Path) -> list[tuple[int, int, int, int]]:
    """The rows of a ``man_track.txt`` (AnnotationError naming the file and line)."""
    if not path.is_file():
        raise AnnotationError(path, "missing: a CTC sequence needs TRA/man_track.txt")
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            values = [int(v) for v in parts]
        except ValueError:
            values = []
        if len(values) != 4 or len(parts) != 4:
            raise AnnotationError(path, f"line {i} {line!r} is not 'L B E P' (four integers)")
        lab, b, e, p = values
        if lab < 1 or b < 0 or e < b or p < 0:
            raise AnnotationError(path, f"line {i} {line!r}: need L >= 1, 0 <= B <= E, P >= 0")
        rows.append((lab, b, e, p))
    return rows


def read_ctc_labels(folder: Path, *, n_frames: int, size: int) -> tuple[np.ndarray, list[Path]]:
    """The ``TRA/man_trackNNN.tif`` stack ``uint32[T, S, S]`` of a sequence and its files.

    Refuses (AnnotationError naming the file or folder) frames missing or beyond the movie,
    unreadable TIFFs, non-integer dtypes, images not ``size x size``."""
    tra = folder / TRA
    if not tra.is_dir():
        raise AnnotationError(folder, f"no {TRA}/ folder: not a CTC sequence")
    files = {int(m[1]): tra / name for name in sorted(p.name for p in tra.iterdir())
             if (m := _MAN_TRACK_TIF.match(name))}
    missing = [t for t in range(n_frames) if t not in files]
    if missing:
        raise AnnotationError(tra, f"frames {missing[:10]}{' ...' if len(missing) > 10 else ''} have no "
                                   f"man_trackNNN.tif; the well's movie has {n_frames} frames (0..{n_frames - 1})")
    extra = sorted(t for t in files if t >= n_frames)
    if extra:
        raise AnnotationError(files[extra[0]], f"frame {extra[0]} is beyond the well's movie ({n_frames} frames)")
    frames = []
    for t in range(n_frames):
        image = read_tiff(files[t])
        frames.append(check_label_stack(image[None], n_frames=1, size=size, source=files[t])[0])
    return np.stack(frames) if frames else np.zeros((0, size, size), np.uint32), [files[t] for t in range(n_frames)]


__all__ = ["MAN_TRACK", "TRA", "frame_digits", "read_ctc_labels", "read_man_track", "read_tiff", "write_ctc_sequence"]
