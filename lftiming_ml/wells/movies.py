"""Cut a field's well movies and write them to the chip store (``lftiming_ml.store.movies``).

``write_field_movies`` resamples each occupied well of one field of view to the canonical
um/px, frame by frame at the drift-corrected well centre, and records empty wells without
pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lftiming_ml.store.movies import WellMovieInfo, write_well_movie
from lftiming_ml.wells.config import WellGridParams
from lftiming_ml.wells.crops import crop_origins, crop_scale, prepare_stacks, well_box_in_crop, well_crop


def write_field_movies(
    store_path: Path | str,
    *,
    chip_id: str,
    field_id: str,
    stacks: Mapping[str, np.ndarray],
    channel_roles: Sequence[str],
    centres: np.ndarray,
    wells: Sequence[tuple[int, int]],
    occupied: np.ndarray,
    well_size_px: float,
    raw_um_per_px: float,
    frame_interval_min: float,
    params: WellGridParams,
    detection_scores: np.ndarray | None = None,
) -> list[WellMovieInfo]:
    """Crop and write every listed well of one field; empty wells are recorded, not cropped.

    stacks: channel name -> ``uint16[T, H, W]`` (manifest order); channel_roles: one per channel.
    centres (float[T, R, C, 2]): well centres per frame, (y, x) field px, drift applied
        (``WellLattice.centres_over_time(drift)``).
    wells: (row, col) to write (``WellLattice.wells()``); occupied (bool[R, C]);
    detection_scores (float[R, C], NaN where none): stored per well.
    Returns the infos written, in ``wells`` order.
    """
    ctr = np.asarray(centres, dtype=np.float64)
    prepared = prepare_stacks(stacks, raw_um_per_px=raw_um_per_px, params=params)
    box = well_box_in_crop(well_size_px, raw_um_per_px=raw_um_per_px, params=params)
    written = []
    for r, c in wells:
        full = bool(occupied[r, c])
        score = None if detection_scores is None else float(detection_scores[r, c])
        score = score if score is not None and np.isfinite(score) else None
        info = WellMovieInfo(
            chip_id=chip_id, field_id=field_id, row=r, col=c, channels=list(stacks),
            channel_roles=list(channel_roles), frame_interval_min=frame_interval_min,
            um_per_px=params.canonical_um_per_px, field_px_per_crop_px=crop_scale(raw_um_per_px, params),
            crop_origins_px=[tuple(o) for o in crop_origins(ctr[:, r, c], raw_um_per_px=raw_um_per_px,
                                                            params=params).tolist()],
            well_box_px=box, occupied=full, cropped=full, detection_score=score,
        )
        movie = well_crop(prepared, ctr[:, r, c], raw_um_per_px=raw_um_per_px, params=params) if full else None
        write_well_movie(store_path, info, movie)
        written.append(info)
    return written


__all__ = ["write_field_movies"]
