"""The interaction stage's inputs from the pipeline: ``cell_tracks`` + ``cell_types`` +
``cell_deaths`` tables and the per-well track masks of the chip's Zarr store.

- ``join_track_tables`` joins the three per-chip tables into the library's ``tracks``
  table (``contacts.TRACK_COLUMNS``): cell_type per track from ``cell_types``,
  death_frame per track from ``cell_deaths``, ``alive = frame < death_frame``.
- ``StoreWellMasks`` is a lazy Mapping (field_id, row, col) -> ``contacts.WellMasks`` over
  ``store.tracks.open_well_track_masks`` (``bool[T, K, S, S]``, slot k = track id k).
- ``pipeline_inputs`` does both for one chip and reads the timing: frame interval and frame
  count from ``chip.json``, pixel size from the well movies (the crops' canonical um/px,
  the unit of the track masks and of the y, x columns).

Each input table carries its version columns (one value per chip): ``model_version`` in all
three, and ``reid_version`` (the re-identification embedding behind the links) in
``cell_tracks``. ``VERSION_COLUMNS`` maps them to the outcome tables' stamp columns
(``outcomes.VERSION_COLUMNS``) so every row says which models produced it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lftiming_ml.interactions.contacts import TRACK_COLUMNS, WellMasks
from lftiming_ml.interactions.timing import ChipTiming, chip_timing
from lftiming_ml.store.movies import crop_pixel_size_um
from lftiming_ml.store.tables import read_chip_table
from lftiming_ml.store.keys import TRACK_KEYS
from lftiming_ml.store.tracks import open_well_track_masks


INPUT_TABLES = ("cell_tracks", "cell_types", "cell_deaths")
VERSION_COLUMNS = {
    "cell_tracks": {"model_version": "segmenter_version", "reid_version": "reid_version"},
    "cell_types": {"model_version": "celltype_version"},
    "cell_deaths": {"model_version": "apoptosis_version"},
}
"""Input table -> {its version column -> the outcome column naming that model's version}:
LOCSNET (segmentation, hence tracks) and the re-identification embedding (the appearance
term of the track links) from ``cell_tracks``, the cell-type classifier from ``cell_types``,
the apoptosis classifier from ``cell_deaths``. In the outcome tables' column order."""
CELL_TYPES = ("effector", "target")


@dataclass(frozen=True)
class PipelineInputs:
    """One chip's interaction-stage inputs from the pipeline.

    tracks: ``contacts.TRACK_COLUMNS``; masks: (field_id, row, col) -> ``WellMasks``;
    timing: pixel_size_um of the crops (um/px), frame_interval_min, n_frames;
    versions: outcome version column (``outcomes.VERSION_COLUMNS``, the values of
    ``VERSION_COLUMNS``) -> model version (int).
    """

    tracks: pd.DataFrame
    masks: Mapping[tuple[str, int, int], WellMasks]
    timing: ChipTiming
    versions: dict[str, int]


def model_versions(tables: Mapping[str, pd.DataFrame]) -> dict[str, int]:
    """Outcome version column -> the one version in its input table's column, for every
    (table, column) of ``VERSION_COLUMNS`` (cell_tracks gives two: ``model_version`` ->
    segmenter_version, ``reid_version`` -> reid_version).

    Raises ValueError naming the table and the column when a table lacks a version column,
    or when a column mixes versions (a chip's table is written by one run of its models).
    An empty table (or an all-null column) gives -1 (no model ran on a cell).
    """
    out = {}
    for table, columns in VERSION_COLUMNS.items():
        df = tables[table]
        for source, column in columns.items():
            if source not in df.columns:
                raise ValueError(f"{table}: no {source} column (needed for the outcome tables' {column}); "
                                 f"re-materialize the chip's {table}")
            found = pd.unique(df[source].dropna())
            if len(found) > 1:
                raise ValueError(f"{table}: rows of several model versions in {source} {sorted(found.tolist())}; "
                                 f"re-materialize the chip's {table}")
            out[column] = int(found[0]) if len(found) else -1
    return out


def join_track_tables(cell_tracks: pd.DataFrame, cell_types: pd.DataFrame,
                      cell_deaths: pd.DataFrame) -> pd.DataFrame:
    """The ``tracks`` table (``TRACK_COLUMNS``) of one chip from its three pipeline tables.

    cell_tracks: one row per track per frame (chip_id, field_id, row, col, track_id, frame,
    y, x, area, ...). cell_types: one row per track (cell_type 'effector' | 'target').
    cell_deaths: one row per track per frame with ``death_frame`` (Int64, NA if the cell
    never dies; constant per track). Raises ValueError naming the first track missing from
    ``cell_types`` or ``cell_deaths`` (types and deaths are required, not guessed).
    """
    types = cell_types[[*TRACK_KEYS, "cell_type"]]
    if types.duplicated(TRACK_KEYS).any():
        raise ValueError("cell_types: more than one row for a track")
    bad = set(types["cell_type"]) - set(CELL_TYPES)
    if bad:
        raise ValueError(f"cell_types: unknown cell_type {sorted(bad)}; expected {list(CELL_TYPES)}")
    deaths = cell_deaths.groupby(TRACK_KEYS, sort=False)["death_frame"].first().reset_index()  # first non-NA
    t = cell_tracks.merge(types, on=TRACK_KEYS, how="left", validate="many_to_one")
    t = t.merge(deaths, on=TRACK_KEYS, how="left", validate="many_to_one", indicator=True)
    for missing, table in ((t["cell_type"].isna(), "cell_types"), (t.pop("_merge") != "both", "cell_deaths")):
        if missing.any():
            first = t.loc[missing, TRACK_KEYS].iloc[0].to_dict()
            raise ValueError(f"{table}: no row for {int(missing.sum())} track-frames, e.g. track {first}")
    t["death_frame"] = t["death_frame"].astype("Int64")
    t["alive"] = (t["death_frame"].isna() | (t["frame"] < t["death_frame"])).astype(bool)
    t = t.astype({"row": "int64", "col": "int64", "track_id": "int64", "frame": "int64", "y": "float64",
                  "x": "float64", "area": "int64"})
    return t[TRACK_COLUMNS].sort_values(TRACK_KEYS[1:] + ["frame"], ignore_index=True)


class StoreWellMasks(Mapping):
    """(field_id, row, col) -> ``WellMasks`` over a chip store's ``tracks`` groups.

    Only the wells named in ``wells`` are keys; a well is read when it is asked for
    (``open_well_track_masks``, FileNotFoundError naming the well if it was not tracked).
    """

    def __init__(self, store_path: Path | str, wells: list[tuple[str, int, int]]) -> None:
        self._store, self._wells = Path(store_path), sorted(set(wells))

    def __getitem__(self, key: tuple[str, int, int]) -> WellMasks:
        if key not in self._wells:
            raise KeyError(key)
        masks = open_well_track_masks(self._store, *key)
        return WellMasks(track_ids=np.arange(masks.shape[1], dtype=np.int64), masks=masks)

    def __iter__(self) -> Iterator[tuple[str, int, int]]:
        return iter(self._wells)

    def __len__(self) -> int:
        return len(self._wells)


def read_input_tables(tables_dir: Path | str, chip_id: str) -> dict[str, pd.DataFrame]:
    """The chip's three input tables; FileNotFoundError names the first one missing."""
    return {table: read_chip_table(tables_dir, table, chip_id) for table in INPUT_TABLES}


def pipeline_inputs(chip_dir: Path | str, tables_dir: Path | str, store_path: Path | str) -> PipelineInputs:
    """A chip's ``PipelineInputs`` from its tables under ``tables_dir`` and its Zarr store."""
    timing = chip_timing(chip_dir)
    tables = read_input_tables(tables_dir, timing.chip_id)
    tracks = join_track_tables(tables["cell_tracks"], tables["cell_types"], tables["cell_deaths"])
    wells = [(f, int(r), int(c)) for f, r, c in tracks[["field_id", "row", "col"]].drop_duplicates().itertuples(
        index=False)]
    timing = ChipTiming(timing.chip_id, crop_pixel_size_um(store_path), timing.frame_interval_min, timing.n_frames)
    return PipelineInputs(tracks=tracks, masks=StoreWellMasks(store_path, wells), timing=timing,
                          versions=model_versions(tables))
