"""A simulated chip's truth as annotation records (provenance ``simulator``).

Per cropped pipeline well paired with a true well (``match``): the true amodal masks moved
into the crop (``iter_truth_masks_in_crops``; track k = the k-th true cell of the well with a
mask in the movie), each cell's type, first dead frame ("never dies" when it lives through
the movie) and mother (mitosis ``parent_id``) from ``gt/cells.parquet``; per field, the grid label of its
wells (``simulator_grid_labels``, from ``gt/wells.parquet``). Used to seed the
annotations store of simulated chips for tests and benchmarks; evaluation side only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lftiming_ml.annotations.grid import FieldGridLabel
from lftiming_ml.annotations.schema import LabelSource, TrackLabel, WellAnnotation, mask_source_array, well_name
from lftiming_ml.annotations.sources import compact_tracks
from lftiming_ml.store.layout import ChipStore
from lftiming_ml.store.movies import list_well_movies
from lftiming_ml.chip.manifest import ChipManifest
from lftiming_ml.truth.files import read_cells, read_wells
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




def simulator_grid_labels(chip_dir: Path, manifest: ChipManifest, fields: Sequence[str] | None = None, *,
                          frame: int = 0, provenance: str = "simulator") -> list[FieldGridLabel]:
    """Per field (``fields`` only, if given) the grid label a careful person would give:
    the true centres of the block's corner wells at ``frame`` and the wells empty then
    (``gt/wells.parquet``). ``provenance`` lets a benchmark's simulated reviewer sign as one."""
    wells = read_wells(chip_dir)
    wells = wells[wells["frame"] == frame]
    n = manifest.layout.wells_per_block
    source = LabelSource.now(provenance)
    out = []
    for f in manifest.fields:
        if fields is not None and f.field_id not in fields:
            continue
        w = wells[wells["field_id"] == f.field_id].set_index(["row", "col"])

        def centre(r: int, c: int) -> tuple[float, float]:
            b = w.loc[(r, c)]
            return (float(b["y0"] + b["y1"]) / 2, float(b["x0"] + b["x1"]) / 2)

        empty = tuple(sorted((int(r), int(c)) for (r, c), k in w["n_cells"].items() if int(k) == 0))
        out.append(FieldGridLabel(chip_id=manifest.chip_id, field_id=f.field_id, frame=frame, top_left=centre(0, 0),
                                  top_right=centre(0, n - 1), bottom_left=centre(n - 1, 0), source=source,
                                  empty=empty))
    return out


__all__ = ["simulator_grid_labels", "simulator_records"]
