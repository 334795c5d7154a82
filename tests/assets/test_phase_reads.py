"""Each stage after ``well_movies`` decompresses a well movie's phase channel at most once per
well and never its fluorescence channels (movies are stored one chunk per channel), counted
on a small simulated chip with a fake model registry."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from lftiming_assets.classification.assets import apoptosis_classifier, cell_deaths, cell_types, celltype_classifier
from lftiming_assets.models.assets import well_detector
from lftiming_assets.partitions import chips
from lftiming_assets.raw.assets import raw_chip
from lftiming_assets.resources import build_resources
from lftiming_assets.segmentation.assets import cell_masks, locsnet
from lftiming_assets.tracking.assets import cell_tracks, reid_embedding
from lftiming_assets.wells.assets import well_grid, well_movies
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.store import movies as store_movies
from lftiming_ml.store.movies import list_well_movies
from lftiming_ml.store.tables import read_chip_table
from tests.assets.fakes import FakeRegistry
from tests.conftest import small_sim_config

CHIP = "ph-s25"
STAGES = ("cell_masks", "cell_tracks", "cell_types", "cell_deaths")


def test_stages_read_phase_once_per_well_and_no_fluorescence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    simulate_chip(tmp_path / "raw" / CHIP, small_sim_config(seed=25, n_frames=4))
    reads: list[tuple[str, object]] = []
    real = store_movies._read_channels
    monkeypatch.setattr(store_movies, "_read_channels",
                        lambda array, channels: reads.append((str(array.store_path), channels)) or real(array, channels))
    registry = FakeRegistry(chip_dir=str(tmp_path / "raw" / CHIP))
    per_stage: dict[str, Counter] = {}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(chips.name, [CHIP])
        defs = dg.Definitions(
            assets=[raw_chip, well_grid, well_movies, well_detector, locsnet, cell_masks, reid_embedding, cell_tracks,
                    celltype_classifier, apoptosis_classifier, cell_types, cell_deaths],
            resources={**build_resources(str(tmp_path)), "registry": registry},
            jobs=[dg.define_asset_job("wells", selection=["raw_chip", "well_grid", "well_movies"]),
                  *[dg.define_asset_job(s, selection=[s]) for s in STAGES]])
        assert defs.resolve_job_def("wells").execute_in_process(partition_key=CHIP, instance=instance).success
        for stage in STAGES:
            reads.clear()
            assert defs.resolve_job_def(stage).execute_in_process(partition_key=CHIP, instance=instance).success
            assert all(isinstance(ch, int) for _, ch in reads), f"{stage} read more than one channel: {reads}"
            per_stage[stage] = Counter(path for path, _ in reads)

    store = tmp_path / "zarr" / f"{CHIP}.zarr"
    infos = [i for i in list_well_movies(store) if i.cropped]
    assert infos and all(i.channel_roles[i.phase_index] == "phase" and len(i.channels) == 4 for i in infos)
    assert {ch for _, ch in reads} <= {i.phase_index for i in infos}
    for stage, counts in per_stage.items():
        assert counts and max(counts.values()) == 1, f"{stage}: {counts}"  # each well at most once
    assert len(per_stage["cell_masks"]) == len(infos)  # every cropped well is segmented
    tracked = read_chip_table(tmp_path / "tables", "cell_tracks", CHIP)[["field_id", "row", "col"]].drop_duplicates()
    assert len(per_stage["cell_types"]) == len(per_stage["cell_deaths"]) == len(tracked) > 0
