"""A field's well grid as a curated label: three clicked well centres, the rest follows.

On a microscope the shipped well detector has never seen it may find no wells at all (the
``other-scope`` preset: 0-13 of 36 per field). A person fixes that cheaply: per field, the
centres of three corner wells of the block, ``(0, 0)``, ``(0, n-1)`` and ``(n-1, 0)``, at
one frame (field px, (y, x), pixel (i, j) centred at (i, j)), and optionally the wells they
saw empty. ``FieldGridLabel`` turns that into the block's lattice (origin, row and column
vectors: the corner spans divided by ``n - 1``), every well's interior box (side
``layout.well_size_um / pixel_size_um``) and occupancy: a well not marked empty counts as
occupied, as the pipeline treats a well the detector missed (it is then cropped and
segmented; that costs time, never cells).

``check_grid_label`` refuses, naming the source and the problem, a label that does not fit
its chip: unknown field or frame, corners outside the field, a pitch more than
``PITCH_TOLERANCE`` off the chip's ``pitch_um``, corners that are not a square's (sides
unequal by more than ``SQUARE_TOLERANCE`` or not at right angles), empty wells outside the
block or named twice. The annotations store keeps labels per field (``store.write_grids``),
versioned with the chip's well records, and the well detector trains on them
(``lftiming_ml.wells.annotated``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lftiming_ml.annotations.schema import LabelSource
from lftiming_ml.annotations.validate import AnnotationError, check_label_source
from lftiming_ml.chip.manifest import ChipManifest

FORMAT = "lftiming.field_grid/1"
PITCH_TOLERANCE = 0.2
"""Largest relative difference between the clicked pitch and the chip's ``pitch_um``."""
SQUARE_TOLERANCE = 0.1
"""Largest relative difference between the row and column spans, and largest |cos| of their angle."""
CORNERS = ("top_left", "top_right", "bottom_left")
"""The three clicked wells: (0, 0), (0, n-1) and (n-1, 0) of the field's block."""

Point = tuple[float, float]


@dataclass(frozen=True)
class FieldGridLabel:
    """One field's well grid at ``frame``: the centres of its block's corner wells
    (``CORNERS``, field px (y, x)), the wells seen empty (``(row, col)``; None: occupancy
    not labelled, every well counts as occupied) and where the label came from."""

    chip_id: str
    field_id: str
    frame: int
    top_left: Point
    top_right: Point
    bottom_left: Point
    source: LabelSource
    empty: tuple[tuple[int, int], ...] | None = None

    def canonical(self) -> FieldGridLabel:
        pts = {k: (float(getattr(self, k)[0]), float(getattr(self, k)[1])) for k in CORNERS}
        empty = None if self.empty is None else tuple(sorted({(int(r), int(c)) for r, c in self.empty}))
        return replace(self, frame=int(self.frame), empty=empty, **pts)

    def meta(self) -> dict:
        c = self.canonical()
        return {"format": FORMAT, "chip_id": c.chip_id, "field_id": c.field_id, "frame": c.frame,
                **{k: list(getattr(c, k)) for k in CORNERS},
                "empty": None if c.empty is None else [list(w) for w in c.empty],
                "source": {"provenance": c.source.provenance, "time": c.source.time}}

    def content_hash(self) -> str:
        """sha256 of the canonical JSON (labels, provenance and time)."""
        return hashlib.sha256(json.dumps(self.meta(), sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def same_label(self, other: FieldGridLabel) -> bool:
        """Same grid, empties and provenance (times may differ)."""
        a, b = self.meta(), other.meta()
        a["source"].pop("time"), b["source"].pop("time")
        return a == b

    def lattice(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(origin, row_vector, col_vector)`` (field px, (y, x)) of an ``n x n`` block."""
        origin = np.asarray(self.top_left, np.float64)
        return (origin, (np.asarray(self.bottom_left, np.float64) - origin) / (n - 1),
                (np.asarray(self.top_right, np.float64) - origin) / (n - 1))

    def wells(self, manifest: ChipManifest) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every well of the block at ``frame``: ``rows_cols (int[n*n, 2])``, interior boxes
        ``(float[n*n, 4], (y0, x0, y1, x1) field px)`` and ``occupied (bool[n*n])``."""
        n = manifest.layout.wells_per_block
        origin, rv, cv = self.lattice(n)
        rc = np.array([(r, c) for r in range(n) for c in range(n)], np.int64)
        centres = origin + rc[:, :1] * rv + rc[:, 1:] * cv
        half = manifest.layout.well_size_um / manifest.pixel_size_um / 2
        boxes = np.concatenate([centres - half, centres + half], axis=1)
        empty = set(self.empty or ())
        occupied = np.array([(int(r), int(c)) not in empty for r, c in rc], bool)
        return rc, boxes, occupied


def check_grid_label(label: FieldGridLabel, manifest: ChipManifest, *, source: str | Path | None = None) -> None:
    """AnnotationError naming ``source`` (or the label) when ``label`` does not fit its chip
    (module docstring)."""
    where = source or f"{label.chip_id}:{label.field_id} grid"
    if label.chip_id != manifest.chip_id:
        raise AnnotationError(where, f"grid of chip {label.chip_id!r} cannot go into chip {manifest.chip_id!r}")
    fields = [f.field_id for f in manifest.fields]
    if label.field_id not in fields:
        raise AnnotationError(where, f"chip {manifest.chip_id} has no field {label.field_id!r} (fields: {', '.join(fields)})")
    if not 0 <= int(label.frame) < manifest.n_frames:
        raise AnnotationError(where, f"frame {label.frame} is outside the movie (0..{manifest.n_frames - 1})")
    check_label_source(label.source, where, "grid")
    h, w = manifest.field_shape
    for k in CORNERS:
        y, x = getattr(label, k)
        if not (np.isfinite(y) and np.isfinite(x)):
            raise AnnotationError(where, f"{k} well centre ({y}, {x}) is not a number")
        if not (-0.5 <= y <= h - 0.5 and -0.5 <= x <= w - 0.5):
            raise AnnotationError(where, f"{k} well centre (y {y:.1f}, x {x:.1f}) lies outside the {h} x {w} px field")
    n = manifest.layout.wells_per_block
    _, rv, cv = label.lattice(n)
    pitch = manifest.layout.pitch_um / manifest.pixel_size_um
    row_p, col_p = float(np.linalg.norm(rv)), float(np.linalg.norm(cv))
    for name, p in (("top_left -> bottom_left", row_p), ("top_left -> top_right", col_p)):
        if abs(p / pitch - 1) > PITCH_TOLERANCE:
            raise AnnotationError(where, f"{name} spans {n - 1} wells of {p:.1f} px, but the chip's pitch is "
                                         f"{pitch:.1f} px ({manifest.layout.pitch_um} um at {manifest.pixel_size_um} "
                                         f"um/px): are these the centres of wells (0,0), (0,{n - 1}) and ({n - 1},0)?")
    if abs(row_p / col_p - 1) > SQUARE_TOLERANCE:
        raise AnnotationError(where, f"the corners are not a square's: rows {row_p:.1f} px apart, columns {col_p:.1f} px")
    cos = float(np.dot(rv, cv) / (row_p * col_p))
    if abs(cos) > SQUARE_TOLERANCE:
        raise AnnotationError(where, f"rows and columns meet at {np.degrees(np.arccos(cos)):.0f} degrees, not 90")
    if rv[0] * cv[1] - rv[1] * cv[0] < 0:
        raise AnnotationError(where, "top_right and bottom_left are swapped (rows run down, columns to the right)")
    if label.empty is not None:
        seen = set()
        for r, c in label.empty:
            if not (0 <= int(r) < n and 0 <= int(c) < n):
                raise AnnotationError(where, f"empty well r{r}c{c} is outside the {n} x {n} block")
            if (int(r), int(c)) in seen:
                raise AnnotationError(where, f"empty well r{r}c{c} is named twice")
            seen.add((int(r), int(c)))


def grid_label_from_json(d: dict, *, source: str | Path) -> FieldGridLabel:
    """A label from its ``meta`` JSON (AnnotationError naming ``source`` when malformed)."""
    try:
        if d.get("format") != FORMAT:
            raise ValueError(f"format {d.get('format')!r} is not {FORMAT!r}")
        pts = {k: (float(d[k][0]), float(d[k][1])) for k in CORNERS}
        empty = None if d.get("empty") is None else tuple((int(r), int(c)) for r, c in d["empty"])
        return FieldGridLabel(chip_id=str(d["chip_id"]), field_id=str(d["field_id"]), frame=int(d["frame"]),
                              source=LabelSource(d["source"]["provenance"], d["source"]["time"]), empty=empty, **pts)
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise AnnotationError(source, f"not a readable well-grid label ({type(e).__name__}: {e})") from None


def parse_point(text: str) -> Point:
    """``"y,x"`` (field px) -> ``(y, x)``; ValueError naming the form."""
    try:
        y, x = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"well centre {text!r} is not 'y,x' in field px, e.g. 108.9,102.0") from None
    return y, x


__all__ = ["CORNERS", "FORMAT", "FieldGridLabel", "PITCH_TOLERANCE", "SQUARE_TOLERANCE", "check_grid_label",
           "grid_label_from_json", "parse_point"]
