"""The raw-chip contract: a valid chip reads; each way of breaking it is a clear error naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from lftiming_ml.chip import ChipValidationError, read_manifest, read_stack, validate_chip

from tests.conftest import TINY_H as H, TINY_T as T, TINY_W as W, write_tiny_chip as _make_chip


def _edit_manifest(chip: Path, **changes) -> None:
    m = json.loads((chip / "chip.json").read_text())
    m.update(changes)
    (chip / "chip.json").write_text(json.dumps(m))


def _expect(chip: Path, match: str, path_suffix: str) -> None:
    with pytest.raises(ChipValidationError, match=match) as info:
        validate_chip(chip)
    assert str(info.value.path).endswith(path_suffix), info.value.path


def test_valid_chip_reads(tmp_path: Path) -> None:
    chip = _make_chip(tmp_path)
    manifest, infos = validate_chip(chip)
    assert manifest.chip_id == "chip-a"
    assert [i.channel for i in infos] == ["phase", "pkh67"]
    assert infos[0].frame_means.shape == (T,)
    stack = read_stack(chip, manifest, "f000", "phase")
    assert stack.shape == (T, H, W) and stack.dtype == np.uint16
    assert manifest.frame_times_min() == [0.0, 5.0, 10.0]


def test_wrong_frame_shape(tmp_path: Path) -> None:
    chip = _make_chip(tmp_path)
    tifffile.imwrite(chip / "f000/phase.tif", np.zeros((T, H, W + 1), np.uint16), photometric="minisblack")
    _expect(chip, r"frame shape \(24, 33\)", "f000/phase.tif")


def test_wrong_dtype(tmp_path: Path) -> None:
    chip = _make_chip(tmp_path)
    tifffile.imwrite(chip / "f000/pkh67.tif", np.zeros((T, H, W), np.uint8), photometric="minisblack")
    _expect(chip, "dtype uint8, expected uint16", "f000/pkh67.tif")


@pytest.mark.parametrize("frames, word", [(T - 1, "missing"), (T + 2, "extra")])
def test_missing_or_extra_frames(tmp_path: Path, frames: int, word: str) -> None:
    chip = _make_chip(tmp_path)
    tifffile.imwrite(chip / "f000/phase.tif", np.zeros((frames, H, W), np.uint16), photometric="minisblack")
    _expect(chip, f"{word} frames: {frames} frames", "f000/phase.tif")


def test_unknown_channel_role(tmp_path: Path) -> None:
    chip = _make_chip(tmp_path)
    _edit_manifest(chip, channels=[{"name": "phase", "role": "phase"}, {"name": "pkh67", "role": "nuclear_dye"}])
    _expect(chip, r"channels\.1\.role", "chip.json")


def test_missing_phase_channel(tmp_path: Path) -> None:
    chip = _make_chip(tmp_path)
    _edit_manifest(chip, channels=[{"name": "phase", "role": "target_dye"}, {"name": "pkh67", "role": "effector_dye"}])
    _expect(chip, "role 'phase' is required", "chip.json")


def test_non_monotonic_timestamps(tmp_path: Path) -> None:
    chip = _make_chip(tmp_path, timestamps_min=[0.0, 5.0, 5.0])
    _expect(chip, "increase strictly; not at frame index 2", "chip.json")


def test_nan_pixels(tmp_path: Path) -> None:
    chip = _make_chip(tmp_path)
    bad = np.ones((T, H, W), np.float32)
    bad[1, 2, 3] = np.nan
    bad[2, 0, 0] = np.inf
    tifffile.imwrite(chip / "f000/phase.tif", bad, photometric="minisblack")
    _expect(chip, "contains 2 NaN/inf pixels", "f000/phase.tif")


def test_truncated_tiff(tmp_path: Path) -> None:
    chip = _make_chip(tmp_path)
    path = chip / "f000/phase.tif"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _expect(chip, "truncated TIFF", "f000/phase.tif")


def test_not_a_tiff(tmp_path: Path) -> None:
    chip = _make_chip(tmp_path)
    (chip / "f000/pkh67.tif").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    _expect(chip, "not a readable TIFF", "f000/pkh67.tif")


def test_missing_stack(tmp_path: Path) -> None:
    chip = _make_chip(tmp_path)
    (chip / "f000/pkh67.tif").unlink()
    _expect(chip, "missing", "f000/pkh67.tif")


def test_stray_tiff(tmp_path: Path) -> None:
    chip = _make_chip(tmp_path)
    tifffile.imwrite(chip / "f001_phase.tif", np.zeros((T, H, W), np.uint16), photometric="minisblack")
    _expect(chip, "not named in chip.json", "f001_phase.tif")
    # ground truth may hold anything
    (chip / "f001_phase.tif").unlink()
    (chip / "gt").mkdir()
    tifffile.imwrite(chip / "gt" / "labels.tif", np.zeros((2, 2), np.uint16), photometric="minisblack")
    validate_chip(chip)


@pytest.mark.parametrize("bad_id", ["../evil", "a b", ".hidden", "x" * 65, "semi;colon"])
def test_unsafe_chip_id(tmp_path: Path, bad_id: str) -> None:
    chip = _make_chip(tmp_path)
    _edit_manifest(chip, chip_id=bad_id)
    _expect(chip, "chip_id", "chip.json")


def test_chip_id_must_match_folder(tmp_path: Path) -> None:
    chip = _make_chip(tmp_path)
    _edit_manifest(chip, chip_id="chip-b")
    _expect(chip, "differs from the folder name", "chip.json")


def test_unsafe_folder_name(tmp_path: Path) -> None:
    folder = tmp_path / "has space"
    folder.mkdir()
    with pytest.raises(ChipValidationError, match="not a safe name"):
        read_manifest(folder)


@pytest.mark.parametrize("path", ["/etc/passwd.tif", "../other/phase.tif", "f000/phase.png"])
def test_image_path_must_stay_inside(tmp_path: Path, path: str) -> None:
    chip = _make_chip(tmp_path)
    _edit_manifest(chip, fields=[{"field_id": "f000", "block_row": 0, "block_col": 0,
                                  "images": {"phase": path, "pkh67": "f000/pkh67.tif"}}])
    _expect(chip, "image path", "chip.json")


def test_field_must_name_every_channel(tmp_path: Path) -> None:
    chip = _make_chip(tmp_path)
    _edit_manifest(chip, fields=[{"field_id": "f000", "block_row": 0, "block_col": 0,
                                  "images": {"phase": "f000/phase.tif"}}])
    _expect(chip, r"missing \['pkh67'\]", "chip.json")


def test_invalid_json_and_missing_manifest(tmp_path: Path) -> None:
    chip = _make_chip(tmp_path)
    (chip / "chip.json").write_text("{not json")
    _expect(chip, "not valid JSON", "chip.json")
    (chip / "chip.json").unlink()
    _expect(chip, "missing chip.json", "chip.json")


def test_unknown_manifest_key(tmp_path: Path) -> None:
    chip = _make_chip(tmp_path, exposure_ms=20)
    _expect(chip, "exposure_ms", "chip.json")
