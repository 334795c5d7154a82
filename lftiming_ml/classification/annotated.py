"""Classifier (and re-identification) training tracks from curated labels, for fine-tuning.

Each track of a selected well record (``annotations.selection``: only labels of the
selection's provenances) becomes a ``sequences.TrackSequence`` cut by the same
``track_sequence`` the pipeline's inference uses, from the phase channel of the well movie
(``store.movies.open_well_phase``, canonical crop px) and the record's mask of the track in
every frame it has one (centroid: the mask's centre of mass, as the tracker's). Labels:
``cell_type`` from the track's type (UNLABELLED without one), ``apoptotic`` 0 before and 1
from its death frame, all 0 for "never dies", None when the death is unlabelled (the
apoptosis classifier then leaves the track out). ``meta['source']`` is ``annotations``; the
track id is the record's slot, so the re-identification embedding can use identities.

The annotations store and the well movies (and the store's duckdb) are imported when a run
selects annotations, so the offline trainers load without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lftiming_ml.classification.config import ClassifierProfile
from lftiming_ml.classification.labels import EFFECTOR, TARGET, UNLABELLED, frame_labels
from lftiming_ml.classification.sequences import TrackSequence, normalise_phase, track_sequence
from lftiming_ml.corpus import AnnotationCorpus

if TYPE_CHECKING:
    from lftiming_ml.annotations.selection import ResolvedSelection
    from lftiming_ml.store.layout import DataLayout

TYPE_CODES = {"effector": EFFECTOR, "target": TARGET}


def annotated_tracks(selection: ResolvedSelection, *, profile: ClassifierProfile) -> list[TrackSequence]:
    """Labelled sequences of every track of the selection's wells (module docstring)."""
    from lftiming_ml.store.movies import open_well_phase

    out: list[TrackSequence] = []
    for record, _ in selection.records():
        present = record.masks.any(axis=(2, 3))  # [T, K]
        if not present.any():
            continue
        phase, info = open_well_phase(selection.chip.zarr_path, record.field_id, record.row, record.col)
        phase_norm = normalise_phase(phase, profile.phase_gain)
        grid = np.arange(record.masks.shape[-1], dtype=float)
        for label in record.tracks:
            frames = np.flatnonzero(present[:, label.track_id])
            if frames.size == 0:
                continue
            m = record.masks[frames, label.track_id]
            area = m.sum(axis=(1, 2)).astype(float)
            cents = np.stack([m.sum(2) @ grid, m.sum(1) @ grid], axis=1) / area[:, None]
            seq = track_sequence(phase_norm, record.masks[:, label.track_id], frames, cents, profile=profile,
                                 um_per_px=info.um_per_px, frame_interval_min=info.frame_interval_min,
                                 meta={"source": "annotations", "chip_id": record.chip_id, "field_id": record.field_id,
                                       "row": record.row, "col": record.col, "track_id": label.track_id,
                                       "parent": -1 if label.parent is None else label.parent,
                                       "annotations_version": selection.version})
            seq.cell_type = TYPE_CODES.get(label.cell_type, UNLABELLED) if label.type_source else UNLABELLED
            if label.death_source is not None:
                onset = None if label.death_frame is None else int(np.searchsorted(frames, label.death_frame))
                seq.apoptotic = frame_labels(len(frames), onset)
            out.append(seq)
    return out


def annotated_corpus_tracks(annotations: AnnotationCorpus | None, layout: DataLayout | None, *,
                            profile: ClassifierProfile) -> tuple[dict[str, list[TrackSequence]], list[dict]]:
    """Tracks of the selections by side (``train`` / ``validation``) and the manifest entry of
    each selection (``describe`` plus its ``tracks``). Resolving refuses a version the chip
    never had, naming it."""
    selections = annotations.selections if annotations else ()
    if selections and layout is None:
        raise ValueError("annotation selections need the data folder (layout) that holds their annotations")
    out: dict[str, list[TrackSequence]] = {"train": [], "validation": []}
    entries = []
    if not selections:
        return out, entries
    from lftiming_ml.annotations.selection import resolve_selection

    for r in [resolve_selection(layout, s) for s in selections]:
        tracks = annotated_tracks(r, profile=profile)
        out[r.selection.split] += tracks
        entries.append({**r.describe(), "samples": len(tracks)})
    return out, entries


__all__ = ["annotated_corpus_tracks", "annotated_tracks"]
