"""Well-detector training samples from curated grid labels (a lab's own chips).

A field with a grid label (``annotations.grid.FieldGridLabel``: three clicked corner wells)
gives samples at the label's frame and at the recipe's ``frames`` (as the simulated corpus
does, for drift and focus variety): the labelled boxes moved by the field's measured drift
(``drift.estimate_drift`` against the label's frame; the grid is rigid over a movie), wells
less than half inside the image left out (``dataset.visible_wells``), occupancy from the
label (a well not marked empty counts as occupied).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lftiming_ml.annotations.grid import FieldGridLabel
from lftiming_ml.annotations.selection import ResolvedSelection
from lftiming_ml.chip import read_manifest, read_stack
from lftiming_ml.chip.manifest import ChannelRole, ChipManifest
from lftiming_ml.viz import draw_boxes, png_bytes, stretch
from lftiming_ml.wells.config import WellGridParams
from lftiming_ml.wells.dataset import FieldSample, visible_wells
from lftiming_ml.wells.drift import estimate_drift


def grid_label_samples(chip_dir, manifest: ChipManifest, labels: Sequence[FieldGridLabel],
                       frames: Sequence[int]) -> list[FieldSample]:
    """The samples of ``labels`` (fields of the raw chip at ``chip_dir``) at their own frame
    and ``frames`` (clipped to the movie, duplicates dropped)."""
    out = []
    for label in labels:
        stack = read_stack(chip_dir, manifest, label.field_id, ChannelRole.phase)
        use = sorted({label.frame, *(min(max(int(f), 0), manifest.n_frames - 1) for f in frames)})
        drift = estimate_drift(stack, params=WellGridParams(), reference=label.frame) if len(use) > 1 else None
        _, boxes, occupied = label.wells(manifest)
        for t in use:
            shift = np.zeros(2) if drift is None else drift[t]
            moved = boxes + np.concatenate([shift, shift])[None]
            kept, keep = visible_wells(moved, stack.shape[1:])
            out.append(FieldSample(manifest.chip_id, label.field_id, int(t), stack[t], kept, occupied[keep]))
    return out


def grid_label_preview(chip_dir, manifest: ChipManifest, label: FieldGridLabel) -> bytes:
    """PNG of the label's frame of its field with every well box the label gives (occupied
    yellow, empty blue): what a person checks their three clicks against."""
    frame = read_stack(chip_dir, manifest, label.field_id, ChannelRole.phase)[label.frame]
    _, boxes, occupied = label.wells(manifest)
    image = draw_boxes(stretch(frame), boxes, [(255, 200, 0) if o else (0, 160, 255) for o in occupied])
    return png_bytes(image, max_side=768)


def annotated_field_samples(resolved: ResolvedSelection, frames: Sequence[int]) -> list[FieldSample]:
    """Samples of every grid label the selection keeps (``ResolvedSelection.grids``)."""
    labels = list(resolved.grids())
    if not labels:
        return []
    raw = resolved.chip.raw_dir
    return grid_label_samples(raw, read_manifest(raw), labels, frames)


__all__ = ["annotated_field_samples", "grid_label_preview", "grid_label_samples"]
