"""Overlapping per-track masks <-> one label image per frame, the form CTC and napari use.

**Flattening** (export): label ``k + 1`` is track ``k``; 0 is background. Where amodal masks
overlap, each frame is painted largest mask first, so the smaller cell is drawn on top
(ties: the higher track id on top): a small effector on a large target stays visible, as
it looks in phase contrast. A flat label image cannot hold the hidden part of a cell; the
export keeps the amodal record beside it (``exchange``) and an unedited track gets its
amodal masks back on import.

**CTC tracks** (``ctc_track_rows``): a CTC label must be present in every frame from its
begin to its end. A track with frames where it is absent (or hidden by the flattening) is
split into segments: the first keeps label ``k + 1``, each later one gets a new label
(``K + 1``, ``K + 2``, ...) whose parent is the segment before; a track that no frame shows
is refused. **Import** (``tracks_from_labels``) undoes it: a label that is its parent's
only child and begins after a gap of at least one frame continues its parent's track (the
CTC convention for a cell lost for a while); every other parent link is a division (our
``parent``). Track ids follow the first labels' order, so an exported, unedited well comes
back with its own track ids. Imported masks never overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lftiming_ml.annotations.validate import AnnotationError, check_contiguous_labels


def flatten_masks(masks: np.ndarray) -> np.ndarray:
    """``masks (bool[T, K, S, S])`` -> ``uint16[T, S, S]`` labels (track k -> k + 1, smaller
    masks painted over larger ones, ties: higher k on top)."""
    t_, k_, s_y, s_x = masks.shape
    if k_ >= 2**16 - 1:
        raise ValueError(f"{k_} tracks do not fit uint16 labels")
    out = np.zeros((t_, s_y, s_x), np.uint16)
    areas = masks.sum(axis=(2, 3))
    for t in range(t_):
        for k in sorted(range(k_), key=lambda k: (-areas[t, k], k)):
            if areas[t, k]:
                out[t][masks[t, k]] = k + 1
    return out


def runs(frames: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs ``(begin, end)`` (inclusive) of sorted frame indices."""
    if frames.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(frames) > 1)
    starts = np.r_[frames[0], frames[breaks + 1]]
    ends = np.r_[frames[breaks], frames[-1]]
    return [(int(b), int(e)) for b, e in zip(starts, ends)]


def ctc_track_rows(labels: np.ndarray, parents: Sequence[int | None], *,
                   source: str = "export") -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """CTC labels and ``man_track.txt`` rows ``(L, B, E, P)`` from flattened ``labels
    (uint16[T, S, S], track k = k + 1)`` and each track's parent track (None for none).

    Returns the relabelled stack (segments after a gap get new labels) and the rows sorted by L.
    Raises AnnotationError when a track is visible in no frame."""
    k_ = len(parents)
    present = np.stack([(labels == k + 1).any(axis=(1, 2)) for k in range(k_)], axis=1) if k_ else \
        np.zeros((labels.shape[0], 0), bool)
    out = labels.copy()
    segments: dict[int, list[tuple[int, int, int]]] = {}
    next_label = k_ + 1
    for k in range(k_):
        track_runs = runs(np.flatnonzero(present[:, k]))
        if not track_runs:
            raise AnnotationError(source, f"track {k} is hidden by other tracks in every frame (identical "
                                          "masks?): a flat label image cannot show it")
        segs = []
        for i, (b, e) in enumerate(track_runs):
            label = k + 1 if i == 0 else next_label
            if i:
                next_label += 1
                sl = out[b:e + 1]
                sl[sl == k + 1] = label
            segs.append((label, b, e))
        segments[k] = segs
    if next_label > 2**16 - 1:
        raise AnnotationError(source, "too many track segments for uint16 labels")
    rows = []
    for k, segs in segments.items():
        for i, (label, b, e) in enumerate(segs):
            if i:
                p = segs[i - 1][0]
            elif parents[k] is not None:
                p = segments[parents[k]][-1][0]  # the mother's last segment
            else:
                p = 0
            rows.append((label, b, e, p))
    return out.astype(np.uint16), sorted(rows)


@dataclass(frozen=True)
class ImportedTracks:
    """Tracks read from label images: ``masks (bool[T, K, S, S])`` (non-overlapping), each
    track's first CTC/napari label (``labels``, the key of ``cells.csv``) and ``parents``."""

    masks: np.ndarray
    labels: list[int]
    parents: list[int | None]


def tracks_from_labels(labels: np.ndarray, rows: Sequence[tuple[int, int, int, int]] | None, *,
                       source: str | Path, images: Sequence[str | Path] | None = None) -> ImportedTracks:
    """Tracks from ``labels (uint[T, S, S])`` and, for CTC, ``rows`` ``(L, B, E, P)`` of
    ``man_track.txt`` (None for napari: each label is one track, gaps allowed, no parents).

    Checks (AnnotationError naming ``source`` or the frame's file in ``images``): labels are
    1..N; every label of the images is in ``rows`` and back; each label is present exactly in
    frames B..E; labels are unique; parents are 0 or another label."""
    found = check_contiguous_labels(labels, source)
    present = {lab: np.flatnonzero((labels == lab).any(axis=(1, 2))) for lab in found}
    if rows is None:
        heads = found
        track_of = {lab: i for i, lab in enumerate(heads)}
        parents: list[int | None] = [None] * len(heads)
    else:
        table = {}
        for lab, b, e, p in rows:
            if lab in table:
                raise AnnotationError(source, f"label {lab} has two lines")
            table[lab] = (b, e, p)
        missing = sorted(set(found) - set(table))
        if missing:
            raise AnnotationError(source, f"labels {missing} are in the images but not in man_track.txt")
        extra = sorted(set(table) - set(found))
        if extra:
            raise AnnotationError(source, f"labels {extra} are in man_track.txt but in no image")
        for lab, (b, e, p) in sorted(table.items()):
            frames = present[lab]
            if not (frames.size == e - b + 1 and frames[0] == b and frames[-1] == e):
                where = runs(frames)
                bad = next((t for t in range(b, e + 1) if t not in set(frames.tolist())), None)
                file = f" ({images[bad]} lacks it)" if images is not None and bad is not None and bad < len(images) \
                    else ""
                raise AnnotationError(source, f"label {lab}: man_track.txt says frames {b}..{e} but the images "
                                              f"hold it in {where}{file}")
            if p != 0 and (p == lab or p not in table):
                raise AnnotationError(source, f"label {lab}: parent {p} is not another label of man_track.txt")
        children: dict[int, list[int]] = {}
        for lab, (_, _, p) in table.items():
            if p:
                children.setdefault(p, []).append(lab)
        continues = {lab for lab, (b, _, p) in table.items()
                     if p and len(children[p]) == 1 and b > table[p][1] + 1}
        heads = [lab for lab in sorted(table) if lab not in continues]
        track_of = {lab: i for i, lab in enumerate(heads)}
        for lab in sorted(continues, key=lambda lab: table[lab][0]):
            p = table[lab][2]
            if p not in track_of:
                raise AnnotationError(source, f"label {lab}: its parent chain {p} forms a cycle")
            track_of[lab] = track_of[p]
        parents = []
        for lab in heads:
            p = table[lab][2]
            parents.append(track_of[p] if p else None)
    masks = np.zeros((labels.shape[0], len(heads), *labels.shape[1:]), bool)
    for lab, k in track_of.items():
        masks[:, k] |= labels == lab
    return ImportedTracks(masks, list(heads), parents)


__all__ = ["ImportedTracks", "ctc_track_rows", "flatten_masks", "runs", "tracks_from_labels"]
