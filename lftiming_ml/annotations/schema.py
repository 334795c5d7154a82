"""A well's curated labels: the record the annotations store keeps, one per well.

``WellAnnotation`` holds, in the pipeline's well crop (the chip store's ``WellMovieInfo``):

- ``masks (bool[T, K, S, S])``: slot k is track k at frame t (track ids are 0..K-1 per
  well, as in ``store.tracks``); amodal where the source has them, so masks may overlap;
  all-False where the track is absent.
- ``tracks``: one ``TrackLabel`` per slot: ``cell_type`` ('effector' | 'target' | None),
  ``death_frame`` (first frame dead; None), ``parent`` (mother track by mitosis, or None),
  each label with the ``LabelSource`` it came from. A type or death with a source is a
  label ("never dies" is ``death_frame=None`` with a source); without one it is unlabelled.
- ``mask_source (int32[T, K])``: per track and frame, the index into ``sources`` of the
  mask's source, -1 where the mask is empty.

A ``LabelSource`` is a provenance and an ISO 8601 time (UTC). Provenances are one of
``human:<name>``, ``fluorescence``, ``model:<name>@<version>``, ``simulator``
(``check_provenance``).

``content_hash`` is the sha256 of the record's canonical bytes (labels, sources, times and
mask bits; not how they are compressed on disk): two records hash alike iff they hold the
same labels from the same sources. ``same_labels`` compares them without the times.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import numpy as np

CELL_TYPES = ("effector", "target")
PROVENANCE = re.compile(r"^(?:human:[A-Za-z0-9][A-Za-z0-9._@-]{0,63}|fluorescence|simulator"
                        r"|model:[A-Za-z0-9][A-Za-z0-9._-]{0,63}@[A-Za-z0-9][A-Za-z0-9._-]{0,31})$")
PROVENANCE_HELP = "human:<name>, fluorescence, model:<name>@<version> or simulator"
WELL_NAME = re.compile(r"^(?P<field_id>[A-Za-z0-9][A-Za-z0-9._-]{0,63})/r(?P<row>\d+)c(?P<col>\d+)$")


def check_provenance(value: str) -> str:
    """``value`` if it is a valid provenance (``PROVENANCE_HELP``), else ValueError."""
    if not isinstance(value, str) or not PROVENANCE.match(value):
        raise ValueError(f"provenance {value!r} is not one of {PROVENANCE_HELP}")
    return value


def utc_now() -> str:
    """Now as an ISO 8601 UTC time to the second, e.g. ``2026-12-01T10:00:00+00:00``."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def well_name(field_id: str, row: int, col: int) -> str:
    """A well's name in the annotations store and on the command line, ``<field_id>/r<row>c<col>``."""
    return f"{field_id}/r{int(row)}c{int(col)}"


def parse_well_name(name: str) -> tuple[str, int, int]:
    """``(field_id, row, col)`` of ``f000/r0c1`` (ValueError naming the expected form)."""
    m = WELL_NAME.match(name)
    if m is None:
        raise ValueError(f"well {name!r} is not of the form <field_id>/r<row>c<col>, e.g. f000/r0c1")
    return m["field_id"], int(m["row"]), int(m["col"])


@dataclass(frozen=True, order=True)
class LabelSource:
    """Where a label came from (``provenance``) and when (``time``, ISO 8601)."""

    provenance: str
    time: str

    @classmethod
    def now(cls, provenance: str) -> LabelSource:
        return cls(check_provenance(provenance), utc_now())


@dataclass(frozen=True)
class TrackLabel:
    """One track's labels; ``track_id`` is its slot in the well's masks."""

    track_id: int
    cell_type: str | None = None
    type_source: LabelSource | None = None
    death_frame: int | None = None
    death_source: LabelSource | None = None
    parent: int | None = None


@dataclass(frozen=True, eq=False)
class WellAnnotation:
    """A well's curated labels (module docstring). ``well_box`` is the well interior
    ``(y0, x0, y1, x1)`` in crop px (edge positions), from the chip store."""

    chip_id: str
    field_id: str
    row: int
    col: int
    well_box: tuple[float, float, float, float]
    masks: np.ndarray
    mask_source: np.ndarray
    sources: tuple[LabelSource, ...]
    tracks: tuple[TrackLabel, ...] = field(default=())

    @property
    def well(self) -> str:
        return well_name(self.field_id, self.row, self.col)

    @property
    def n_frames(self) -> int:
        return int(self.masks.shape[0])

    @property
    def n_tracks(self) -> int:
        return int(self.masks.shape[1])

    def mask_sources(self) -> list[list[LabelSource | None]]:
        """Per frame and track, the mask's source (None where empty)."""
        return [[self.sources[i] if i >= 0 else None for i in row] for row in self.mask_source.tolist()]

    def canonical(self) -> WellAnnotation:
        """The same record with ``sources`` sorted, unique and only those masks use."""
        used = sorted({self.sources[i] for i in np.unique(self.mask_source) if i >= 0})
        index = {s: i for i, s in enumerate(used)}
        remap = np.array([index.get(s, -1) for s in self.sources] + [-1], dtype=np.int32)
        return replace(self, masks=np.ascontiguousarray(self.masks, dtype=bool),
                       mask_source=remap[self.mask_source].astype(np.int32), sources=tuple(used))

    def meta(self) -> dict:
        """Everything but the arrays, as JSON-able data (the record's ``record.json``)."""
        def src(s: LabelSource | None) -> dict | None:
            return None if s is None else {"provenance": s.provenance, "time": s.time}

        return {
            "chip_id": self.chip_id, "field_id": self.field_id, "row": int(self.row), "col": int(self.col),
            "well_box": [float(v) for v in self.well_box], "shape": [int(v) for v in self.masks.shape],
            "sources": [src(s) for s in self.sources],
            "tracks": [{"track_id": int(t.track_id), "cell_type": t.cell_type, "type_source": src(t.type_source),
                        "death_frame": None if t.death_frame is None else int(t.death_frame),
                        "death_source": src(t.death_source),
                        "parent": None if t.parent is None else int(t.parent)} for t in self.tracks],
        }

    def content_hash(self) -> str:
        """sha256 (hex) of the canonical record: meta JSON, mask bits, mask sources."""
        c = self.canonical()
        h = hashlib.sha256(json.dumps(c.meta(), sort_keys=True, separators=(",", ":")).encode())
        h.update(np.packbits(c.masks, axis=None).tobytes())
        h.update(c.mask_source.astype("<i4").tobytes())
        return h.hexdigest()

    def labels_by_provenance(self) -> dict[str, dict[str, int]]:
        """Per provenance, how many labels it gave: ``masks`` (track-frames), ``cell_type``,
        ``death`` (tracks)."""
        out: dict[str, dict[str, int]] = {}

        def add(p: str, kind: str, n: int) -> None:
            if n:
                counts = out.setdefault(p, {"masks": 0, "cell_type": 0, "death": 0})
                counts[kind] += n

        idx, n = np.unique(self.mask_source[self.mask_source >= 0], return_counts=True)
        for i, k in zip(idx.tolist(), n.tolist()):
            add(self.sources[i].provenance, "masks", k)
        for t in self.tracks:
            if t.type_source is not None:
                add(t.type_source.provenance, "cell_type", 1)
            if t.death_source is not None:
                add(t.death_source.provenance, "death", 1)
        return dict(sorted(out.items()))

    def without_times(self) -> tuple:
        """The labels and provenances, times left out (for ``same_labels``)."""
        c = self.canonical()
        strip = lambda s: None if s is None else s.provenance  # noqa: E731
        mask_prov = np.array([s.provenance for s in c.sources] + [""], dtype=object)[c.mask_source]
        tracks = tuple((t.track_id, t.cell_type, strip(t.type_source), t.death_frame, strip(t.death_source), t.parent)
                       for t in c.tracks)
        return (c.chip_id, c.field_id, c.row, c.col, tuple(c.well_box), c.masks.shape,
                np.packbits(c.masks, axis=None).tobytes(), tuple(mask_prov.ravel().tolist()), tracks)


def same_labels(a: WellAnnotation, b: WellAnnotation) -> bool:
    """The two records hold the same labels with the same provenances (times may differ)."""
    return a.without_times() == b.without_times()


def mask_source_array(masks: np.ndarray, index: int) -> np.ndarray:
    """``int32[T, K]``: ``index`` where ``masks (bool[T, K, S, S])`` has pixels, else -1."""
    return np.where(masks.any(axis=(2, 3)), index, -1).astype(np.int32)


__all__ = ["CELL_TYPES", "PROVENANCE_HELP", "LabelSource", "TrackLabel", "WellAnnotation", "check_provenance",
           "mask_source_array", "parse_well_name", "same_labels", "utc_now", "well_name"]
