"""A simulated chip's truth as annotation records (provenance ``simulator``).

Per cropped pipeline well paired with a true well (``match``): the true amodal masks moved
into the crop (``iter_truth_masks_in_crops``; track k = the k-th true cell of the well with a
mask in the movie), each cell's type, first dead frame ("never dies" when it lives through
the movie) and mother (mitosis ``parent_id``) from ``gt/cells.parquet``. Used to seed the
annotations store of simulated chips for tests and benchmarks; evaluation side only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lftiming_ml.annotations.schema import LabelSource, TrackLabel, WellAnnotation, mask_source_array, well_name
from lftiming_ml.annotations.sources import compact_tracks
from lftiming_ml.store.layout import ChipStore
from lftiming_ml.store.movies import list_well_movies
from lftiming_ml.truth.files import read_cells
from lftiming_ml.truth.match import iter_truth_masks_in_crops, pair_wells


def simulator_records(chip: ChipStore, wells: Sequence[str] | None = None) -> list[WellAnnotation]:
    """Records of the chip's truth in its pipeline wells (``wells`` only, if given)."""
    source = LabelSource.now("simulator")
    infos = {(i.field_id, i.row, i.col): i for i in list_well_movies(chip.zarr_path) if i.cropped}
    pairs = pair_wells(chip.raw_dir, list(infos.values()))
    cells = read_cells(chip.raw_dir, columns=["field_id", "row", "col", "cell_id", "frame", "type", "alive",
                                              "parent_id"])
    per_cell = cells.groupby(["field_id", "row", "col", "cell_id"])
    kinds = per_cell["type"].first()
    mothers = per_cell["parent_id"].first()
    deaths = cells.loc[~cells["alive"]].groupby(["field_id", "row", "col", "cell_id"])["frame"].min()
    out = []
    for well in iter_truth_masks_in_crops(chip.raw_dir, chip.zarr_path):
        if wells is not None and well_name(well.field_id, well.row, well.col) not in wells:
            continue
        gt = pairs[(well.field_id, well.row, well.col)]
        ids = [int(i) for i in well.cell_ids]
        slot = {cell: k for k, cell in enumerate(ids)}
        parents = [slot.get(int(mothers.get((*gt, cell), -1))) for cell in ids]
        masks, parents, kept = compact_tracks(well.masks, parents)
        tracks = []
        for new, old in enumerate(kept):
            cell = ids[old]
            death = deaths.get((*gt, cell))
            tracks.append(TrackLabel(new, str(kinds[(*gt, cell)]), source,
                                     None if death is None or np.isnan(death) else int(death), source, parents[new]))
        info = infos[(well.field_id, well.row, well.col)]
        out.append(WellAnnotation(chip.chip_id, well.field_id, well.row, well.col, tuple(info.well_box_px), masks,
                                  mask_source_array(masks, 0), (source,), tuple(tracks)))
    return out


__all__ = ["simulator_records"]
