"""Inputs of the interaction stage built from a simulated chip's ground truth (``gt/``).

This is the evaluation side: it reads ``gt/`` (through ``truth.files``) so benchmarks and
tests can feed the library true tracks, types, deaths and masks, and score it against true
contacts. The inference path never imports it.

``truth_inputs`` gives the ``tracks`` table of ``contacts.TRACK_COLUMNS``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import zarr

from lftiming_ml.interactions.config import ContactParams, KineticsParams
from lftiming_ml.interactions.contacts import FRAME_COLUMNS, TRACK_COLUMNS, WellMasks, contact_events
from lftiming_ml.interactions.kinetics import KineticsTables, chip_kinetics
from lftiming_ml.interactions.timing import ChipTiming, chip_timing
from lftiming_ml.truth.files import open_masks, read_cells, read_contacts, read_wells



class _ZarrWellMasks(Mapping):
    """(field_id, row, col) -> ``WellMasks`` read lazily from ``gt/masks.zarr``."""

    def __init__(self, root: zarr.Group, n_frames: int) -> None:
        self._root, self._n_frames = root, n_frames
        self._keys = [(f, int(name[1:].split("c")[0]), int(name.split("c")[1]))
                      for f in sorted(root.group_keys()) for name in sorted(root[f].group_keys())]

    def __getitem__(self, key: tuple[str, int, int]) -> WellMasks:
        field_id, row, col = key
        group = self._root[f"{field_id}/r{row}c{col}"]
        ids = np.asarray(group.attrs["cell_ids"], dtype=np.int64)
        masks = group["amodal"] if "amodal" in group else np.zeros((self._n_frames, 0, 1, 1), bool)
        return WellMasks(track_ids=ids, masks=masks)

    def __iter__(self) -> Iterator[tuple[str, int, int]]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def truth_inputs(chip_dir: Path | str) -> tuple[pd.DataFrame, Mapping[tuple[str, int, int], WellMasks], ChipTiming]:
    """The library's inputs from a simulated chip's truth: ``(tracks, masks_by_well, timing)``.

    tracks: ``contacts.TRACK_COLUMNS``; cell ids become track ids, y/x are moved from
    field px into the well crop with the per-frame crop origin of ``gt/wells.parquet``.
    masks_by_well: (field_id, row, col) -> ``WellMasks`` over ``gt/masks.zarr`` amodal masks
    (``bool[T, N, S, S]``, lazy).
    """
    chip_dir = Path(chip_dir)
    timing = chip_timing(chip_dir)
    cells = read_cells(chip_dir)
    wells = read_wells(chip_dir,
                       columns=["field_id", "row", "col", "frame", "crop_y0", "crop_x0"])
    t = cells.merge(wells, on=["field_id", "row", "col", "frame"], how="left", validate="many_to_one")
    death = t.loc[~t["alive"]].groupby(["field_id", "row", "col", "cell_id"])["frame"].min().rename("death_frame")
    t = t.merge(death, on=["field_id", "row", "col", "cell_id"], how="left")
    tracks = pd.DataFrame({
        "chip_id": timing.chip_id, "field_id": t["field_id"], "row": t["row"].astype("int64"),
        "col": t["col"].astype("int64"), "track_id": t["cell_id"].astype("int64"),
        "frame": t["frame"].astype("int64"), "y": t["y"] - t["crop_y0"], "x": t["x"] - t["crop_x0"],
        "area": t["area"].astype("int64"), "cell_type": t["type"], "alive": t["alive"].astype(bool),
        "death_frame": t["death_frame"].astype("Int64"),
    })[TRACK_COLUMNS].sort_values(["field_id", "row", "col", "track_id", "frame"], ignore_index=True)
    root = open_masks(chip_dir)
    return tracks, _ZarrWellMasks(root, timing.n_frames), timing


def truth_contact_frames(chip_dir: Path | str, tracks: pd.DataFrame) -> pd.DataFrame:
    """True per-frame contacts in the ``contact_frames`` layout, from ``gt/contacts.parquet``.

    One row per effector-target pair per frame where both are present in ``tracks`` (the
    truth ``tracks`` of ``truth_inputs``); in_contact True where the truth lists the pair
    (amodal masks within 1 px), overlap_px from the truth, distance_um NaN (not recorded).
    ``conjugated_with`` (the biological conjugate) is not used: it is a different question.
    """
    chip_dir = Path(chip_dir)
    gt = read_contacts(chip_dir)
    et = gt[(gt["type_a"] != gt["type_b"])]
    eff_is_a = et["type_a"] == "effector"
    truth = pd.DataFrame({"field_id": et["field_id"], "row": et["row"].astype("int64"),
                          "col": et["col"].astype("int64"), "frame": et["frame"].astype("int64"),
                          "effector_id": np.where(eff_is_a, et["cell_a"], et["cell_b"]).astype("int64"),
                          "target_id": np.where(eff_is_a, et["cell_b"], et["cell_a"]).astype("int64"),
                          "overlap_px": et["overlap_px"].astype("int64")})
    keys = ["chip_id", "field_id", "row", "col", "frame"]
    cols = [*keys, "track_id"]
    eff = tracks.loc[tracks["cell_type"] == "effector", cols].rename(columns={"track_id": "effector_id"})
    tgt = tracks.loc[tracks["cell_type"] == "target", cols].rename(columns={"track_id": "target_id"})
    pairs = eff.merge(tgt, on=keys)
    out = pairs.merge(truth, on=[*keys[1:], "effector_id", "target_id"], how="left", indicator=True)
    out["in_contact"] = out.pop("_merge").eq("both")
    out["overlap_px"] = out["overlap_px"].fillna(0).astype("int64")
    out["distance_um"] = np.nan
    return out[FRAME_COLUMNS].sort_values(["field_id", "row", "col", "effector_id", "target_id", "frame"],
                                          ignore_index=True)


@dataclass(frozen=True)
class TruthInteractions:
    """The truth to score the interaction stage against (same layouts as the library's output)."""

    frames: pd.DataFrame
    events: pd.DataFrame
    kinetics: KineticsTables


def truth_interactions(chip_dir: Path | str, *, contact: ContactParams = ContactParams(),
                       kinetics: KineticsParams = KineticsParams()) -> TruthInteractions:
    """True contacts and kinetics of a simulated chip.

    Contacts per frame are ``gt/contacts.parquet`` (``truth_contact_frames``); events and
    kinetics apply the library's definitions (``contact_events`` with ``contact``'s gap
    merging, ``chip_kinetics``) to them and to the true tracks and deaths, so a difference
    from the library's output is an error of its inputs or of its contact detection, never
    of a differing definition.
    """
    tracks, _, timing = truth_inputs(chip_dir)
    frames = truth_contact_frames(chip_dir, tracks)
    events = contact_events(frames, frame_interval_min=timing.frame_interval_min, params=contact)
    tables = chip_kinetics(tracks, frames, events, pixel_size_um=timing.pixel_size_um,
                           frame_interval_min=timing.frame_interval_min, n_frames=timing.n_frames, params=kinetics)
    return TruthInteractions(frames=frames, events=events, kinetics=tables)
