"""Crops (sub-pixel, canonical scale, crop <-> field mapping) and OME-Zarr well movies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from lftiming_ml.chip import read_manifest, read_stack
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.sim.config import ChipLayout, preset_config
from lftiming_ml.wells.config import WellGridParams
from lftiming_ml.wells.crops import crop_origins, crop_scale, crop_to_field, field_to_crop, well_crop, well_crops
from lftiming_ml.wells.drift import estimate_drift
from lftiming_ml.wells.lattice import fit_lattice
from lftiming_ml.store import movies as store_movies
from lftiming_ml.store.layout import chip_work_dir
from lftiming_ml.store.movies import (WellMovieInfo, list_well_movies, open_well_channel, open_well_movie, open_well_phase,
                                      write_well_movie)
from lftiming_ml.wells.movies import write_field_movies

PARAMS = WellGridParams(crop_size_px=96)


def simulate(root: Path, name: str, **biology) -> Path:
    base = preset_config("standard", seed=21, n_fields=1, n_frames=3)
    cfg = base.model_copy(update={"layout": ChipLayout(wells_per_block=2, field_px=224),
                                  "biology": base.biology.model_copy(update=biology)})
    return simulate_chip(root / name, cfg, workers=1)


def run_field(chip: Path, store: Path) -> tuple[list[WellMovieInfo], dict[str, np.ndarray]]:
    """The pipeline on one field, the true wells of frame 0 standing in for detections."""
    manifest = read_manifest(chip)
    stacks = {c.name: read_stack(chip, manifest, "f000", c.role) for c in manifest.channels}
    gt = pd.read_parquet(chip / "gt" / "wells.parquet")
    first = gt[gt.frame == 0].sort_values(["row", "col"])
    centres = np.c_[(first.y0 + first.y1) / 2, (first.x0 + first.x1) / 2]
    px = manifest.pixel_size_um
    lattice = fit_lattice(centres, np.ones(len(centres)), n_rows=2, n_cols=2,
                          pitch_px_guess=manifest.layout.pitch_um / px, params=PARAMS, field_id="f000",
                          field_shape=manifest.field_shape, box_sizes=np.c_[first.y1 - first.y0, first.x1 - first.x0])
    drift = estimate_drift(stacks["phase"], params=PARAMS)
    occupied = first.occupied.to_numpy().reshape(2, 2)
    infos = write_field_movies(
        store, chip_id=manifest.chip_id, field_id="f000", stacks=stacks,
        channel_roles=[c.role.value for c in manifest.channels], centres=lattice.centres_over_time(drift),
        wells=lattice.wells(), occupied=occupied, well_size_px=lattice.well_size_px, raw_um_per_px=px,
        frame_interval_min=manifest.frame_interval_min, params=PARAMS)
    return infos, stacks


@pytest.fixture(scope="module")
def sim_chip(tmp_path_factory) -> Path:
    return simulate(tmp_path_factory.mktemp("crops"), "crop-chip", effectors_per_well=2.0, targets_per_well=2.0)


def ramp_stack(t: int = 2, h: int = 200, w: int = 220) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    return np.stack([1000 + 7.0 * y + 3.0 * x + 50 * k for k in range(t)]).astype(np.uint16)


@pytest.mark.parametrize("raw_um_per_px", [0.65, 1.3])
def test_crop_samples_the_field_at_the_mapped_positions(raw_um_per_px):
    stack = ramp_stack()
    params = WellGridParams(crop_size_px=24)
    centres = np.array([[100.37, 110.81], [99.62, 111.26]])  # sub-pixel, different per frame
    crop = well_crop({"phase": stack, "other": stack + 5}, centres, raw_um_per_px=raw_um_per_px, params=params)
    assert crop.shape == (2, 2, 24, 24) and crop.dtype == np.uint16
    scale = crop_scale(raw_um_per_px, params)
    origins = crop_origins(centres, raw_um_per_px=raw_um_per_px, params=params)
    ij = np.stack(np.mgrid[0:24, 0:24], -1).astype(np.float64)
    for t in range(2):
        yx = crop_to_field(ij, origins[t], scale)
        expected = 1000 + 7.0 * yx[..., 0] + 3.0 * yx[..., 1] + 50 * t
        assert np.abs(crop[t, 0] - expected).max() <= 0.5 + 1e-6  # bilinear is exact on a ramp
        assert field_to_crop(yx, origins[t], scale) == pytest.approx(ij)
        assert crop_to_field((23 / 2, 23 / 2), origins[t], scale) == pytest.approx(centres[t])
    assert (crop[:, 1] == crop[:, 0] + 5).all()  # channel order follows the dict


@pytest.mark.parametrize("raw_um_per_px", [0.65, 0.5, 1.3])
def test_crop_equals_scipys_bilinear_map_coordinates(raw_um_per_px):
    """``well_crop`` samples by hand (two shifted windows at unit scale); scipy's
    ``map_coordinates`` (order 1, constant fill, a float32 output rounded to uint16) is the
    reference, pixel for pixel: noise images, float32 (blurred) input, wells inside the field,
    across its edges and beyond them, integer and half-pixel centres."""
    from scipy.ndimage import map_coordinates

    rng = np.random.default_rng(7)
    params = WellGridParams(crop_size_px=32, crop_fill_value=3)
    scale = crop_scale(raw_um_per_px, params)
    for dtype in (np.uint16, np.float32):
        stack = rng.integers(0, 4000, (6, 90, 110)).astype(dtype)
        for centre in ([45.0, 55.0], [45.5, 55.5], [40.3, 60.77], [3.2, 100.9], [88.4, 1.6], [-30.0, 50.0]):
            centres = np.array(centre) + np.cumsum(rng.normal(0, 0.7, (6, 2)), 0)
            crop = well_crop({"a": stack, "b": stack[::-1].copy()}, centres, raw_um_per_px=raw_um_per_px, params=params)
            origins = crop_origins(centres, raw_um_per_px=raw_um_per_px, params=params)
            steps = np.arange(32) * scale
            for t in range(6):
                coords = np.stack(np.meshgrid(origins[t, 0] + steps, origins[t, 1] + steps, indexing="ij"))
                for c, arr in enumerate((stack, stack[::-1])):
                    ref = np.empty((32, 32), np.float32)
                    map_coordinates(arr[t], coords, output=ref, order=1, mode="constant", cval=3.0, prefilter=False)
                    assert (crop[t, c] == np.clip(np.rint(ref), 0, 65535)).all(), (dtype, centre, t, c)


def test_crop_outside_the_field_is_filled():
    params = WellGridParams(crop_size_px=16, crop_fill_value=0)
    crop = well_crops({"phase": ramp_stack(1, 40, 40)}, np.array([[[2.0, 20.0]]]), raw_um_per_px=0.65, params=params)
    assert crop.shape == (1, 1, 1, 16, 16)
    assert (crop[0, 0, 0, :5] == 0).all() and (crop[0, 0, 0, 7:] > 0).all()


def test_crops_of_a_simulated_well_hold_its_cells(sim_chip, tmp_path):
    infos, _ = run_field(sim_chip, tmp_path / "wells.zarr")
    cells = pd.read_parquet(sim_chip / "gt" / "cells.parquet")
    masks = zarr.open_group(str(sim_chip / "gt" / "masks.zarr"), mode="r")
    n_checked = 0
    for info in infos:
        if not info.cropped:
            continue
        movie, _ = open_well_movie(tmp_path / "wells.zarr", "f000", info.row, info.col)
        dye = movie[:, info.channel_roles.index("effector_dye")].astype(float) + \
            movie[:, info.channel_roles.index("target_dye")]
        g = masks[f"f000/r{info.row}c{info.col}"]
        amodal, gt_origin = np.asarray(g["amodal"][...]), np.asarray(g.attrs["crop_origins"])
        ij = np.stack(np.mgrid[0:96, 0:96], -1).astype(np.float64)
        for t in range(info.n_frames):
            # the crop's own positions, looked up in the ground-truth mask crop
            yx = np.rint(crop_to_field(ij, np.asarray(info.crop_origins_px[t]), info.field_px_per_crop_px)
                         - gt_origin[t]).astype(int)
            ok = (yx >= 0).all(-1) & (yx < amodal.shape[-1]).all(-1)
            cover = np.zeros((96, 96), bool)
            cover[ok] = amodal[t].any(axis=0)[yx[ok][:, 0], yx[ok][:, 1]]
            assert dye[t][cover].mean() > 2 * dye[t][~cover].mean()
            # every true cell centroid falls inside the well box of the crop
            here = cells[(cells.row == info.row) & (cells.col == info.col) & (cells.frame == t)]
            cyx = field_to_crop(here[["y", "x"]].to_numpy(), np.asarray(info.crop_origins_px[t]),
                                info.field_px_per_crop_px)
            y0, x0, y1, x1 = info.well_box_px
            assert ((cyx[:, 0] > y0) & (cyx[:, 0] < y1) & (cyx[:, 1] > x0) & (cyx[:, 1] < x1)).all()
            n_checked += len(here)
    assert n_checked > 0


def info_for(row: int = 0, col: int = 1, *, occupied: bool = True, chip_id: str = "chip-a") -> WellMovieInfo:
    return WellMovieInfo(chip_id=chip_id, field_id="f000", row=row, col=col, channels=["phase", "pkh67"],
                         channel_roles=["phase", "effector_dye"], frame_interval_min=5.0, um_per_px=0.65,
                         field_px_per_crop_px=1.0, crop_origins_px=[(10.5, 20.25), (11.0, 20.0), (11.5, 19.75)],
                         well_box_px=(9.0, 9.0, 86.0, 86.0), occupied=occupied, cropped=occupied, detection_score=0.9)


def test_phase_is_read_without_the_fluorescence_chunks(tmp_path, monkeypatch):
    store = tmp_path / "chip-a.zarr"
    movie = np.random.default_rng(1).integers(0, 4000, (3, 2, 96, 96), dtype=np.uint16)
    write_well_movie(store, info_for(), movie)
    reads = []
    real = store_movies._read_channels
    monkeypatch.setattr(store_movies, "_read_channels", lambda arr, ch: reads.append(ch) or real(arr, ch))
    phase, info = open_well_phase(store, "f000", 0, 1)
    assert (phase == movie[:, 0]).all() and reads == [0]
    chunk_dir = store / "wells" / "f000" / "r0c1" / "0" / "c"
    assert len(list(chunk_dir.rglob("*"))) - len([p for p in chunk_dir.rglob("*") if p.is_dir()]) == 2  # 2 chunk files


def test_one_fluorescence_channel_is_read_alone(tmp_path, monkeypatch):
    store = tmp_path / "chip-a.zarr"
    movie = np.random.default_rng(2).integers(0, 4000, (3, 2, 96, 96), dtype=np.uint16)
    write_well_movie(store, info_for(), movie)
    write_well_movie(store, info_for(0, 0, occupied=False), None)
    reads = []
    real = store_movies._read_channels
    monkeypatch.setattr(store_movies, "_read_channels", lambda arr, ch: reads.append(ch) or real(arr, ch))
    dye, info = open_well_channel(store, "f000", 0, 1, "effector_dye")
    assert (dye == movie[:, 1]).all() and dye.dtype == np.uint16 and reads == [1] and info == info_for()
    assert open_well_channel(store, "f000", 0, 0, "effector_dye")[0] is None  # an empty well has no pixels
    with pytest.raises(KeyError, match="no 'death_marker' channel"):
        open_well_channel(store, "f000", 0, 1, "death_marker")
    assert reads == [1]


def test_movie_round_trip_with_ome_metadata(tmp_path):
    store = tmp_path / "chip-a" / "wells.zarr"
    movie = np.random.default_rng(0).integers(0, 4000, (3, 2, 96, 96), dtype=np.uint16)
    write_well_movie(store, info_for(), movie)
    back, info = open_well_movie(store, "f000", 0, 1)
    assert (back == movie).all() and back.dtype == np.uint16 and info == info_for()
    group = zarr.open_group(str(store / "wells" / "f000" / "r0c1"), mode="r")
    arr = group["0"]
    assert arr.chunks == (3, 1, 96, 96) and arr.compressors  # one chunk per channel and arr.metadata.dimension_names == ("t", "c", "y", "x")
    ome = group.attrs["ome"]
    assert ome["version"] == "0.5"
    ms = ome["multiscales"][0]
    assert [(a["name"], a["type"], a.get("unit")) for a in ms["axes"]] == [
        ("t", "time", "minute"), ("c", "channel", None), ("y", "space", "micrometer"), ("x", "space", "micrometer")]
    assert ms["datasets"] == [{"path": "0", "coordinateTransformations": [
        {"type": "scale", "scale": [5.0, 1.0, 0.65, 0.65]}]}]
    assert [c["label"] for c in ome["omero"]["channels"]] == ["phase", "pkh67"]


def test_rewrite_replaces_and_leaves_no_staging(tmp_path):
    store = tmp_path / "wells.zarr"
    first = np.zeros((3, 2, 8, 8), np.uint16)
    write_well_movie(store, info_for(), first)
    write_well_movie(store, info_for(), first + 7)
    assert len(list_well_movies(store)) == 1
    assert (open_well_movie(store, "f000", 0, 1)[0] == 7).all()
    work = chip_work_dir(store)  # the chip's locks and commit journal, never staged data
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["wells.zarr", work.name])
    assert not any(p.is_file() for p in (work / "tx").rglob("*"))


def test_refusals(tmp_path):
    store = tmp_path / "wells.zarr"
    with pytest.raises(ValueError, match="uint16"):
        write_well_movie(store, info_for(), np.zeros((3, 2, 8, 8), np.float32))
    with pytest.raises(ValueError, match="cropped"):
        write_well_movie(store, info_for(), None)
    write_well_movie(store, info_for(occupied=False), None)
    with pytest.raises(ValueError, match="one store per chip"):
        write_well_movie(store, info_for(chip_id="chip-b", occupied=False), None)
    with pytest.raises(FileNotFoundError, match="r5c5"):
        open_well_movie(store, "f000", 5, 5)


def test_field_of_only_empty_wells(tmp_path):
    chip = simulate(tmp_path, "empty-chip", effectors_per_well=0.0, targets_per_well=0.0)
    store = tmp_path / "out" / "wells.zarr"
    infos, _ = run_field(chip, store)
    listed = list_well_movies(store)
    assert [(i.row, i.col) for i in listed] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert not any(i.occupied or i.cropped for i in listed)
    assert not list(store.rglob("0"))  # no arrays written
    movie, info = open_well_movie(store, "f000", 1, 1)
    assert movie is None and info.n_frames == 3


def test_listing_one_field_reads_only_its_folder(tmp_path, monkeypatch):
    store = tmp_path / "chip-a.zarr"
    movie = np.zeros((3, 2, 96, 96), dtype=np.uint16)
    for field in ("f000", "f001"):
        for col in (0, 1):
            write_well_movie(store, info_for(0, col).model_copy(update={"field_id": field}), movie)
    opened = []
    real = store_movies.zarr.open_group
    monkeypatch.setattr(store_movies.zarr, "open_group", lambda path, **kw: opened.append(path) or real(path, **kw))
    listed = list_well_movies(store, "f001")
    assert [(i.field_id, i.row, i.col) for i in listed] == [("f001", 0, 0), ("f001", 0, 1)]
    assert len(opened) == 2 and all("/f001/" in p for p in opened)  # the other field's groups are not read
    assert list_well_movies(store, "f009") == []
    assert [i for i in list_well_movies(store) if i.field_id == "f001"] == listed
