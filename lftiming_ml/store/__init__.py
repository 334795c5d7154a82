"""The chip store: the only code that knows where data lives and how it is laid out.

- ``layout``: the data folder (``DataLayout``) and one chip's places (``ChipStore``).
- ``movies``: per-well OME-Zarr movies (phase chunked apart from fluorescence).
- ``masks``, ``tracks``: a well's segmentation and track masks beside its movie.
- ``tables``: per-chip Parquet tables and the DuckDB views over all chips.
- ``groups``: atomic replacement of a Zarr group (staged, then renamed into place).

Stages read and write through these typed functions; none builds a path of its own.
Ground truth (``gt/``) is not part of the store: ``lftiming_ml.truth`` reads it.
"""

from lftiming_ml.store.layout import ChipStore, DataLayout
from lftiming_ml.store.masks import open_well_masks, write_well_masks
from lftiming_ml.store.movies import (WellMovieInfo, list_well_movies, open_well_channel, open_well_movie, open_well_phase,
                                      write_well_movie)
from lftiming_ml.store.tables import chip_table_path, read_chip_table, register_views, write_chip_table
from lftiming_ml.store.tracks import open_well_track_masks, write_well_track_masks

__all__ = ["ChipStore", "DataLayout", "WellMovieInfo", "chip_table_path", "list_well_movies", "open_well_channel",
           "open_well_masks", "open_well_movie", "open_well_phase", "open_well_track_masks", "read_chip_table", "register_views",
           "write_chip_table", "write_well_masks", "write_well_movie", "write_well_track_masks"]
