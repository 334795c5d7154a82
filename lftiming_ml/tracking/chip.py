"""Tracking a whole chip: every segmented well of its Zarr store -> tracks + track-id masks.

Reads each cropped well's ``masks`` group (``lftiming_ml.store.masks``), embeds each
instance's appearance with the re-identification model when one is given
(``appearance.embed_detections`` on the movie's phase channel, the only channel read), runs
``track_well`` on the per-frame instances and writes the well's track masks
(``lftiming_ml.store.tracks``): slot ``k`` is track ``k`` (track ids are 0..K-1 per well).
At a detected frame it holds the linked instance's amodal mask; at an interpolated frame
(a missed detection inside the track's span) the mask of the track's nearest detected
frame, translated by whole pixels to the interpolated centroid; all-False where the track
does not exist. Masks may overlap.

The per-chip table has one row per track per frame it exists (``TRACK_TABLE_COLUMNS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from lftiming_ml.reid.model import ReidNet
from lftiming_ml.tracking.appearance import embed_detections
from lftiming_ml.store.masks import open_well_masks
from lftiming_ml.store.movies import WellMovieInfo, list_well_movies, open_well_phase
from lftiming_ml.store.tracks import write_well_track_masks
from lftiming_ml.tracking.config import TrackerParams
from lftiming_ml.tracking.tracker import track_well
from lftiming_ml.tracking.types import ABSENT, DETECTED, SOURCE_NAMES, WellFrameDetections, WellTracks
from lftiming_ml.models.sources import ModelSource, as_source
from lftiming_ml.store.units import unit_rows
from lftiming_ml.workers import WorkerPool, run_field_units

TRACK_TABLE_COLUMNS: dict[str, str] = {
    "chip_id": "object", "field_id": "object", "row": "int64", "col": "int64", "track_id": "int64",
    "frame": "int64", "y": "float64", "x": "float64", "area": "int64", "source": "object", "instance": "int64",
    "link_cost": "float64", "fb_agree": "bool", "start_reason": "object", "end_reason": "object",
    "parent": "int64", "n_expected": "int64",
}
"""Columns of ``cell_tracks``: (y, x) refined centroid in crop px (the canonical um/px of the
well movie); area (px) of the track's mask at that frame; source 'detected' | 'interpolated';
instance: slot in that frame's ``masks/instances`` (-1 when interpolated); link_cost: Eq. 7
cost into this detection (NaN at a track's first detection and when interpolated); fb_agree:
the forward and backward passes agree on the link; start_reason / end_reason / parent /
n_expected as in ``WellTracks`` (constant per track / per well)."""


def detections_from_instances(instances: np.ndarray) -> list[WellFrameDetections]:
    """Per-frame detections from a well's ``instances (bool[T, K, S, S])``; empty slots
    (all-False) are skipped, so detection ``i`` of frame t is its ``i``-th non-empty slot."""
    m = np.asarray(instances, dtype=bool)
    size = m.shape[-1]
    grid = np.arange(size, dtype=float)
    out = []
    for t in range(m.shape[0]):
        areas = m[t].sum(axis=(1, 2)).astype(float)
        present = np.flatnonzero(areas > 0)
        a = areas[present]
        cy = m[t, present].sum(axis=2) @ grid / np.maximum(a, 1)
        cx = m[t, present].sum(axis=1) @ grid / np.maximum(a, 1)
        out.append(WellFrameDetections(centroids=np.stack([cy, cx], axis=1).reshape(-1, 2), areas=a,
                                       masks=m[t, present]))
    return out


def shift_mask(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``mask (bool[H, W])`` translated by whole pixels (dy, dx); what leaves the crop is lost."""
    return ndimage.shift(np.asarray(mask, bool), (dy, dx), order=0, mode="constant", cval=False, prefilter=False)


def track_masks(tracks: WellTracks, detections: list[WellFrameDetections], shape: tuple[int, int]) -> np.ndarray:
    """``bool[T, K, H, W]``: each track's mask per frame (see the module docstring)."""
    n_frames, k = tracks.source.shape
    out = np.zeros((n_frames, k, *shape), bool)
    for kk in range(k):
        detected = np.flatnonzero(tracks.source[:, kk] == DETECTED)
        for t in np.flatnonzero(tracks.source[:, kk] != ABSENT):
            if tracks.source[t, kk] == DETECTED:
                out[t, kk] = detections[t].masks[tracks.detection_index[t, kk]]
                continue
            if detected.size == 0:
                continue
            near = int(detected[np.argmin(np.abs(detected - t))])
            dy, dx = np.rint(tracks.positions[t, kk] - tracks.positions_linked[near, kk]).astype(int)
            out[t, kk] = shift_mask(detections[near].masks[tracks.detection_index[near, kk]], int(dy), int(dx))
    return out


def track_rows(info: WellMovieInfo, tracks: WellTracks, masks: np.ndarray, instance_of: list[np.ndarray]) -> pd.DataFrame:
    """The ``TRACK_TABLE_COLUMNS`` rows of one well; ``instance_of[t]`` maps detection index
    -> slot of ``masks/instances`` at frame t."""
    k_idx, t_idx = np.nonzero(tracks.source.T != ABSENT)
    det = tracks.detection_index[t_idx, k_idx]
    instance = np.array([instance_of[t][d] if d >= 0 else -1 for t, d in zip(t_idx, det)], dtype=np.int64)
    return pd.DataFrame({
        "chip_id": info.chip_id, "field_id": info.field_id, "row": info.row, "col": info.col,
        "track_id": k_idx, "frame": t_idx,
        "y": tracks.positions[t_idx, k_idx, 0], "x": tracks.positions[t_idx, k_idx, 1],
        "area": masks[t_idx, k_idx].sum(axis=(1, 2)) if len(t_idx) else np.zeros(0, np.int64),
        "source": np.asarray(SOURCE_NAMES, dtype=object)[tracks.source[t_idx, k_idx]],
        "instance": instance, "link_cost": tracks.link_cost[t_idx, k_idx], "fb_agree": tracks.fb_agree[t_idx, k_idx],
        "start_reason": np.asarray(tracks.start_reason, dtype=object)[k_idx] if len(k_idx) else [],
        "end_reason": np.asarray(tracks.end_reason, dtype=object)[k_idx] if len(k_idx) else [],
        "parent": tracks.parent[k_idx], "n_expected": tracks.n_expected,
    }, columns=list(TRACK_TABLE_COLUMNS)).astype(TRACK_TABLE_COLUMNS)


END_REASONS = ("movie_end", "merged", "lost", "fragment")


@dataclass(frozen=True)
class WellTrackSummary:
    """What ``chip_cell_tracks`` did for one well (for run metadata and checks).

    outside: track-frames whose centroid lies outside the well box (more than 0.5 px);
    non_finite: track-frames with a NaN/inf centroid; unexplained_ends: tracks that stop
    before the last frame without an end reason of ``END_REASONS`` other than movie_end;
    debris: static debris objects kept out of linking (``WellTracks.n_debris``).
    """

    field_id: str
    row: int
    col: int
    n_tracks: int
    n_expected: int
    step_ms: dict[str, float]
    outside: int = 0
    non_finite: int = 0
    unexplained_ends: int = 0
    debris: int = 0


def track_problems(tracks: WellTracks, well_box: tuple[float, float, float, float]) -> tuple[int, int, int]:
    """(outside, non_finite, unexplained_ends) of one well's tracks; see ``WellTrackSummary``."""
    present = tracks.source != ABSENT
    pos = tracks.positions[present]
    finite = np.isfinite(pos).all(axis=1)
    y0, x0, y1, x1 = well_box
    tol = 0.5
    inside = ((pos[:, 0] >= y0 - tol) & (pos[:, 0] <= y1 + tol) & (pos[:, 1] >= x0 - tol) & (pos[:, 1] <= x1 + tol))
    last = np.array([np.flatnonzero(present[:, k]).max() if present[:, k].any() else -1
                     for k in range(tracks.n_tracks)], dtype=int)
    reasons = np.asarray(tracks.end_reason, dtype=object)
    unexplained = ((reasons == "movie_end") & (last < tracks.n_frames - 1)) | ~np.isin(reasons, END_REASONS)
    return int((finite & ~inside).sum()), int((~finite).sum()), int(unexplained.sum())


def embed_well_detections(store_path: Path | str, info: WellMovieInfo, detections: list[WellFrameDetections],
                          reid: ReidNet, precision: str = "auto") -> list[WellFrameDetections]:
    """``detections`` of one well (in its crop px) with their appearance embeddings, from the
    phase channel of the well's movie in the store (unchanged when nothing was detected)."""
    if not any(d.n for d in detections):
        return detections
    phase, _ = open_well_phase(store_path, info.field_id, info.row, info.col)
    if phase is None:
        raise FileNotFoundError(f"{store_path}: well {info.field_id} r{info.row}c{info.col} has cell masks "
                                "but no movie to embed them from")
    return embed_detections(reid, phase, detections, precision=precision)


def track_wells(store_path: Path | str, wells: list[WellMovieInfo], params: TrackerParams,
                reid: ReidNet | None, attrs: Mapping[str, object] | None = None
                ) -> tuple[pd.DataFrame, list[WellTrackSummary]]:
    """Track ``wells`` (cropped, segmented) and write each one's ``tracks`` group; returns
    their rows (``TRACK_TABLE_COLUMNS``) and a summary per well."""
    tables, summaries = [], []
    for info in wells:
        instances, _ = open_well_masks(store_path, info.field_id, info.row, info.col)
        detections = detections_from_instances(instances)
        if reid is not None:
            detections = embed_well_detections(store_path, info, detections, reid, params.appearance_precision)
        present = instances.any(axis=(2, 3))
        instance_of = [np.flatnonzero(present[t]) for t in range(instances.shape[0])]
        tracks = track_well(detections, info.well_box_px, params)
        masks = track_masks(tracks, detections, instances.shape[2:])
        write_well_track_masks(store_path, info, masks, attrs=attrs)
        tables.append(track_rows(info, tracks, masks, instance_of))
        summaries.append(WellTrackSummary(info.field_id, info.row, info.col, tracks.n_tracks, tracks.n_expected,
                                          tracks.step_ms, *track_problems(tracks, info.well_box_px),
                                          debris=tracks.n_debris))
    table = (pd.concat(tables, ignore_index=True) if tables
             else pd.DataFrame(columns=list(TRACK_TABLE_COLUMNS)).astype(TRACK_TABLE_COLUMNS))
    return table, summaries


def track_field(store_path: str, field_id: str, params: TrackerParams, reid: ModelSource | None,
                attrs: Mapping[str, object] | None) -> tuple[dict, pd.DataFrame]:
    """The work unit of ``chip_cell_tracks``: every cropped well of one field."""
    wells = [i for i in list_well_movies(store_path, field_id) if i.cropped]
    table, summaries = track_wells(store_path, wells, params, reid() if reid is not None else None, attrs)
    return {"wells": [asdict(w) for w in summaries]}, table


STAGE = "cell_tracks"


def chip_cell_tracks(store_path: Path | str, params: TrackerParams | None = None, *,
                     attrs: Mapping[str, object] | None = None, reid: ModelSource | ReidNet | None = None,
                     pool: WorkerPool | None = None) -> tuple[pd.DataFrame, list[WellTrackSummary]]:
    """Track every segmented well of a chip's store and write each well's ``tracks`` group,
    one work unit per field run by ``pool`` (default: this process) inside the chip's open
    commit (its own when none is; ``workers.run_field_units``). With ``reid`` (a source of
    the embedding, ``models.sources``, or a ``ReidNet`` for this process only), Eq. 7 gets
    the appearance term (``TrackerParams.w_appearance``).

    Returns the per-chip table (``TRACK_TABLE_COLUMNS``) and a summary per well.
    Raises FileNotFoundError naming the first cropped well without a ``masks`` group.
    """
    store_path = Path(store_path)
    params = params or TrackerParams()
    source = as_source(reid, "re-identification embedding") if reid is not None else None
    fields = sorted({i.field_id for i in list_well_movies(store_path) if i.cropped})
    attrs = dict(attrs or {})
    outputs = run_field_units(store_path, STAGE, fields, track_field, lambda f: (str(store_path), f, params, source, attrs),
                              {"params": params.model_dump(mode="json"), "attrs": attrs},
                              models=[source] if source is not None else [], pool=pool, input_groups=("", "masks"))
    summaries = [WellTrackSummary(**w) for o in outputs for w in o.result["wells"]]
    return unit_rows(outputs, TRACK_TABLE_COLUMNS), summaries


__all__ = ["END_REASONS", "TRACK_TABLE_COLUMNS", "WellTrackSummary", "chip_cell_tracks", "detections_from_instances",
           "embed_well_detections", "shift_mask", "track_field", "track_masks", "track_problems", "track_wells"]
