"""Ground truth as filmstrip views (``qa.views.WellView``), for prediction | truth pictures.

Per pipeline well paired with a true well (``truth.match``): the true amodal masks moved into
the pipeline's crop (slot k = the k-th true cell of the well), each cell's type and first
dead frame (``gt/cells.parquet``) and the effector-target pairs touching per frame
(``gt/contacts.parquet``), on the same phase crop as the prediction. Evaluation side: the
inference path never imports this; the report gets these views from its caller.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from lftiming_ml.annotations.schema import parse_well_name, well_name
from lftiming_ml.qa.views import WellView
from lftiming_ml.store.layout import ChipStore
from lftiming_ml.store.movies import list_well_movies, open_well_phase
from lftiming_ml.truth.files import has_truth, read_cells, read_contacts
from lftiming_ml.truth.match import iter_truth_masks_in_crops, pair_wells

TRUE_WELL = ["field_id", "row", "col"]


def chip_has_truth(chip: ChipStore) -> bool:
    """The chip has the truth a truth view needs (cells, contacts, masks)."""
    return has_truth(chip.raw_dir, "cells.parquet", "contacts.parquet", "masks.zarr")


def truth_well_views(chip: ChipStore, wells: Sequence[str]) -> dict[str, WellView]:
    """``well name -> WellView`` (label 'truth') of each of ``wells`` (``f000/r0c1``) that is
    cropped and paired with a true well; other wells are left out."""
    keys = {parse_well_name(w) for w in wells}
    infos = {(i.field_id, i.row, i.col): i for i in list_well_movies(chip.zarr_path) if i.cropped
             and (i.field_id, i.row, i.col) in keys}
    if not infos:
        return {}
    pairs = pair_wells(chip.raw_dir, list(infos.values()))
    cells = read_cells(chip.raw_dir, columns=[*TRUE_WELL, "cell_id", "frame", "type", "alive"])
    kinds = cells.groupby([*TRUE_WELL, "cell_id"])["type"].first()
    deaths = cells.loc[~cells["alive"]].groupby([*TRUE_WELL, "cell_id"])["frame"].min()
    contacts = read_contacts(chip.raw_dir)
    contacts = contacts[contacts["type_a"] != contacts["type_b"]]
    touching = {k: g for k, g in contacts.groupby(TRUE_WELL)}
    out = {}
    for well in iter_truth_masks_in_crops(chip.raw_dir, chip.zarr_path, only=set(infos)):
        key = (well.field_id, well.row, well.col)
        gt = pairs[key]
        ids = [int(i) for i in well.cell_ids]
        slot = {cell: k for k, cell in enumerate(ids)}
        types = {k: str(kinds[(*gt, cell)]) for k, cell in enumerate(ids)}
        death_frames = {k: int(deaths[(*gt, cell)]) for k, cell in enumerate(ids) if (*gt, cell) in deaths.index}
        phase, info = open_well_phase(chip.zarr_path, *key)
        out[well_name(*key)] = WellView(well_name(*key), "truth", phase, well.masks, types, death_frames,
                                        _contact_pairs(touching.get(gt), slot), info.frame_interval_min)
    return out


def _contact_pairs(rows: pd.DataFrame | None, slot: dict[int, int]) -> dict[int, list[tuple[int, int]]]:
    """frame -> [(effector slot, target slot)] of one true well's touching E-T pairs."""
    pairs: dict[int, list[tuple[int, int]]] = {}
    if rows is None:
        return pairs
    for frame, a, b, type_a in rows[["frame", "cell_a", "cell_b", "type_a"]].itertuples(index=False):
        if int(a) in slot and int(b) in slot:
            e, t = (a, b) if type_a == "effector" else (b, a)
            pairs.setdefault(int(frame), []).append((slot[int(e)], slot[int(t)]))
    return pairs


__all__ = ["chip_has_truth", "truth_well_views"]
