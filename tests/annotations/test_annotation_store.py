"""The annotations store: round trips, versions by content, old versions, concurrent writers."""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lftiming_ml.annotations.records import read_record, write_record
from lftiming_ml.annotations.schema import LabelSource, WellAnnotation, check_provenance, same_labels
from lftiming_ml.annotations.store import (list_versions, read_manifest, read_well, record_dir, restore_version,
                                           write_wells)
from lftiming_ml.annotations.summary import annotation_rows, damaged_records
from lftiming_ml.annotations.validate import AnnotationError
from lftiming_ml.store.layout import ChipStore, DataLayout
from lftiming_ml.truth.annotations import simulator_records
from tests.annotations.conftest import CHIP_ID, N_FRAMES, tree_bytes


@pytest.mark.parametrize("value", ["human:alice", "human:j.doe-2", "fluorescence", "simulator", "model:locsnet@3",
                                   "model:celltype_classifier@12"])
def test_valid_provenances(value: str) -> None:
    assert check_provenance(value) == value


@pytest.mark.parametrize("value", ["alice", "human:", "human: alice", "model:locsnet", "model:@3", "Simulator",
                                   "fluorescence:gfp", ""])
def test_invalid_provenances(value: str) -> None:
    with pytest.raises(ValueError, match="is not one of human:<name>"):
        check_provenance(value)


def test_simulator_records_hold_the_truth_in_the_crops(chip: ChipStore) -> None:
    records = simulator_records(chip)
    assert len(records) == 8 and all(r.n_frames == N_FRAMES for r in records)
    for r in records:
        assert r.sources[0].provenance == "simulator"
        assert all(t.cell_type in ("effector", "target") and t.type_source is not None for t in r.tracks)
        assert (r.mask_source >= 0).sum() == r.masks.any(axis=(2, 3)).sum()


def test_record_round_trip_on_disk(chip: ChipStore, tmp_path: Path) -> None:
    record = simulator_records(chip)[0]
    back = read_record(write_record(record, tmp_path / "rec"))
    assert back.content_hash() == record.content_hash()
    np.testing.assert_array_equal(back.masks, record.masks)
    assert back.tracks == record.canonical().tracks and back.sources == record.canonical().sources


def test_write_and_read_back_every_well(chip: ChipStore) -> None:
    records = simulator_records(chip)
    result = write_wells(chip, records)
    assert sorted(result.written) == sorted(r.well for r in records) and not result.unchanged
    manifest = read_manifest(chip)
    assert manifest.version == result.version and sorted(manifest.wells) == sorted(result.written)
    for r in records:
        back = read_well(chip, r.well)
        assert back.content_hash() == r.content_hash() == manifest.wells[r.well]
        np.testing.assert_array_equal(back.masks, r.masks)
    total = sum(int(r.masks.any(axis=(2, 3)).sum()) for r in records)
    assert manifest.labels_by_provenance()["simulator"]["masks"] == total
    rows = annotation_rows(manifest)
    assert len(rows) == len(records) and set(rows["provenance"]) == {"simulator"}
    assert rows["mask_labels"].sum() == total and (rows["annotations_version"] == manifest.version).all()


def _retype(record: WellAnnotation, track: int, kind: str, who: str) -> WellAnnotation:
    tracks = list(record.tracks)
    tracks[track] = replace(tracks[track], cell_type=kind, type_source=LabelSource.now(who))
    return replace(record, tracks=tuple(tracks))


def test_version_changes_iff_content_changes_and_old_versions_stay_readable(chip: ChipStore) -> None:
    records = simulator_records(chip)
    v1 = write_wells(chip, records).version
    again = write_wells(chip, simulator_records(chip))  # same labels, later time: kept as they were
    assert again.version == v1 and not again.written and len(again.unchanged) == len(records)

    original = read_well(chip, records[0].well)
    flipped = "target" if original.tracks[0].cell_type == "effector" else "effector"
    edited = _retype(original, 0, flipped, "human:alice")
    v2 = write_wells(chip, [edited]).version
    assert v2 != v1 and read_manifest(chip).previous == v1
    assert read_well(chip, records[0].well).tracks[0].cell_type == flipped
    old = read_well(chip, records[0].well, version=v1)
    assert old.content_hash() == original.content_hash() and old.tracks[0].cell_type == original.tracks[0].cell_type
    assert read_manifest(chip, v1).wells == {r.well: r.content_hash() for r in records}

    v3 = write_wells(chip, [original]).version  # back to the first labels: back to the first version
    assert v3 == v1
    assert {m.version for m in list_versions(chip)} == {v1, v2}
    with pytest.raises(AnnotationError, match="no annotations version"):
        read_manifest(chip, "0" * 64)


def test_same_labels_ignores_times_only(chip: ChipStore) -> None:
    a = simulator_records(chip)[0]
    later = replace(a, sources=(LabelSource("simulator", "2030-01-01T00:00:00+00:00"),))
    assert same_labels(a, later) and a.content_hash() != later.content_hash()
    assert not same_labels(a, replace(a, sources=(LabelSource("human:bob", a.sources[0].time),)))


def _write_one_well_many_times(data_root: str, well_index: int, n: int) -> None:
    chip = DataLayout(Path(data_root)).chip(CHIP_ID)
    record = simulator_records(chip)[well_index]
    for i in range(n):
        kind = ("effector", "target")[i % 2]
        write_wells(chip, [_retype(record, 0, kind, f"human:writer{well_index}")])


@pytest.mark.slow
def test_concurrent_writers_of_different_wells_both_survive(chip: ChipStore, data_root: Path) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_write_one_well_many_times, args=(str(data_root), i, 6)) for i in (0, 1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    manifest = read_manifest(chip)
    records = simulator_records(chip)
    assert sorted(manifest.wells) == sorted(records[i].well for i in (0, 1, 2))
    for i in (0, 1, 2):
        well = read_well(chip, records[i].well)
        assert well.tracks[0].type_source.provenance == f"human:writer{i}" and well.tracks[0].cell_type == "target"
    assert len(list_versions(chip)) >= 6  # every manifest ever current is kept


def test_a_damaged_record_is_found_and_a_refused_write_changes_nothing(chip: ChipStore) -> None:
    records = simulator_records(chip)
    write_wells(chip, records)
    before = tree_bytes(chip.annotations_dir)
    bad = replace(records[0], masks=records[0].masks.astype(np.uint8))
    with pytest.raises(AnnotationError, match="masks must be bool"):
        write_wells(chip, [records[1], bad])
    assert tree_bytes(chip.annotations_dir) == before
    manifest = read_manifest(chip)
    assert damaged_records(chip, manifest) == []
    folder = record_dir(chip, manifest.wells[records[0].well])
    (folder / "masks.npz").write_bytes(b"broken")
    problems = damaged_records(chip, manifest)
    assert len(problems) == 1 and problems[0].startswith(records[0].well)


def test_restore_an_earlier_version_undoes_later_writes(chip: ChipStore) -> None:
    records = simulator_records(chip)
    first = write_wells(chip, records[:3]).version
    second = write_wells(chip, records[3:5]).version
    assert sorted(read_manifest(chip).wells) == sorted(r.well for r in records[:5])
    assert restore_version(chip, first).version == first
    assert read_manifest(chip).version == first and sorted(read_manifest(chip).wells) == sorted(r.well for r in records[:3])
    with pytest.raises(AnnotationError, match="is not annotated"):
        read_well(chip, records[3].well)
    assert read_well(chip, records[3].well, version=second).content_hash() == records[3].content_hash()
    restore_version(chip, second)  # the undone writes can come back
    assert read_manifest(chip).version == second
    with pytest.raises(AnnotationError, match="has no annotations version"):
        restore_version(chip, "0" * 64)
    assert read_manifest(chip).version == second
