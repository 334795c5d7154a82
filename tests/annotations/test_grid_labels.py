"""Well-grid labels: three corner wells per field -> the block's wells, stored and versioned
with the chip's other labels, refused when they do not fit the chip, and turned into
training samples the well detector fine-tunes on."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lftiming_assets import cli
from lftiming_ml.annotations.grid import FieldGridLabel, check_grid_label
from lftiming_ml.annotations.schema import LabelSource
from lftiming_ml.annotations.selection import resolve_selection
from lftiming_ml.annotations.store import (AnnotationManifest, grid_path, read_grid, read_manifest, restore_version,
                                           write_grids)
from lftiming_ml.annotations.summary import damaged_records
from lftiming_ml.annotations.validate import AnnotationError
from lftiming_ml.chip import read_manifest as read_chip_manifest
from lftiming_ml.corpus import AnnotationSelection
from lftiming_ml.store.layout import ChipStore, DataLayout
from lftiming_ml.truth.annotations import simulator_grid_labels
from lftiming_ml.truth.files import read_wells
from lftiming_ml.wells.annotated import grid_label_samples
from tests.annotations.conftest import CHIP_ID, tree_bytes


def _truth_boxes(raw: Path, field_id: str, frame: int) -> tuple[np.ndarray, np.ndarray]:
    w = read_wells(raw)
    w = w[(w.field_id == field_id) & (w.frame == frame)].sort_values(["row", "col"])
    return w[["y0", "x0", "y1", "x1"]].to_numpy(), (w["n_cells"] > 0).to_numpy()


def test_three_corner_wells_give_every_well_of_the_block_as_the_truth_has_it(chip: ChipStore) -> None:
    manifest = read_chip_manifest(chip.raw_dir)
    (label,) = simulator_grid_labels(chip.raw_dir, manifest)
    check_grid_label(label, manifest)
    rc, boxes, occupied = label.wells(manifest)
    true_boxes, true_occupied = _truth_boxes(chip.raw_dir, "f000", 0)
    assert rc.tolist() == [[r, c] for r in range(3) for c in range(3)]
    np.testing.assert_allclose(boxes, true_boxes, atol=1e-6)
    assert occupied.tolist() == true_occupied.tolist()
    unlabelled = replace(label, empty=None)
    assert unlabelled.wells(manifest)[2].all()  # occupancy not labelled: every well counts as occupied


def test_grid_labels_are_versioned_beside_the_well_records_and_restorable(chip: ChipStore) -> None:
    manifest = read_chip_manifest(chip.raw_dir)
    before = read_manifest(chip)
    assert before.empty and before.version == AnnotationManifest(CHIP_ID).version
    (label,) = simulator_grid_labels(chip.raw_dir, manifest)
    first = write_grids(chip, [label], manifest)
    assert first.written == ["f000"] and first.version != before.version
    assert read_grid(chip, "f000").same_label(label)
    again = write_grids(chip, [replace(label, source=LabelSource("simulator", "2030-01-01T00:00:00+00:00"))], manifest)
    assert again.unchanged == ["f000"] and again.version == first.version  # same labels, later time: no new version
    moved = replace(label, source=LabelSource.now("human:ana"), top_left=(label.top_left[0] + 1, label.top_left[1]))
    second = write_grids(chip, [moved], manifest)
    assert second.version != first.version and read_grid(chip, "f000").source.provenance == "human:ana"
    assert read_grid(chip, "f000", version=first.version).source.provenance == "simulator"
    restore_version(chip, first.version)
    assert read_manifest(chip).version == first.version
    # a version without grid labels hashes as before grids existed: {"chip_id", "wells"} only
    assert AnnotationManifest(CHIP_ID, {"f000/r0c0": "ab"}).version == AnnotationManifest(
        CHIP_ID, {"f000/r0c0": "ab"}, fields={}).version
    assert AnnotationManifest(CHIP_ID, {}, fields={"f000": "ab"}).version != before.version


def test_a_damaged_grid_label_is_reported(chip: ChipStore) -> None:
    manifest = read_chip_manifest(chip.raw_dir)
    (label,) = simulator_grid_labels(chip.raw_dir, manifest)
    write_grids(chip, [label], manifest)
    path = grid_path(chip, read_manifest(chip).fields["f000"])
    data = json.loads(path.read_text())
    data["top_left"][0] += 5
    path.write_text(json.dumps(data))
    assert any("does not match its hash" in p for p in damaged_records(chip, read_manifest(chip)))


def _bad(label: FieldGridLabel, n: int) -> dict[str, tuple[FieldGridLabel, str]]:
    tl, tr, bl = np.array(label.top_left), np.array(label.top_right), np.array(label.bottom_left)
    pitch = (tr - tl) / (n - 1)
    return {
        "another chip": (replace(label, chip_id="other"), "cannot go into chip"),
        "unknown field": (replace(label, field_id="f009"), "has no field 'f009'"),
        "frame past the movie": (replace(label, frame=99), "frame 99 is outside the movie"),
        "corner outside the field": (replace(label, top_right=(tr[0], 5000.0)), "lies outside the"),
        "not a number": (replace(label, bottom_left=(float("nan"), bl[1])), "is not a number"),
        "wrong pitch": (replace(label, top_right=tuple(tl + (tr - tl) * 0.7), bottom_left=tuple(tl + (bl - tl) * 0.7)),
                        "but the chip's pitch is"),
        "not a square": (replace(label, top_right=tuple(tr + pitch * 0.3)), "not a square's"),
        "not at right angles": (replace(label, bottom_left=tuple(bl + (tr - tl) * 0.3)), "not 90"),
        "corners swapped": (replace(label, top_right=tuple(bl), bottom_left=tuple(tr)), "swapped"),
        "empty well outside the block": (replace(label, empty=((0, 7),)), "outside the 3 x 3 block"),
        "empty well twice": (replace(label, empty=((1, 1), (1, 1))), "named twice"),
        "bad provenance": (replace(label, source=LabelSource("someone", label.source.time)), "provenance"),
    }


@pytest.mark.parametrize("kind", list(_bad(FieldGridLabel("c", "f", 0, (0, 0), (0, 2), (2, 0),
                                                          LabelSource("simulator", "t")), 3)))
def test_a_grid_label_that_does_not_fit_the_chip_is_refused_and_the_store_unchanged(chip: ChipStore, kind: str) -> None:
    manifest = read_chip_manifest(chip.raw_dir)
    (label,) = simulator_grid_labels(chip.raw_dir, manifest)
    write_grids(chip, [label], manifest)
    before = tree_bytes(chip.annotations_dir)
    bad, message = _bad(label, manifest.layout.wells_per_block)[kind]
    with pytest.raises(AnnotationError, match=message) as e:
        write_grids(chip, [bad], manifest, sources=["labels.json"])
    assert str(e.value).startswith("labels.json: ")
    assert tree_bytes(chip.annotations_dir) == before


def test_grid_samples_follow_the_field_drift_and_the_selection_names_them(chip: ChipStore, data_root: Path) -> None:
    manifest = read_chip_manifest(chip.raw_dir)
    (label,) = simulator_grid_labels(chip.raw_dir, manifest)
    write_grids(chip, [label], manifest)
    samples = grid_label_samples(chip.raw_dir, manifest, [label], frames=(0, 5, 9))
    assert [s.frame for s in samples] == [0, 5, 9]
    for s in samples:  # the labelled frame-0 grid, moved by the measured drift, lands on the true wells
        true_boxes, true_occupied = _truth_boxes(chip.raw_dir, "f000", s.frame)
        assert np.abs(s.boxes - true_boxes).max() < 1.0
        assert s.occupied.tolist() == true_occupied.tolist()
    resolved = resolve_selection(DataLayout(data_root), AnnotationSelection(chip_id=CHIP_ID, provenances=("human",)))
    assert list(resolved.grids()) == []  # the provenance filter keeps no simulator grid
    resolved = resolve_selection(DataLayout(data_root), AnnotationSelection(chip_id=CHIP_ID))
    assert [g.field_id for g in resolved.grids()] == ["f000"]
    assert resolved.describe()["grids"] == {"f000": label.canonical().content_hash()}


def test_label_wells_by_hand_writes_a_human_label_and_refuses_a_wrong_click(
        chip: ChipStore, data_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("LFTIMING_DATA", str(data_root))
    manifest = read_chip_manifest(chip.raw_dir)
    (truth,) = simulator_grid_labels(chip.raw_dir, manifest)
    corners = [f"{y:.1f},{x:.1f}" for y, x in (truth.top_left, truth.top_right, truth.bottom_left)]
    assert cli.main(["label-wells", "--chip", CHIP_ID, "--fields", "f000", "--corners", *corners,
                     "--empty", "r0c1", "--user", "ana"]) == 0
    out = capsys.readouterr().out
    assert "3 x 3 wells" in out and "1 empty (human:ana)" in out and "lftiming train well_detector --init champion" in out
    preview = chip.reports_dir / "grid_label_f000.png"
    assert f"look at the wells on the frame: {preview}" in out and preview.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stored = read_grid(chip, "f000")
    assert stored.source.provenance == "human:ana" and stored.empty == ((0, 1),)
    before = tree_bytes(chip.annotations_dir)
    swapped = [corners[0], corners[2], corners[1]]
    assert cli.main(["label-wells", "--chip", CHIP_ID, "--fields", "f000", "--corners", *swapped]) == 2
    assert "swapped" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="has no field f009 \\(fields: f000\\)"):
        cli.main(["label-wells", "--chip", CHIP_ID, "--from", "simulator", "--fields", "f009"])
    assert tree_bytes(chip.annotations_dir) == before
