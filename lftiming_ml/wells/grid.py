"""The well grid of a chip: detections of the reference frame -> lattice -> drift -> per-frame
well table, and the per-well movies cut from it. The ``well_grid`` and ``well_movies``
assets are thin wrappers around ``chip_well_grid`` and ``chip_well_movies``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from lftiming_ml.chip import read_manifest, read_stack
from lftiming_ml.chip.manifest import ChannelRole, ChipManifest
from lftiming_ml.wells.config import WellGridParams
from lftiming_ml.wells.drift import drift_problems, estimate_drift
from lftiming_ml.wells.lattice import fit_lattice
from lftiming_ml.store.commit import building_store, replace_store
from lftiming_ml.store.groups import ensure_chip_root
from lftiming_ml.store.movies import WellMovieInfo
from lftiming_ml.wells.movies import write_field_movies
from lftiming_ml.workers import WorkerPool

# (frames uint16[F, H, W] (one reference frame per field), the chip's pixel size in um) -> one
# detection set per field, each with ``boxes (float[n, 4], (y0, x0, y1, x1) field px)``,
# ``scores`` and ``occupied_prob``.
DetectFn = Callable[[list[np.ndarray], float], list]

GRID_COLUMNS = ["chip_id", "field_id", "row", "col", "frame", "y", "x", "y0", "x0", "y1", "x1",
                "well_size_px", "occupied", "detection_score", "drift_dy", "drift_dx"]


def chip_well_grid(chip_dir: Path, manifest: ChipManifest, detect: DetectFn, *,
                   params: WellGridParams, pool: WorkerPool | None = None) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Locate every well of every field over time.

    The detector runs here, on every field's reference frame at once (each stack read whole,
    one at a time, its reference frame kept); the lattice fit and the drift of each field
    (``field_well_grid``, which reads the stack again, a small part of the drift's cost) run
    one field per call in ``pool`` (default: this process). Returns the grid table (``GRID_COLUMNS``: one row per kept well per frame;
    centre and box in field px, pixel (i, j) centred at (i, j)) and, per field, the drift
    problems found (empty lists when the drift is plausible). Raises ``ValueError`` naming
    the field when its detections cannot support a lattice (e.g. the detector found nothing).
    """
    ref = params.drift_reference
    references = [read_stack(chip_dir, manifest, f.field_id, ChannelRole.phase)[ref].copy() for f in manifest.fields]
    detections = detect(references, manifest.pixel_size_um)
    calls = [(field.field_id, (str(chip_dir), field.field_id, np.asarray(det.boxes, np.float64).reshape(-1, 4),
                               np.asarray(det.scores), np.asarray(det.occupied_prob), params))
             for field, det in zip(manifest.fields, detections, strict=True)]
    per_field = (pool or WorkerPool()).map(field_well_grid, calls, stage="well_grid", store_path=chip_dir)
    tables = [table for table, _ in per_field]  # type: ignore[misc]
    problems = {field_id: found for (field_id, _), (_, found) in zip(calls, per_field)}  # type: ignore[misc]
    return pd.concat(tables, ignore_index=True)[GRID_COLUMNS], problems


def field_well_grid(chip_dir: Path | str, field_id: str, boxes: np.ndarray, scores: np.ndarray,
                    occupied_prob: np.ndarray, params: WellGridParams) -> tuple[pd.DataFrame, list[str]]:
    """One field of ``chip_well_grid`` from its detections on the reference frame (``boxes``
    (y0, x0, y1, x1) field px, ``scores``, ``occupied_prob``): the lattice, the drift of its
    phase stack, its rows of the grid table and its drift problems; any process."""
    manifest = read_manifest(chip_dir)
    n = manifest.layout.wells_per_block
    pitch_px = manifest.layout.pitch_um / manifest.pixel_size_um
    centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1)
    sizes = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1)
    try:
        lattice = fit_lattice(centres, scores, n_rows=n, n_cols=n, pitch_px_guess=pitch_px, params=params,
                              field_id=field_id, field_shape=manifest.field_shape, box_sizes=sizes)
    except ValueError as e:
        raise ValueError(f"{e}. If this microscope is new to the well detector, give one field's grid by hand "
                         f"(lftiming label-wells --chip {manifest.chip_id} --fields {field_id} --corners "
                         "Y,X Y,X Y,X) and fine-tune it (lftiming train well_detector --init champion "
                         f"--annotations {manifest.chip_id})") from e
    drift = estimate_drift(read_stack(chip_dir, manifest, field_id, ChannelRole.phase), params=params)
    over_time = lattice.centres_over_time(drift)  # [T, R, C, 2]
    idx = lattice.detection_index
    half = lattice.well_size_px / 2
    rows = []
    for r, c in lattice.wells():
        k = int(idx[r, c])
        # a well the detector missed keeps its cells: treat it as occupied, score 0
        occupied = bool(occupied_prob[k] >= 0.5) if k >= 0 else True
        score = float(scores[k]) if k >= 0 else 0.0
        y, x = over_time[:, r, c, 0], over_time[:, r, c, 1]
        rows.append(pd.DataFrame({
            "chip_id": manifest.chip_id, "field_id": field_id, "row": r, "col": c,
            "frame": np.arange(len(y)), "y": y, "x": x, "y0": y - half, "x0": x - half,
            "y1": y + half, "x1": x + half, "well_size_px": lattice.well_size_px,
            "occupied": occupied, "detection_score": score,
            "drift_dy": drift[:, 0], "drift_dx": drift[:, 1]}))
    return pd.concat(rows, ignore_index=True), drift_problems(drift, params)


def field_well_movies(chip_dir: Path | str, field_id: str, grid: pd.DataFrame, staged_store: Path | str,
                      params: WellGridParams) -> list[WellMovieInfo]:
    """Cut one field's wells (``grid``: its rows of the grid table) into ``staged_store``, the
    new store a ``chip_well_movies`` commit is building (in any process: a worker's writes go
    in place, ``store.commit.building_store``). Returns one info per well."""
    chip_dir = Path(chip_dir)
    manifest = read_manifest(chip_dir)
    g = grid.sort_values(["row", "col", "frame"])
    wells = [(int(r), int(c)) for r, c in g[["row", "col"]].drop_duplicates().itertuples(index=False)]
    T = manifest.n_frames
    R, C = max(r for r, _ in wells) + 1, max(c for _, c in wells) + 1
    centres = np.full((T, R, C, 2), np.nan)
    occupied = np.zeros((R, C), bool)
    scores = np.zeros((R, C))
    for (r, c), w in g.groupby(["row", "col"]):
        centres[w.frame.to_numpy(), r, c] = w[["y", "x"]].to_numpy()
        occupied[r, c] = bool(w.occupied.iloc[0])
        scores[r, c] = float(w.detection_score.iloc[0])
    stacks = {c.name: read_stack(chip_dir, manifest, field_id, c.role) for c in manifest.channels}
    with building_store(staged_store):
        return write_field_movies(
            staged_store, chip_id=manifest.chip_id, field_id=field_id, stacks=stacks,
            channel_roles=[c.role.value for c in manifest.channels], centres=centres, wells=wells, occupied=occupied,
            well_size_px=float(g.well_size_px.iloc[0]), raw_um_per_px=manifest.pixel_size_um,
            frame_interval_min=manifest.frame_interval_min, params=params, detection_scores=scores)


def chip_well_movies(chip_dir: Path, manifest: ChipManifest, grid: pd.DataFrame, store_path: Path, *,
                     params: WellGridParams, pool: WorkerPool | None = None) -> list[WellMovieInfo]:
    """Cut every occupied well of ``grid`` into the chip's Zarr store (replacing it whole when
    its commit commits: ``store.commit.replace_store``; the masks and tracks of wells present
    before and after stay until their stages re-run); empty wells are recorded without
    pixels. One field per call of ``field_well_movies``, in ``pool`` (default: this process;
    a re-run redoes every field: the fields are not resumable work units). Returns one info
    per well, in field order."""
    pool = pool or WorkerPool()
    fields = [f.field_id for f in manifest.fields if (grid.field_id == f.field_id).any()]
    with replace_store(store_path, manifest.chip_id) as tmp:
        for field_id in fields:  # the store's groups exist before the fields' writers start
            ensure_chip_root(tmp, manifest.chip_id, "wells", field_id)
        per_field = pool.map(field_well_movies, [
            (f, (str(chip_dir), f, grid[grid.field_id == f], str(tmp), params)) for f in fields],
            stage="well_movies", store_path=store_path)
    return [info for infos in per_field for info in infos]  # type: ignore[union-attr]
