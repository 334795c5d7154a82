"""Malformed chips (issue #23): each kind is refused by ``lftiming validate`` (what
``raw_chip`` runs first) with exit code 2 and a message naming the file and the problem.
Finding 8's two TIFFs are here: a plain (non-ImageJ) multi-page TIFF cut at a page boundary
(was reported as "missing frames", a shape error) and an ImageJ TIFF missing its trailing
IFDs (was read with tifffile warnings and passed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile

from lftiming_assets.cli import main
from tests.conftest import TINY_H, TINY_T, TINY_W, write_tiny_chip

CHIP = "chip-a"


def _manifest(chip: Path, **changes) -> None:
    m = json.loads((chip / "chip.json").read_text())
    m.update(changes)
    (chip / "chip.json").write_text(json.dumps(m))


def _channel(chip: Path, **changes) -> None:
    m = json.loads((chip / "chip.json").read_text())
    m["channels"][1].update(changes)
    (chip / "chip.json").write_text(json.dumps(m))


def _images(chip: Path, **images) -> None:
    m = json.loads((chip / "chip.json").read_text())
    m["fields"][0]["images"].update(images)
    (chip / "chip.json").write_text(json.dumps(m))


def _stack(chip: Path, data: np.ndarray, name: str = "phase", **kw) -> None:
    tifffile.imwrite(chip / "f000" / f"{name}.tif", data, **kw)


def _frames(n: int = TINY_T, h: int = TINY_H, w: int = TINY_W, dtype=np.uint16) -> np.ndarray:
    return np.full((n, h, w), 100, dtype)


def _plain_pages_cut_at_page(chip: Path) -> None:
    path = chip / "f000" / "phase.tif"
    with tifffile.TiffWriter(path) as w:  # one IFD + data per frame, no ImageJ or shape metadata
        for frame in _frames():
            w.write(frame, contiguous=False, metadata=None)
    with tifffile.TiffFile(path) as tif:
        last = tif.pages[-1].offset
    path.write_bytes(path.read_bytes()[:last])  # cut exactly before the last page


def _imagej_without_trailing_ifds(chip: Path) -> None:
    path = chip / "f000" / "phase.tif"
    tifffile.imwrite(path, _frames(), imagej=True)  # data first, then the IFDs of frames 1..T-1
    with tifffile.TiffFile(path) as tif:
        second = tif.pages[1].offset
    path.write_bytes(path.read_bytes()[:second])


def _cut(fraction: float) -> Callable[[Path], None]:
    def cut(chip: Path) -> None:
        path = chip / "f000" / "phase.tif"
        data = path.read_bytes()
        path.write_bytes(data[:int(len(data) * fraction)])
    return cut


def _rename_folder(chip: Path) -> Path:
    other = chip.with_name("chip-b")
    chip.rename(other)
    return other


def _write(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


KINDS: dict[str, tuple[Callable[[Path], Path | None], str]] = {
    "no chip folder": (lambda c: c.with_name("nope"), "chip folder does not exist"),
    "no chip.json": (lambda c: (c / "chip.json").unlink(), "missing chip.json"),
    "chip.json not JSON": (lambda c: (c / "chip.json").write_text("{chip"), "not valid JSON"),
    "unknown key": (lambda c: _manifest(c, colour="red"), "colour: Extra inputs are not permitted"),
    "id differs from folder": (_rename_folder, "differs from the folder name 'chip-b'"),
    "id with a path": (lambda c: _manifest(c, chip_id="../x"), "chip_id"),
    "id with spaces": (lambda c: _manifest(c, chip_id="my chip"), "chip_id"),
    "schema version": (lambda c: _manifest(c, schema_version=2), "schema_version 2 is not supported"),
    "frame interval <= 0": (lambda c: _manifest(c, frame_interval_min=0), "frame_interval_min"),
    "pixel size < 0": (lambda c: _manifest(c, pixel_size_um=-0.65), "pixel_size_um"),
    "no frames": (lambda c: _manifest(c, n_frames=0), "n_frames"),
    "field shape <= 0": (lambda c: _manifest(c, field_shape=[0, 32]), "field_shape"),
    "no phase channel": (lambda c: _manifest(c, channels=[{"name": "pkh67", "role": "effector_dye"}]),
                         "a channel with role 'phase' is required"),
    "unknown role": (lambda c: _channel(c, role="brightfield"), "role"),
    "role twice": (lambda c: _channel(c, role="phase"), "each channel role may appear once"),
    "channel name twice": (lambda c: _channel(c, name="phase", role="effector_dye"), "channel names repeat"),
    "timestamps decrease": (lambda c: _manifest(c, timestamps_min=[0, 10, 5]), "must increase strictly"),
    "timestamps count": (lambda c: _manifest(c, timestamps_min=[0, 5]), "timestamps_min has 2 entries"),
    "field repeated": (lambda c: _manifest(c, fields=json.loads((c / "chip.json").read_text())["fields"] * 2),
                       "field ids repeat"),
    "image path escapes": (lambda c: _images(c, phase="../phase.tif"), "must be relative, inside the chip folder"),
    "image not a .tif": (lambda c: _images(c, phase="f000/phase.png"), "must be a .tif/.tiff file"),
    "image missing": (lambda c: (c / "f000" / "phase.tif").unlink(), "image stack named in chip.json is missing"),
    "stray TIFF": (lambda c: _stack(c, _frames(), name="extra"), "TIFF not named in chip.json"),
    "not a TIFF": (lambda c: _write(c / "f000" / "phase.tif", "hello"), "not a readable TIFF"),
    "empty file": (lambda c: _write(c / "f000" / "phase.tif", ""), "phase.tif"),
    "uint8 pixels": (lambda c: _stack(c, _frames(dtype=np.uint8)), "dtype uint8, expected uint16"),
    "NaN pixels": (lambda c: _stack(c, np.where(np.arange(TINY_W) == 3, np.nan, _frames(dtype=np.float32))),
                   "NaN/inf pixels"),
    "missing frames": (lambda c: _stack(c, _frames(TINY_T - 1)), "missing frames: 2 frames, chip.json says n_frames=3"),
    "extra frames": (lambda c: _stack(c, _frames(TINY_T + 2)), "extra frames: 5 frames"),
    "wrong frame shape": (lambda c: _stack(c, _frames(w=TINY_W + 1)), "frame shape (24, 33)"),
    "one 2-D image": (lambda c: _stack(c, _frames()[0]), "expected a T x H x W stack"),
    "TIFF cut mid-data": (_cut(0.6), "truncated TIFF"),
    "plain TIFF cut at a page boundary": (_plain_pages_cut_at_page, "truncated TIFF: the chain of pages breaks off"),
    "ImageJ TIFF without trailing IFDs": (_imagej_without_trailing_ifds, "truncated TIFF: the chain of pages breaks off"),
}


def test_at_least_25_kinds() -> None:
    assert len(KINDS) >= 25


@pytest.mark.parametrize("kind", list(KINDS))
def test_malformed_chip_is_refused_with_its_message(kind: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    chip = write_tiny_chip(tmp_path, CHIP)
    assert main(["validate", str(chip)]) == 0  # valid before the change
    capsys.readouterr()
    make, message = KINDS[kind]
    made = make(chip)
    chip = made if isinstance(made, Path) else chip
    assert main(["validate", str(chip)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lftiming validate: "), err
    assert message in err, f"{kind}: {err}"
    assert str(tmp_path) in err, f"{kind}: the message names no file: {err}"
