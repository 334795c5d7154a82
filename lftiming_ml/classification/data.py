"""Training sequences of the classifiers from simulated chips (``load_chip_tracks``).

A simulated chip's truth tracks and amodal masks (``gt/``, read through
``lftiming_ml.truth``), its raw phase stack, and *labels from fluorescence*
(``labels.label_well`` on the effector dye, target dye and Annexin V stacks) become
``sequences.TrackSequence``s, cut by the same functions the pipeline's inference uses.
Truth type / alive are attached only to report the label error rate and to score
benchmarks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lftiming_ml.chip.manifest import ChannelRole
from lftiming_ml.chip.reader import read_manifest, read_stack
from lftiming_ml.classification.config import ClassifierProfile, LabellerParams
from lftiming_ml.classification.labels import UNLABELLED, frame_labels, label_well
from lftiming_ml.classification.sequences import TrackSequence, normalise_phase, track_sequence
from lftiming_ml.truth.files import open_masks, read_cells, read_wells
from lftiming_ml.truth.strata import well_strata

@dataclass(frozen=True)
class TruthWellCrops:
    """One truth well of a simulated chip: its channel crops (``float32[T, S, S]`` per
    ``ChannelRole``, cut from the field stacks at the truth crop origins of
    ``gt/wells.parquet``, the frame of ``gt/masks.zarr``), its amodal masks
    (``bool[T, N, S, S]``) and ``cell_ids (list[int])`` in mask order."""

    field_id: str
    row: int
    col: int
    crops: dict
    amodal: np.ndarray
    cell_ids: list[int]


def iter_truth_well_crops(chip_dir: Path | str, roles: Sequence[ChannelRole]) -> Iterator[TruthWellCrops]:
    """Every truth well with amodal masks of a simulated chip, field by field (each field's
    stacks of ``roles`` read once)."""
    chip_dir = Path(chip_dir)
    manifest = read_manifest(chip_dir)
    wells = read_wells(chip_dir)
    root = open_masks(chip_dir)
    for field_id, fw in wells.groupby("field_id", sort=True):
        stacks = {r: read_stack(chip_dir, manifest, str(field_id), r) for r in roles}
        for (row, col), ww in fw.groupby(["row", "col"], sort=True):
            group = root[f"{field_id}/r{row}c{col}"]
            if "amodal" not in group:
                continue
            amodal = np.asarray(group["amodal"][:])
            ww = ww.sort_values("frame")
            size = amodal.shape[-1]
            crops = {r: np.stack([s[t, y:y + size, x:x + size] for t, y, x in
                                  zip(ww["frame"], ww["crop_y0"], ww["crop_x0"])]).astype(np.float32)
                     for r, s in stacks.items()}
            yield TruthWellCrops(str(field_id), int(row), int(col), crops, amodal,
                                 [int(i) for i in group.attrs["cell_ids"]])


def mask_centroids(masks: np.ndarray) -> np.ndarray:
    """Centre of mass (y, x) px of each of ``masks (bool[n, S, S])`` (non-empty): float[n, 2]
    (as the tracker's centroids)."""
    m = np.asarray(masks, bool)
    size = m.shape[-1]
    area = m.sum(axis=(1, 2)).astype(float)
    cents = np.stack([(m.sum(2) * np.arange(size)).sum(1), (m.sum(1) * np.arange(size)).sum(1)], 1)
    return cents / area[:, None]


def load_chip_tracks(chip_dir: Path | str, *, profile: ClassifierProfile,
                     labeller: LabellerParams = LabellerParams()) -> list[TrackSequence]:
    """Every truth track of a simulated chip with fluorescence labels (and truth attached).

    Per well (``iter_truth_well_crops``), a track is a truth cell over the frames its amodal
    mask is non-empty; its centroid is the mask's centre of mass (as the tracker's); its
    ``meta['parent']`` the truth's ``parent_id`` (the mother ends at mitosis and both
    daughters are new cells with parent_id = mother).
    """
    chip_dir = Path(chip_dir)
    manifest = read_manifest(chip_dir)
    cells = read_cells(chip_dir,
                       columns=["field_id", "row", "col", "cell_id", "frame", "type", "alive", "parent_id"])
    truth = cells.set_index(["field_id", "row", "col", "cell_id", "frame"]).sort_index()
    strata = well_strata(chip_dir)
    roles = (ChannelRole.phase, ChannelRole.effector_dye, ChannelRole.target_dye, ChannelRole.death_marker)
    out: list[TrackSequence] = []
    for w in iter_truth_well_crops(chip_dir, roles):
        field_id, row, col, crops, amodal = w.field_id, w.row, w.col, w.crops, w.amodal
        labels = label_well(crops[ChannelRole.effector_dye], crops[ChannelRole.target_dye],
                            crops[ChannelRole.death_marker], amodal, labeller)
        phase = normalise_phase(crops[ChannelRole.phase], profile.phase_gain)
        info = strata.loc[(field_id, row, col)]
        for i, cell_id in enumerate(w.cell_ids):
            present = np.flatnonzero(amodal[:, i].reshape(len(amodal), -1).any(1))
            if present.size == 0:
                continue
            seq = track_sequence(phase, amodal[:, i], present, mask_centroids(amodal[present, i]), profile=profile,
                                 um_per_px=manifest.pixel_size_um, frame_interval_min=manifest.frame_interval_min,
                                 meta={"chip_id": chip_dir.name, "field_id": field_id, "row": row,
                                       "col": col, "track_id": cell_id,
                                       "parent": int(truth.loc[(field_id, row, col, cell_id), "parent_id"].iloc[0]),
                                       "stratum": str(info["stratum"]),
                                       "contact_rich": bool(info["contact_rich"])})
            onset = labels.onset[i]
            seq.cell_type = int(labels.cell_type[i])
            seq.apoptotic = frame_labels(len(present), None if onset is None else
                                         int(np.searchsorted(present, onset)))
            rows = truth.loc[(field_id, row, col, cell_id)].reindex(present)
            seq.true_type = str(rows["type"].dropna().iloc[0]) if rows["type"].notna().any() else None
            seq.true_alive = rows["alive"].fillna(True).to_numpy(bool)
            out.append(seq)
    return out


def label_error_rates(tracks: Sequence[TrackSequence]) -> dict[str, float]:
    """How the fluorescence labels of ``tracks`` compare with the simulator's truth:
    type_unlabelled (share of tracks left out), type_error (wrong among labelled tracks),
    apoptosis_frame_error (frames whose alive/apoptotic label disagrees), onset_abs_error_mean
    (frames, tracks that die in both), onset_missed / onset_spurious (tracks)."""
    typed = [t for t in tracks if t.true_type is not None]
    labelled = [t for t in typed if t.cell_type != UNLABELLED]
    wrong = sum((t.cell_type == 1) != (t.true_type == "effector") for t in labelled)
    frames = [(t.apoptotic.astype(bool), ~t.true_alive) for t in tracks if t.true_alive is not None]
    n_frames = sum(len(a) for a, _ in frames)
    errors = sum(int((a != b).sum()) for a, b in frames)
    both = [abs(t.label_death_frame - t.true_death_frame) for t in tracks
            if t.true_death_frame is not None and t.label_death_frame is not None]
    return {
        "n_tracks": float(len(tracks)),
        "type_unlabelled": 1 - len(labelled) / max(len(typed), 1),
        "type_error": wrong / max(len(labelled), 1),
        "apoptosis_frame_error": errors / max(n_frames, 1),
        "onset_abs_error_mean": float(np.mean(both)) if both else float("nan"),
        "onset_missed": float(sum(t.true_death_frame is not None and t.label_death_frame is None for t in tracks)),
        "onset_spurious": float(sum(t.true_death_frame is None and t.label_death_frame is not None for t in tracks)),
        "n_true_deaths": float(sum(t.true_death_frame is not None for t in tracks)),
    }


# --- inference tracks from the pipeline -----------------------------------------------------


__all__ = ["TruthWellCrops", "iter_truth_well_crops", "label_error_rates", "load_chip_tracks", "mask_centroids"]
