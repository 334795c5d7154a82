"""Export -> edit as a user would -> import: the store holds the edit with its provenance.
Our CTC export read back by an independent reader (py-ctcmetrics) gives the same tracks."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
from ctc_metrics import evaluate_sequence, validate_sequence
from ctc_metrics.utils.filesystem import parse_masks, read_tracking_file
from ctc_metrics.utils.representations import match

from lftiming_assets import cli
from lftiming_ml.annotations.exchange import export_wells, import_wells
from lftiming_ml.annotations.labels import flatten_masks
from lftiming_ml.annotations.sources import pipeline_records
from lftiming_ml.annotations.store import read_manifest, read_well, write_wells
from lftiming_ml.store.layout import ChipStore
from lftiming_ml.truth.annotations import simulator_records
from tests.annotations.conftest import CHIP_ID

WELL, FOLDER = "f000/r0c0", "f000_r0c0"  # three cells whose amodal masks overlap


def _rewrite_csv(path: Path, edits: dict[int, dict[str, str]]) -> None:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row.update(edits.get(int(row["label"]), {}))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_ctc_round_trip_stores_the_edit_with_its_provenance(chip: ChipStore, tmp_path: Path) -> None:
    v1 = write_wells(chip, simulator_records(chip)).version
    original = read_well(chip, WELL)
    assert (original.masks.sum(axis=1) > 1).any()  # amodal overlaps: the flattening matters
    export_wells(chip, [original], tmp_path / "ctc", "ctc", origin=f"annotations@{v1}")
    seq = tmp_path / "ctc" / FOLDER

    # the user grows cell 2 by one pixel ring at frame 4 (into background only), retypes cell 3
    # and marks cell 1 dead from frame 7, as they would in Fiji and a spreadsheet
    image_path = seq / "TRA" / "man_track004.tif"
    image = tifffile.imread(image_path)
    cell = image == 2
    ring = np.zeros_like(cell)
    ring[1:-1, 1:-1] = cell[:-2, 1:-1] | cell[2:, 1:-1] | cell[1:-1, :-2] | cell[1:-1, 2:]
    image[ring & (image == 0)] = 2
    tifffile.imwrite(image_path, image)
    flipped = "target" if original.tracks[2].cell_type == "effector" else "effector"
    _rewrite_csv(seq / "cells.csv", {3: {"cell_type": flipped}, 1: {"death_frame": "7"}})

    result, wells = import_wells(chip, tmp_path / "ctc", "ctc", "human:alice")
    assert result.written == [WELL] and result.version != v1
    assert (wells[0].new_masks, wells[0].new_types, wells[0].new_deaths) == (1, 1, 1)
    stored = read_well(chip, WELL)
    sources = stored.mask_sources()
    np.testing.assert_array_equal(stored.masks[4, 1], image == 2)  # the edit, as drawn
    assert sources[4][1].provenance == "human:alice"
    for t in range(stored.n_frames):  # everything else: the simulator's amodal masks, as they were
        for k in range(stored.n_tracks):
            if (t, k) != (4, 1):
                np.testing.assert_array_equal(stored.masks[t, k], original.masks[t, k])
                assert sources[t][k] == original.mask_sources()[t][k]
    assert stored.tracks[2].cell_type == flipped and stored.tracks[2].type_source.provenance == "human:alice"
    assert stored.tracks[0].death_frame == 7 and stored.tracks[0].death_source.provenance == "human:alice"
    assert stored.tracks[1].type_source == original.tracks[1].type_source  # untouched: simulator, same time
    labels = read_manifest(chip).labels_by_provenance()
    assert labels["human:alice"] == {"masks": 1, "cell_type": 1, "death": 1}
    assert read_well(chip, WELL, version=v1).content_hash() == original.content_hash()  # what a run used

    again, _ = import_wells(chip, tmp_path / "ctc", "ctc", "human:alice")  # the same folder again: no change
    assert again.version == result.version and again.unchanged == [WELL]


def test_unedited_export_imports_back_unchanged_and_napari_relabelling_keeps_provenance(
        chip: ChipStore, tmp_path: Path) -> None:
    v1 = write_wells(chip, simulator_records(chip)).version
    records = [read_well(chip, w) for w in read_manifest(chip).wells]
    export_wells(chip, records, tmp_path / "ctc", "ctc", origin=f"annotations@{v1}")
    result, _ = import_wells(chip, tmp_path / "ctc", "ctc", "human:bob")
    assert result.version == v1 and not result.written

    original = read_well(chip, WELL)
    export_wells(chip, [original], tmp_path / "napari", "napari", origin=f"annotations@{v1}")
    folder = tmp_path / "napari" / FOLDER
    labels = tifffile.imread(folder / "labels.tif")
    swapped = labels.copy()
    swapped[labels == 1], swapped[labels == 3] = 3, 1  # the user renumbers cells 1 and 3
    tifffile.imwrite(folder / "labels.tif", swapped)
    _rewrite_csv(folder / "cells.csv", {1: {"cell_type": original.tracks[2].cell_type or ""},
                                        3: {"cell_type": original.tracks[0].cell_type or ""}})
    result, wells = import_wells(chip, folder, "napari", "human:bob")
    stored = read_well(chip, WELL)
    assert (wells[0].new_masks, wells[0].new_types, wells[0].new_deaths) == (0, 0, 0)
    np.testing.assert_array_equal(stored.masks[:, 0], original.masks[:, 2])  # amodal masks follow the cells
    np.testing.assert_array_equal(stored.masks[:, 2], original.masks[:, 0])
    assert {s.provenance for s in stored.sources} == {"simulator"}


def test_model_outputs_export_and_import_with_model_provenance(chip: ChipStore, tmp_path: Path) -> None:
    records = pipeline_records(chip, [WELL], segmenter="locsnet")
    assert records[0].sources[0].provenance == "model:locsnet@3"  # cell_tracks.model_version
    export_wells(chip, records, tmp_path / "ctc", "ctc", origin="model")
    import_wells(chip, tmp_path / "ctc", "ctc", "human:carol")
    labels = read_manifest(chip).labels_by_provenance()
    assert set(labels) == {"model:locsnet@3", "model:celltype_classifier@2", "model:apoptosis_classifier@5"}


def test_independent_reader_sees_the_same_tracks(chip: ChipStore, tmp_path: Path) -> None:
    write_wells(chip, simulator_records(chip))
    manifest = read_manifest(chip)
    records = [read_well(chip, w) for w in sorted(manifest.wells)]
    folders = export_wells(chip, records, tmp_path / "ctc", "ctc", origin=f"annotations@{manifest.version}")
    for record, seq in zip(records, folders):
        tracks = read_tracking_file(str(seq / "TRA" / "man_track.txt"))
        files = parse_masks(str(seq / "TRA"))
        assert len(files) == record.n_frames
        per_frame = [set(match(f, None)[0]) for f in files]
        flat = flatten_masks(record.masks)
        expected = []
        for t in record.tracks:
            frames = np.flatnonzero((flat == t.track_id + 1).any(axis=(1, 2)))
            expected.append([t.track_id + 1, frames[0], frames[-1], 0 if t.parent is None else t.parent + 1])
            assert frames.size == frames[-1] - frames[0] + 1  # no gaps in this chip: one CTC track per cell
        assert tracks.tolist() == expected
        for t, present in enumerate(per_frame):
            assert present == {k + 1 for k in range(record.n_tracks) if record.masks[t, k].any()}
        res = tmp_path / "res" / seq.name  # the export as a result to score against itself
        res.mkdir(parents=True)
        shutil.copy(seq / "TRA" / "man_track.txt", res / "res_track.txt")
        for t, f in enumerate(files):
            shutil.copy(f, res / f"mask{t:03d}.tif")
        assert validate_sequence(str(res), threads=1)["Valid"] == 1
        scores = evaluate_sequence(str(res), str(seq), metrics=["Valid", "DET", "TRA"], threads=1)
        assert scores["Valid"] == 1 and scores["DET"] == pytest.approx(1.0) and scores["TRA"] == pytest.approx(1.0)


def test_cli_annotate_export_import_and_a_refused_import(chip: ChipStore, data_root: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("LFTIMING_DATA", str(data_root))
    assert cli.main(["annotate", "--chip", CHIP_ID, "--from", "simulator"]) == 0
    version = read_manifest(chip).version
    assert f"annotations version {version}" in capsys.readouterr().out
    out = tmp_path / "exp"
    assert cli.main(["export", "--chip", CHIP_ID, "--format", "ctc", "--wells", WELL, "--out", str(out)]) == 0
    assert "1 wells exported as ctc" in capsys.readouterr().out
    (out / FOLDER / "TRA" / "man_track002.tif").unlink()
    assert cli.main(["import", "--chip", CHIP_ID, "--format", "ctc", str(out), "--source", "human:dan"]) == 2
    err = capsys.readouterr().err
    assert "frames [2] have no man_trackNNN.tif" in err and "Traceback" not in err
    assert read_manifest(chip).version == version
