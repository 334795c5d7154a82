"""Free segmentation labels from the dye channels: on made-up crops the failure cases are
left out (a cell without dye, two touching cells no phase instance separates, the empty
frame), and on a small simulated chip the kept cells match the truth and go into the
annotations store with ``fluorescence`` provenance."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from lftiming_assets import cli
from lftiming_ml.annotations.fluorescence import (FluorescenceLabelParams, dye_cells, frame_complete, link_cells,
                                                  well_dye_labels)
from lftiming_ml.annotations.sources import fluorescence_records
from lftiming_ml.annotations.store import read_manifest, read_well, write_wells
from lftiming_ml.store.layout import ChipStore, DataLayout
from lftiming_ml.evaluation.annotations import record_scores
from lftiming_ml.truth.match import iter_truth_masks_in_crops, truth_cells_in_crops
from tests.annotations.conftest import CHIP_ID
from tests.interactions.pipeline_chip import build_pipeline_chip
from tests.truth_pipeline import write_truth_cell_masks

S, UM = 64, 0.65
PARAMS = FluorescenceLabelParams()


def disc(cy: float, cx: float, r: float, size: int = S) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def dye_image(masks: list[np.ndarray], levels: list[float], *, seed: int = 0) -> np.ndarray:
    """What the simulator's dye channel looks like: filled cells, a 1 px blur, shot noise."""
    signal = sum(level * m.astype(float) for m, level in zip(masks, levels)) if masks else np.zeros((S, S))
    rng = np.random.default_rng(seed)
    return rng.poisson(ndimage.gaussian_filter(signal, 1.0) + 120.0).astype(float) * 0.46 + 100.0


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_a_bright_cell_is_found_at_its_edge_and_the_empty_frame_has_none() -> None:
    cell = disc(30, 32, 7)
    found = dye_cells(dye_image([cell], [1500.0]), um_per_px=UM)
    assert len(found) == 1 and found[0].kept(PARAMS) and not found[0].split
    assert iou(found[0].mask, cell) > 0.9
    assert dye_cells(dye_image([], []), um_per_px=UM) == []
    assert dye_cells(np.full((S, S), 100.0), um_per_px=UM) == []  # all-dark frame


def test_a_cell_without_dye_is_doubtful_and_its_frame_is_left_out() -> None:
    bright, dim = disc(20, 20, 7), disc(44, 44, 7)
    found = dye_cells(dye_image([bright, dim], [1500.0, 150.0]), um_per_px=UM)  # a dye drop-out: 10% uptake
    kept = [c for c in found if c.kept(PARAMS)]
    assert len(kept) == 1 and iou(kept[0].mask, bright) > 0.9
    assert not frame_complete(found, None, PARAMS)
    # no dye at all: only the phase model sees the second cell, which no kept cell covers
    alone = dye_cells(dye_image([bright], [1500.0]), um_per_px=UM)
    assert frame_complete(alone, None, PARAMS)
    assert not frame_complete(alone, np.stack([bright, dim]), PARAMS)


def test_touching_cells_are_split_by_phase_seeds_and_left_out_without_them() -> None:
    a, b = disc(32, 22, 8), disc(32, 37, 8)  # touching discs of one dye
    image = dye_image([a, b], [1500.0, 1500.0])
    unseeded = dye_cells(image, um_per_px=UM)
    assert not any(c.kept(PARAMS) for c in unseeded)  # a guess at the boundary would be a wrong label
    seeded = dye_cells(image, um_per_px=UM, seeds=np.stack([a, b]))
    assert len(seeded) == 2 and all(c.kept(PARAMS) and c.split for c in seeded)
    assert all(max(iou(c.mask, t) for t in (a, b)) >= 0.8 for c in seeded)


def test_a_clump_of_effectors_left_together_is_too_large_to_be_one_effector() -> None:
    clump = [disc(27, 26, 6), disc(27, 37, 6), disc(37, 31, 6)]  # three touching effectors, no phase seeds
    found = dye_cells(dye_image(clump, [1500.0] * 3), um_per_px=UM, dye="effector_dye",
                      params=PARAMS.model_copy(update={"split_min_distance_um": 20.0}))
    assert len(found) == 1 and found[0].area_um2 > PARAMS.max_effector_area_um2 and not found[0].kept(PARAMS)


def test_cells_are_linked_over_frames_per_dye() -> None:
    frames = [[disc(20, 20, 6), disc(44, 44, 6)], [disc(46, 44, 6), disc(22, 23, 6)], [], [disc(24, 25, 6)]]
    ids = link_cells(frames, um_per_px=UM)
    assert ids == [[0, 1], [1, 0], [], [0]]  # a left-out frame is bridged


def test_well_labels_give_types_by_dye_and_leave_incomplete_frames_empty() -> None:
    eff, tgt, dim = disc(20, 20, 6), disc(40, 40, 8), disc(20, 45, 6)
    ok = {"effector_dye": dye_image([eff], [1500.0], seed=1), "target_dye": dye_image([tgt], [1500.0], seed=2)}
    bad = {"effector_dye": dye_image([eff, dim], [1500.0, 100.0], seed=3), "target_dye": dye_image([tgt], [1500.0], seed=4)}
    channels = {r: np.stack([ok[r], bad[r], ok[r]]) for r in ok}
    labels = well_dye_labels(channels, um_per_px=UM)
    assert labels.cell_types == ["effector", "target"]
    present = labels.masks.any(axis=(2, 3))
    np.testing.assert_array_equal(present, [[True, True], [False, False], [True, True]])
    assert iou(labels.masks[0, 0], eff) > 0.85 and iou(labels.masks[2, 1], tgt) > 0.85


@pytest.fixture(scope="module")
def seeded_root(built_chip_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The annotations chip with the true masks as the phase model's instances (a perfect phase model)."""
    root = tmp_path_factory.mktemp("seeded") / "data"
    shutil.copytree(built_chip_root, root)
    write_truth_cell_masks(root / "raw" / CHIP_ID, root / "zarr" / f"{CHIP_ID}.zarr")
    return root


def truth_ious(chip: ChipStore, records) -> tuple[np.ndarray, float]:
    """Per labelled mask its IoU with the best true mask, and the share of labelled tracks
    whose type is the truth's (``evaluation.annotations.record_scores``)."""
    frames, tracks = record_scores(chip, records)
    return np.concatenate(frames["label_ious"].to_list()), float((tracks["cell_type"] == tracks["true_type"]).mean())


@pytest.mark.parametrize("seeded", [False, True])
def test_chip_fluorescence_labels_match_the_truth_and_leave_doubtful_cells_out(
        seeded: bool, chip: ChipStore, seeded_root: Path) -> None:
    chip = DataLayout(seeded_root).chip(CHIP_ID) if seeded else chip
    records, cells = fluorescence_records(chip)
    assert records and bool(cells["phase_seeded"].all()) == seeded
    ious, type_accuracy = truth_ious(chip, records)
    assert np.median(ious) > 0.88 and ious.min() > 0.7, (np.median(ious), ious.min())
    assert type_accuracy == 1.0
    kept = cells["kept"] & cells["frame_kept"]
    assert len(ious) == int(kept.sum()) < len(cells)  # every kept cell is in the records, no doubtful one
    assert (cells.loc[~cells["kept"], "quality"] < PARAMS.min_quality).all()
    if seeded:  # a perfect phase model splits touching cells: nearly every cell is kept
        assert kept.mean() > 0.95
    result = write_wells(chip, records)
    manifest = read_manifest(chip)
    assert manifest.version == result.version and set(manifest.labels_by_provenance()) == {"fluorescence"}
    record = read_well(chip, records[0].well)
    assert {s.provenance for s in record.sources} == {"fluorescence"}
    assert all(t.type_source.provenance == "fluorescence" and t.death_source is None for t in record.tracks)


def test_cli_annotate_from_fluorescence(chip: ChipStore, data_root: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("LFTIMING_DATA", str(data_root))
    assert cli.main(["annotate", "--chip", CHIP_ID, "--from", "fluorescence"]) == 0
    out = capsys.readouterr().out
    assert f"annotations version {read_manifest(chip).version}" in out and "sure" in out
    report = pd.read_csv(chip.reports_dir / "fluorescence_labels.csv")
    assert {"well", "frame", "dye", "quality", "kept", "frame_kept"} <= set(report.columns)
    assert cli.main(["annotate", "--chip", CHIP_ID, "--from", "fluorescence"]) == 0  # the same labels again
    assert "0 wells written" in capsys.readouterr().out


@pytest.fixture(scope="module")
def other_scope_chip(tmp_path_factory: pytest.TempPathFactory) -> ChipStore:
    """A small chip of the second microscope (0.5 um/px: its well movies are resampled to 0.65)."""
    root = tmp_path_factory.mktemp("other-scope") / "data"
    build_pipeline_chip(root, "os-s5", seed=5, n_frames=4, field_px=464, preset="other-scope")
    return DataLayout(root).chip("os-s5")


def test_truth_is_resampled_into_crops_of_another_pixel_size(other_scope_chip: ChipStore) -> None:
    chip = other_scope_chip
    cells = truth_cells_in_crops(chip.raw_dir, chip.zarr_path).set_index(["field_id", "row", "col", "cell_id", "frame"])
    gt_area = pd.read_parquet(chip.raw_dir / "gt" / "cells.parquet").set_index(
        ["field_id", "row", "col", "cell_id", "frame"])["area"]
    checked = 0
    for well in iter_truth_masks_in_crops(chip.raw_dir, chip.zarr_path):
        for k, cell in enumerate(well.cell_ids):
            for t in np.flatnonzero(well.masks[:, k].any(axis=(1, 2))):
                ys, xs = np.nonzero(well.masks[t, k])
                want = cells.loc[(well.field_id, well.row, well.col, int(cell), int(t))]
                assert abs(ys.mean() - want["y"]) < 0.6 and abs(xs.mean() - want["x"]) < 0.6
                ratio = ys.size / (gt_area.loc[(well.field_id, well.row, well.col, int(cell), int(t))]
                                   * (0.5 / 0.65) ** 2)
                assert 0.85 < ratio < 1.15, ratio
                checked += 1
    assert checked > 20


def test_fluorescence_labels_hold_on_the_other_scope(other_scope_chip: ChipStore) -> None:
    records, cells = fluorescence_records(other_scope_chip)
    ious, type_accuracy = truth_ious(other_scope_chip, records)
    assert np.median(ious) > 0.85 and ious.min() > 0.6, (np.median(ious), ious.min())
    assert type_accuracy == 1.0 and len(ious) == int((cells["kept"] & cells["frame_kept"]).sum())
