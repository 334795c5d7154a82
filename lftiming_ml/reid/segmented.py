"""Training tracks on a segmenter's masks: true identities, the masks the tracker will see.

The embedding reads a cell's phase cut out at its mask (``model.stack_inputs``), so it
learns whatever the masks of its training tracks look like. Trained only on the simulator's
true amodal masks, it moves when the pipeline's LOCSNET masks differ from them: on the
LOCSNET detections of tuning chips 43/44 the median cosine between a cell's embedding on
its LOCSNET mask and on its true mask was 0.98 (0.93-0.94 where the areas differ by more
than 10%), while the mean embeddings of two look-alike cells of a well are ~0.99 apart, and
tracking those detections with the true-mask embeddings instead made 473 instead of 598
identity switches.

``segmented_chip_tracks`` runs a segmenter on every truth well crop of a simulated chip
and keeps each true cell's identity on the instances it finds: per frame the instances are
matched one-to-one to the true amodal masks by IoU (Hungarian, pairs of IoU >=
``min_iou`` only); a cell's track is the frames it was matched in, its mask the instance's.
Cells the segmenter missed or merged in a frame are left out of that frame, not guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from lftiming_ml.chip.manifest import ChannelRole
from lftiming_ml.chip.reader import read_manifest
from lftiming_ml.classification.config import ClassifierProfile
from lftiming_ml.classification.data import iter_truth_well_crops, mask_centroids
from lftiming_ml.classification.sequences import TrackSequence, normalise_phase, track_sequence
from lftiming_ml.truth.files import read_cells

SEGMENTED_SUFFIX = "#segmented"
"""Appended to a segmented track's ``meta['chip_id']``: its wells are drawn apart from the
same chip's true-mask wells (``engine.wells_of`` groups by chip, field, row, col)."""

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


def segmented_chip_tracks(chip_dir: Path | str, segment: SegmentMasks, *, profile: ClassifierProfile,
                          min_iou: float = 0.5) -> list[TrackSequence]:
    """Every true cell of a simulated chip on ``segment``'s masks (module docstring), cut as
    ``classification.data.load_chip_tracks`` cuts true-mask tracks; ``true_type`` attached,
    no fluorescence labels. A cell matched in fewer than two frames gives no track."""
    chip_dir = Path(chip_dir)
    manifest = read_manifest(chip_dir)
    types = read_cells(chip_dir, columns=["field_id", "row", "col", "cell_id", "type"]).dropna(subset=["type"])
    type_of = {(str(f), int(r), int(c), int(i)): str(t) for f, r, c, i, t in
               types.drop_duplicates(["field_id", "row", "col", "cell_id"]).itertuples(index=False)}
    out: list[TrackSequence] = []
    for w in iter_truth_well_crops(chip_dir, (ChannelRole.phase,)):
        crops = w.crops[ChannelRole.phase]
        found = segment(np.clip(crops, 0, 65535).astype(np.uint16))
        n_frames, n_cells = w.amodal.shape[:2]
        masks = np.zeros((n_cells, *w.amodal[:, 0].shape), bool)  # [N, T, S, S]
        matched = np.zeros((n_frames, n_cells), bool)
        for t in range(n_frames):
            present = np.flatnonzero(w.amodal[t].reshape(n_cells, -1).any(1))
            for i, j in match_instances(w.amodal[t, present], np.asarray(found[t], bool), min_iou):
                masks[present[i], t] = found[t][j]
                matched[t, present[i]] = True
        phase = normalise_phase(crops, profile.phase_gain)
        for i, cell_id in enumerate(w.cell_ids):
            frames = np.flatnonzero(matched[:, i])
            if frames.size < 2:
                continue
            seq = track_sequence(phase, masks[i], frames, mask_centroids(masks[i, frames]), profile=profile,
                                 um_per_px=manifest.pixel_size_um, frame_interval_min=manifest.frame_interval_min,
                                 meta={"chip_id": chip_dir.name + SEGMENTED_SUFFIX, "field_id": w.field_id,
                                       "row": w.row, "col": w.col, "track_id": cell_id, "parent": -1})
            seq.true_type = type_of.get((w.field_id, w.row, w.col, cell_id))
            out.append(seq)
    return out


__all__ = ["SEGMENTED_SUFFIX", "SegmentMasks", "match_instances", "segmented_chip_tracks"]
