"""Records made from the pipeline's own outputs: the starting point a person corrects.

For each cropped, tracked well: the track masks (``store.tracks``) with provenance
``model:<segmenter>@<cell_tracks.model_version>``, each track's ``parent`` from
``cell_tracks``, its cell type from ``cell_types`` (``model:celltype_classifier@<v>``) and its
death frame from ``cell_deaths`` (``model:apoptosis_classifier@<v>``; a track the classifier
never calls dead is labelled "never dies"). A table not materialized yet leaves those labels
out. Track slots that hold no mask in any frame are dropped and the ids after them closed up
(parents follow), since a record's track ids are 0..K-1 with every id used.

(Simulated chips' truth as a record is ``lftiming_ml.truth.annotations``: the inference side
never reads ``gt/``.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lftiming_ml.annotations.schema import LabelSource, TrackLabel, WellAnnotation, mask_source_array, well_name
from lftiming_ml.store.layout import ChipStore
from lftiming_ml.store.movies import list_well_movies
from lftiming_ml.store.tables import read_chip_table
from lftiming_ml.store.tracks import open_well_track_masks

CELLTYPE_MODEL = "celltype_classifier"
APOPTOSIS_MODEL = "apoptosis_classifier"
WELL = ["field_id", "row", "col"]


def _table(chip: ChipStore, name: str) -> pd.DataFrame | None:
    try:
        return read_chip_table(chip.tables_dir, name, chip.chip_id)
    except FileNotFoundError:
        return None


def _version(df: pd.DataFrame | None) -> int | None:
    return None if df is None or df.empty else int(df["model_version"].iloc[0])


def compact_tracks(masks: np.ndarray, parents: Sequence[int | None]) -> tuple[np.ndarray, list[int | None], list[int]]:
    """Drop track slots of ``masks (bool[T, K, S, S])`` without any pixel; returns the masks,
    the parents renumbered (a dropped parent becomes None) and the kept old ids."""
    kept = [k for k in range(masks.shape[1]) if masks[:, k].any()]
    new_id = {old: new for new, old in enumerate(kept)}
    return masks[:, kept], [new_id.get(parents[k]) if parents[k] is not None else None for k in kept], kept


def pipeline_records(chip: ChipStore, wells: Sequence[str] | None = None, *,
                     segmenter: str) -> list[WellAnnotation]:
    """Records of the chip's tracked wells (``wells`` only, by name ``f000/r0c1``, if given)
    from its pipeline outputs; ``segmenter`` is the registered name of the model behind the
    track masks (``lftiming_ml.segmentation.config.MODEL_NAMES``; not imported here, since
    the segmentation package's training side reads truth). FileNotFoundError naming the
    table when cell_tracks is missing."""
    tracks = read_chip_table(chip.tables_dir, "cell_tracks", chip.chip_id)
    types, deaths = _table(chip, "cell_types"), _table(chip, "cell_deaths")
    mask_src = LabelSource.now(f"model:{segmenter}@{_version(tracks)}")
    type_src = LabelSource.now(f"model:{CELLTYPE_MODEL}@{_version(types)}") if _version(types) is not None else None
    death_src = LabelSource.now(f"model:{APOPTOSIS_MODEL}@{_version(deaths)}") if _version(deaths) is not None else None
    by_track = lambda df: {} if df is None else {  # noqa: E731
        (f, int(r), int(c), int(k)): g for (f, r, c, k), g in df.groupby([*WELL, "track_id"])}
    tracks_by, types_by, deaths_by = by_track(tracks), by_track(types), by_track(deaths)
    out = []
    for info in list_well_movies(chip.zarr_path):
        name = well_name(info.field_id, info.row, info.col)
        if not info.cropped or (wells is not None and name not in wells):
            continue
        try:
            masks = open_well_track_masks(chip.zarr_path, info.field_id, info.row, info.col)
        except FileNotFoundError:
            continue
        key = (info.field_id, info.row, info.col)
        parents = []
        for k in range(masks.shape[1]):
            g = tracks_by.get((*key, k))
            p = int(g["parent"].iloc[0]) if g is not None and len(g) else -1
            parents.append(p if p >= 0 else None)
        masks, parents, kept = compact_tracks(masks, parents)
        labels = []
        for new, old in enumerate(kept):
            t = types_by.get((*key, old))
            d = deaths_by.get((*key, old))
            kind = str(t["cell_type"].iloc[0]) if t is not None else None
            death = d["death_frame"].dropna() if d is not None else None
            labels.append(TrackLabel(
                new, kind, type_src if kind is not None else None,
                int(death.iloc[0]) if death is not None and len(death) else None,
                death_src if d is not None else None, parents[new]))
        out.append(WellAnnotation(chip.chip_id, info.field_id, info.row, info.col, tuple(info.well_box_px), masks,
                                  mask_source_array(masks, 0), (mask_src,), tuple(labels)))
    missing = sorted(set(wells or []) - {r.well for r in out})
    if missing:
        raise FileNotFoundError(f"chip {chip.chip_id}: no tracked well {', '.join(missing)} in {chip.zarr_path}")
    return out


__all__ = ["APOPTOSIS_MODEL", "CELLTYPE_MODEL", "compact_tracks", "pipeline_records"]
