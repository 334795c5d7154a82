"""cell_tracks end to end on a small simulated chip: wells from the true boxes, cell masks
from the true amodal masks, then the real tracker through the asset (a fake registry's
re-ID embedding); its TrackerParams run config: defaults recorded, a bad value refused."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pydantic
import pytest
import zarr

from lftiming_assets.partitions import chips
from lftiming_assets.raw.assets import raw_chip
from lftiming_assets.resources import build_resources
from lftiming_assets.tracking.assets import cell_tracks
from lftiming_assets.wells.assets import well_grid, well_movies
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.store.tables import chip_table_path, write_chip_table
from lftiming_ml.store.tracks import open_well_track_masks
from lftiming_ml.tracking.chip import TRACK_TABLE_COLUMNS
from lftiming_ml.tracking.config import TrackerParams
from lftiming_ml.truth.match import match_tracks_to_cells, truth_cells_in_crops
from lftiming_ml.store.movies import list_well_movies
from tests.assets.fakes import FakeRegistry
from tests.conftest import small_sim_config
from tests.truth_pipeline import write_truth_cell_masks

CHIP = "tr-s23"
N_FRAMES = 10


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    cfg = small_sim_config(seed=23, n_frames=N_FRAMES)
    simulate_chip(tmp_path / "raw" / CHIP, cfg)
    return tmp_path


def test_cell_tracks_from_true_masks(data_dir: Path) -> None:
    chip_dir = data_dir / "raw" / CHIP
    store = data_dir / "zarr" / f"{CHIP}.zarr"
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(chips.name, [CHIP])
        resources = {**build_resources(str(data_dir)),
                     "registry": FakeRegistry(chip_dir=str(chip_dir), versions={"reid_embedding": 7})}
        assert dg.materialize([raw_chip, well_grid, well_movies], partition_key=CHIP, instance=instance,
                              resources=resources, selection=["raw_chip", "well_grid", "well_movies"]).success
        write_chip_table(data_dir / "tables", "cell_masks", CHIP, write_truth_cell_masks(chip_dir, store, model_version=4))
        result = dg.materialize([cell_tracks], partition_key=CHIP, instance=instance, resources=resources)
        assert result.success

    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["tracks_complete"].passed and checks["centroids_inside_wells"].passed
    tracks = pd.read_parquet(chip_table_path(data_dir / "tables", "cell_tracks", CHIP))
    assert {k: str(v) for k, v in tracks.dtypes.items()} == {**TRACK_TABLE_COLUMNS, "model_version": "int64",
                                                              "reid_version": "int64"}
    assert (tracks.model_version == 4).all() and (tracks.reid_version == 7).all() and len(tracks) > 0
    metadata = result.asset_materializations_for_node("cell_tracks")[0].metadata
    assert "| re-identification | reid_embedding | v7 |" in metadata["models"].value  # text, not a plotted number
    assert not any(isinstance(v, (dg.IntMetadataValue, dg.FloatMetadataValue)) for k, v in metadata.items()
                   if "version" in k)
    assert TrackerParams.model_validate(metadata["params"].value) == TrackerParams()  # no run config: the defaults

    truth = truth_cells_in_crops(chip_dir, store)
    matches = match_tracks_to_cells(tracks, truth)
    # perfect detections: every track follows one true cell in every frame it exists
    assert matches.cell_id.notna().all()
    assert (matches.matched_frames == matches.track_frames).all()
    assert matches.groupby(["field_id", "row", "col"]).cell_id.nunique().sum() == len(matches)

    for info in (i for i in list_well_movies(store) if i.cropped):
        masks = open_well_track_masks(store, info.field_id, info.row, info.col)
        well = tracks[(tracks.field_id == info.field_id) & (tracks.row == info.row) & (tracks.col == info.col)]
        k = int(well.track_id.max() + 1) if len(well) else 0
        assert masks.shape == (N_FRAMES, k, 96, 96)
        stored = zarr.open_array(str(store / info.group_path / "tracks" / "masks"), mode="r")
        assert stored.chunks == (N_FRAMES, max(k, 1), 96, 96)  # one chunk per well
        per_row = masks[well.frame.to_numpy(), well.track_id.to_numpy()].sum(axis=(1, 2))
        np.testing.assert_array_equal(per_row, well.area.to_numpy())


def test_tracker_params_come_from_run_config(data_dir: Path) -> None:
    """A run-config value reaches the tracker and the metadata; a bad one fails naming the field."""
    chip_dir = data_dir / "raw" / CHIP
    store = data_dir / "zarr" / f"{CHIP}.zarr"
    resources = {**build_resources(str(data_dir)), "registry": FakeRegistry(chip_dir=str(chip_dir))}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(chips.name, [CHIP])
        assert dg.materialize([raw_chip, well_grid, well_movies], partition_key=CHIP, instance=instance,
                              resources=resources).success
        write_chip_table(data_dir / "tables", "cell_masks", CHIP, write_truth_cell_masks(chip_dir, store))
        run = {"ops": {"cell_tracks": {"config": {"beam_width": 1, "wall_prediction": "clip", "refine": False}}}}
        result = dg.materialize([cell_tracks], partition_key=CHIP, instance=instance, resources=resources,
                                run_config=run)
        assert result.success
        recorded = result.asset_materializations_for_node("cell_tracks")[0].metadata["params"].value
        assert TrackerParams.model_validate(recorded) == TrackerParams(beam_width=1, wall_prediction="clip",
                                                                      refine=False)

        with pytest.raises(pydantic.ValidationError, match=r"beam_width\n.*greater than or equal to 1"):
            dg.materialize([cell_tracks], partition_key=CHIP, instance=instance, resources=resources,
                           run_config={"ops": {"cell_tracks": {"config": {"beam_width": 0}}}})
        with pytest.raises(dg.DagsterInvalidConfigError, match='unexpected config entry "beam_widht"'):
            dg.materialize([cell_tracks], partition_key=CHIP, instance=instance, resources=resources,
                           run_config={"ops": {"cell_tracks": {"config": {"beam_widht": 2}}}})
        with pytest.raises(dg.DagsterInvalidConfigError, match="wall_prediction"):
            dg.materialize([cell_tracks], partition_key=CHIP, instance=instance, resources=resources,
                           run_config={"ops": {"cell_tracks": {"config": {"wall_prediction": "bounce"}}}})
