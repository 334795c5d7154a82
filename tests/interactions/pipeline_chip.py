"""A small simulated chip laid out as the pipeline leaves it before the interaction stage.

Simulated raw chip -> well grid (the truth's boxes as the detector) -> well movies in the
chip's Zarr store; then, standing in for the tracker and the classifiers, the truth written
in the pipeline's layout: per cropped well the true amodal masks moved into the pipeline's
crop (``truth.match.iter_truth_masks_in_crops``; ``tracks/masks``, slot k = track k
= the k-th true cell of the well), and the ``cell_tracks``, ``cell_types`` and
``cell_deaths`` tables built from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lftiming_ml.chip import read_manifest
from lftiming_ml.interactions.config import ContactParams
from lftiming_ml.interactions.outcomes import contact_tables, killing_tables, well_tables
from lftiming_ml.interactions.pipeline_inputs import pipeline_inputs
from lftiming_ml.review.queue import chip_review_queue
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.sim.config import preset_config
from lftiming_ml.store.tables import write_chip_table
from lftiming_ml.store.tracks import write_well_track_masks
from lftiming_ml.tracking.chip import TRACK_TABLE_COLUMNS
from lftiming_ml.truth.match import iter_truth_masks_in_crops, truth_cells_in_crops
from lftiming_ml.wells.config import WellGridParams
from lftiming_ml.wells.grid import chip_well_grid, chip_well_movies
from tests.truth_detect import truth_detector
from tests.truth_pipeline import write_truth_cell_masks
from lftiming_ml.store.layout import ChipStore

VERSIONS = {"cell_tracks": {"model_version": 3, "reid_version": 6}, "cell_types": {"model_version": 2},
            "cell_deaths": {"model_version": 5}}
"""The version columns each input table is written with (one value per chip, as the assets do):
cell_tracks carries the LOCSNET version and the re-identification embedding's."""
OUTCOME_VERSIONS = {"segmenter_version": 3, "reid_version": 6, "celltype_version": 2, "apoptosis_version": 5}
"""The version columns every outcome table of the chip must carry (from ``VERSIONS``)."""


@dataclass(frozen=True)
class PipelineChip:
    chip_id: str
    chip_dir: Path
    tables_dir: Path
    store_path: Path
    track_cells: pd.DataFrame  # field_id, row, col, track_id, cell_id: the truth behind each track

    @property
    def store(self) -> ChipStore:
        return ChipStore(self.chip_id, raw_dir=self.chip_dir, zarr_path=self.store_path, tables_dir=self.tables_dir,
                         reports_root=self.tables_dir.parent / "reports",
                         annotations_root=self.tables_dir.parent / "annotations")


def build_pipeline_chip(root: Path, chip_id: str = "ix-s7", *, seed: int = 7, n_frames: int = 36,
                        wells_per_block: int = 3, field_px: int = 352, preset: str = "standard",
                        n_fields: int = 1) -> PipelineChip:
    """Simulate ``root/raw/<chip_id>`` and write its store and the three input tables."""
    chip_dir, tables_dir = root / "raw" / chip_id, root / "tables"
    store = root / "zarr" / f"{chip_id}.zarr"
    cfg = preset_config(preset, seed=seed, n_fields=n_fields, n_frames=n_frames)
    cfg = cfg.model_copy(update={"layout": cfg.layout.model_copy(
        update={"wells_per_block": wells_per_block, "field_px": field_px})})
    simulate_chip(chip_dir, cfg)
    manifest = read_manifest(chip_dir)
    params = WellGridParams()
    grid, _ = chip_well_grid(chip_dir, manifest, truth_detector(chip_dir), params=params)
    infos = chip_well_movies(chip_dir, manifest, grid, store, params=params)

    truth = truth_cells_in_crops(chip_dir, store)
    first = truth.groupby(["field_id", "row", "col", "cell_id"]).first()
    infos = {(i.field_id, i.row, i.col): i for i in infos}
    tracks, types, deaths, links = [], [], [], []
    for well in iter_truth_masks_in_crops(chip_dir, store):
        key_well = (well.field_id, well.row, well.col)
        masks = well.masks
        write_well_track_masks(store, infos[key_well], masks)
        n_expected = int(masks[0].any(axis=(1, 2)).sum())
        for k, cell_id in enumerate(well.cell_ids):
            present = np.flatnonzero(masks[:, k].any(axis=(1, 2)))
            area = masks[present, k].sum(axis=(1, 2))
            y = (masks[present, k].sum(axis=2) @ np.arange(masks.shape[2])) / area
            x = (masks[present, k].sum(axis=1) @ np.arange(masks.shape[3])) / area
            key = {"chip_id": chip_id, "field_id": well.field_id, "row": well.row, "col": well.col, "track_id": k}
            tracks.append(pd.DataFrame({**key, "frame": present, "y": y, "x": x, "area": area, "source": "detected",
                                        "instance": k, "link_cost": np.nan, "fb_agree": True,
                                        "start_reason": "movie_start", "end_reason": "movie_end", "parent": -1,
                                        "n_expected": n_expected}))
            cell = first.loc[(*key_well, int(cell_id))]
            kind, death = str(cell["cell_type"]), cell["death_frame"]
            dead = np.zeros(present.size, bool) if pd.isna(death) else present >= int(death)
            p = 1.0 if kind == "effector" else 0.0
            types.append({**key, "cell_type": kind, "p_effector": p, "n_frames": int(present.size),
                          "p_effector_track": p, "lineage_id": k})
            deaths.append(pd.DataFrame({**key, "frame": present, "p_apoptotic": dead.astype(float), "apoptotic": dead,
                                        "death_frame": pd.array([death] * present.size, dtype="Int64")}))
            links.append({"field_id": well.field_id, "row": well.row, "col": well.col, "track_id": k,
                          "cell_id": int(cell_id)})
    cell_tracks = pd.concat(tracks, ignore_index=True).astype(TRACK_TABLE_COLUMNS)
    cell_types = pd.DataFrame(types)
    cell_deaths = pd.concat(deaths, ignore_index=True)
    for name, df in (("cell_tracks", cell_tracks), ("cell_types", cell_types), ("cell_deaths", cell_deaths)):
        for column, version in VERSIONS[name].items():
            df[column] = np.int64(version)
        write_chip_table(tables_dir, name, chip_id, df)
    return PipelineChip(chip_id, chip_dir, tables_dir, store, pd.DataFrame(links))


def write_outcome_tables(chip: PipelineChip) -> dict[str, pd.DataFrame]:
    """Every outcome table of ``chip`` by the library (what the three interaction assets and
    ``review_queue`` write), written under ``chip.tables_dir``; returns them by name. The
    review queue reads ``cell_masks``, written here from the true masks (score 1)."""
    inputs = pipeline_inputs(chip.chip_dir, chip.tables_dir, chip.store_path)
    # the masks are the truth's, exact: the simulator's contact definition, not the segmenter's allowance
    tables = contact_tables(inputs.tracks, inputs.masks, inputs.timing, inputs.versions, params=ContactParams())
    tables |= well_tables(inputs.tracks, tables["contacts"], tables["contact_events"], inputs.timing,
                          inputs.versions)
    tables |= killing_tables(inputs.tracks, tables["contact_events"], tables["well_outcomes"],
                             tables["target_outcomes"], inputs.timing, inputs.versions)
    for name, df in tables.items():
        write_chip_table(chip.tables_dir, name, chip.chip_id, df)
    masks = write_truth_cell_masks(chip.chip_dir, chip.store_path, model_version=VERSIONS["cell_tracks"]["model_version"])
    write_chip_table(chip.tables_dir, "cell_masks", chip.chip_id, masks)
    tables["review_queue"] = chip_review_queue(chip.tables_dir, chip.store_path, chip.chip_id)
    write_chip_table(chip.tables_dir, "review_queue", chip.chip_id, tables["review_queue"])
    return tables
