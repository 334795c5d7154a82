"""A second mask for every training view: the segmenter's, as the tracker will see the cell.

The embedding reads a cell's phase cut out at its mask (``model.stack_inputs``), so it
learns whatever the masks of its training tracks look like. Trained only on the simulator's
true amodal masks, it moves when the pipeline's LOCSNET masks differ from them: on the
LOCSNET detections of tuning chips 43/44 the median cosine between a cell's embedding on
its LOCSNET mask and on its true mask was 0.978 (0.937 where the areas differ by 10% or more),
while the mean embeddings of two look-alike cells of a well are ~0.99 apart, and
tracking those detections with the true-mask embeddings instead made 473 instead of 598
identity switches (``benchmarks/tracking_cues.py``, the re-ID bundle of 2026-12-05; with the bundle
trained on both kinds of masks: 0.981, 0.953, 484 and 566).

``attach_segmented_masks`` runs a segmenter on every truth well crop of a simulated chip and
gives each true cell's track a second mask per frame: per frame the instances are matched
one-to-one to the true amodal masks by IoU (Hungarian, pairs of IoU >= ``min_iou`` only);
a matched cell's second mask is the instance, an unmatched one's (missed, merged) its true
mask again. Training (``engine``) draws either mask for each view of a cell, so views of
one cell on both kinds of masks are positives of each other: the embedding learns to
ignore how the segmenter's masks differ from the truth. ``segmented_view`` is a track on its
second masks, what validation scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from lftiming_ml.chip.manifest import ChannelRole
from lftiming_ml.classification.data import iter_truth_well_crops
from lftiming_ml.classification.sequences import TrackSequence, extract_patches

SEGMENTED_MASK = "segmented_mask"
"""``TrackSequence.meta`` key of a track's second masks (bool[T, P, P], like ``mask``)."""

SegmentMasks = Callable[[np.ndarray], Sequence[np.ndarray]]
"""``crops (uint16[B, H, W])`` -> per crop the instance masks ``bool[n, H, W]`` (e.g. a
``segmentation.serving.SegmentFn``'s ``Instances.masks``)."""


def match_instances(truth: np.ndarray, instances: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """One-to-one (true index, instance index) pairs of ``truth (bool[N, H, W])`` and
    ``instances (bool[n, H, W])`` maximising the summed IoU, each pair's IoU >= ``min_iou``."""
    if len(truth) == 0 or len(instances) == 0:
        return []
    a = truth.reshape(len(truth), -1).astype(np.float32)
    b = instances.reshape(len(instances), -1).astype(np.float32)
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    rows, cols = linear_sum_assignment(-iou)
    return [(int(i), int(j)) for i, j in zip(rows, cols) if iou[i, j] >= min_iou]


def attach_segmented_masks(chip_dir: Path | str, tracks: Sequence[TrackSequence], segment: SegmentMasks, *,
                           min_iou: float = 0.5) -> tuple[int, int]:
    """Give every track of ``tracks`` (``classification.data.load_chip_tracks`` of
    ``chip_dir``) its second masks in ``meta[SEGMENTED_MASK]`` (module docstring), cut at the
    track's own centroids. Returns (frames matched, frames in all)."""
    chip_dir = Path(chip_dir)
    by_cell = {(t.meta["field_id"], t.meta["row"], t.meta["col"], t.meta["track_id"]): t for t in tracks
               if t.meta.get("chip_id") == chip_dir.name}
    n_matched = n_frames_all = 0
    for w in iter_truth_well_crops(chip_dir, (ChannelRole.phase,)):
        cells = [(i, by_cell.get((w.field_id, w.row, w.col, c))) for i, c in enumerate(w.cell_ids)]
        if not any(t is not None for _, t in cells):
            continue
        found = segment(np.clip(w.crops[ChannelRole.phase], 0, 65535).astype(np.uint16))
        second = w.amodal.copy()  # [T, N, S, S]: the instance where matched, else the truth
        matched = np.zeros(w.amodal.shape[:2], bool)
        for t in range(len(w.amodal)):
            present = np.flatnonzero(w.amodal[t].reshape(w.amodal.shape[1], -1).any(1))
            for i, j in match_instances(w.amodal[t, present], np.asarray(found[t], bool), min_iou):
                second[t, present[i]] = found[t][j]
                matched[t, present[i]] = True
        for i, track in cells:
            if track is None:
                continue
            dummy = np.zeros((len(track), *second.shape[2:]), np.float32)
            track.meta[SEGMENTED_MASK] = extract_patches(dummy, second[track.frames, i], track.centroids,
                                                         track.mask.shape[-1])[1]
            n_matched += int(matched[track.frames, i].sum())
            n_frames_all += len(track)
    missing = [k for k, t in by_cell.items() if SEGMENTED_MASK not in t.meta]
    if missing:
        raise ValueError(f"{chip_dir}: {len(missing)} tracks have no truth well to segment, e.g. {missing[0]}")
    return n_matched, n_frames_all


def segmented_view(track: TrackSequence) -> TrackSequence:
    """``track`` on its second masks (``attach_segmented_masks``)."""
    return replace(track, mask=track.meta[SEGMENTED_MASK], meta=dict(track.meta))


__all__ = ["SEGMENTED_MASK", "SegmentMasks", "attach_segmented_masks", "match_instances", "segmented_view"]
