"""Saving a reviewed well (no Qt): the edit goes into the annotations store as human:<user>,
untouched labels keep their provenance and time, a refused edit writes nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lftiming_ml.annotations.proofread import open_review_well, save_edit
from lftiming_ml.annotations.schema import parse_well_name
from lftiming_ml.annotations.sources import pipeline_records
from lftiming_ml.annotations.store import read_manifest, read_well, write_wells
from lftiming_ml.annotations.validate import AnnotationError
from lftiming_ml.store.layout import ChipStore
from lftiming_ml.store.movies import well_group_path
from lftiming_ml.store.tracks import TRACKS_GROUP
from tests.annotations.conftest import tree_bytes
from tests.proofread.conftest import busiest_wells

SEGMENTER = "locsnet"


def _grow(labels: np.ndarray, t: int, label: int) -> np.ndarray:
    """``labels`` with ``label`` grown by one pixel ring into background at frame ``t``."""
    out = labels.copy()
    cell = out[t] == label
    ring = np.zeros_like(cell)
    ring[1:-1, 1:-1] = cell[:-2, 1:-1] | cell[2:, 1:-1] | cell[1:-1, :-2] | cell[1:-1, 2:]
    out[t][ring & (out[t] == 0)] = label
    assert (out != labels).any()
    return out


def test_an_edit_is_stored_as_human_and_the_rest_keeps_its_provenance(chip: ChipStore) -> None:
    well = busiest_wells(chip)[0]
    v1 = write_wells(chip, pipeline_records(chip, [well], segmenter=SEGMENTER)).version
    review = open_review_well(chip, well, segmenter=SEGMENTER)
    assert review.labels_from.startswith("annotations@") and review.baseline is not None
    before = review.baseline
    labels = _grow(review.labels, 3, 2)
    cells = [dict(r) for r in review.cells]
    flipped = "target" if before.tracks[0].cell_type == "effector" else "effector"
    cells[0]["cell_type"] = flipped
    cells[1]["death_frame"] = "6"

    saved = save_edit(chip, review, labels, cells, user="alice")
    assert saved.result.written == [well] and saved.result.version != v1
    assert read_manifest(chip).version == saved.result.version
    after = read_well(chip, well)
    src = after.mask_sources()
    human = {(t, k) for t in range(after.n_frames) for k in range(after.n_tracks)
             if src[t][k] is not None and src[t][k].provenance == "human:alice"}
    assert human == {(3, 1)}  # label 2 = track 1, the one grown, at frame 3 only
    assert (after.masks[3, 1] & ~before.masks[3, 1]).any()
    old_src = before.mask_sources()
    for t in range(after.n_frames):
        for k in range(after.n_tracks):
            if (t, k) != (3, 1) and src[t][k] is not None:
                assert src[t][k] == old_src[t][k]  # provenance and time kept
                assert np.array_equal(after.masks[t, k], before.masks[t, k])  # amodal mask kept
    assert after.tracks[0].cell_type == flipped and after.tracks[0].type_source.provenance == "human:alice"
    assert after.tracks[1].death_frame == 6 and after.tracks[1].death_source.provenance == "human:alice"
    assert after.tracks[1].type_source == before.tracks[1].type_source
    for old, new in zip(before.tracks[2:], after.tracks[2:]):
        assert (new.cell_type, new.type_source, new.death_frame, new.death_source) == \
               (old.cell_type, old.type_source, old.death_frame, old.death_source)
    assert (saved.new_masks, saved.new_types, saved.new_deaths) == (1, 1, 1)

    # saving the stored well again, unedited, changes nothing
    again = open_review_well(chip, well, segmenter=SEGMENTER)
    unchanged = save_edit(chip, again, again.labels, again.cells, user="alice")
    assert unchanged.result.unchanged == [well] and unchanged.result.version == saved.result.version


def test_swapped_identities_and_an_erased_track_are_stored(chip: ChipStore) -> None:
    well = busiest_wells(chip)[0]
    review = open_review_well(chip, well, segmenter=SEGMENTER)
    assert review.labels_from == "model" and review.baseline.n_tracks >= 3
    base = review.baseline
    labels = review.labels.copy()
    one, two = labels[5:] == 1, labels[5:] == 2  # from frame 5 on, tracks 0 and 1 trade identities
    labels[5:][one], labels[5:][two] = 2, 1
    k_last = base.n_tracks
    labels[labels == k_last] = 0  # and the last track is erased everywhere (its label leaves a gap)
    rows = [r for r in review.cells if int(r["label"]) != k_last]

    save_edit(chip, review, labels, rows, user="bob")
    after = read_well(chip, well)
    assert after.n_tracks == base.n_tracks - 1
    assert np.array_equal(after.masks[5:, 0], base.masks[5:, 1])
    assert np.array_equal(after.masks[5:, 1], base.masks[5:, 0])
    assert np.array_equal(after.masks[:5, :2], base.masks[:5, :2])
    # the masks themselves are the model's, so they keep its provenance where they moved
    provenances = {s.provenance for row in after.mask_sources() for s in row if s is not None}
    assert provenances == {f"model:{SEGMENTER}@3"}


def test_a_mask_outside_the_well_is_refused_and_nothing_is_written(chip: ChipStore) -> None:
    well = busiest_wells(chip)[0]
    write_wells(chip, pipeline_records(chip, [well], segmenter=SEGMENTER))
    store_before = tree_bytes(chip.annotations_dir)
    review = open_review_well(chip, well, segmenter=SEGMENTER)
    labels = review.labels.copy()
    labels[4, 0, 0] = 1  # the crop's corner is wall, not well
    with pytest.raises(AnnotationError, match="outside the well"):
        save_edit(chip, review, labels, review.cells, user="alice")
    cells = [dict(r) for r in review.cells]
    cells[0]["death_frame"] = "99"
    with pytest.raises(AnnotationError, match="row 1, label 1: death frame 99 is outside the movie"):
        save_edit(chip, review, review.labels, cells, user="alice")
    with pytest.raises(AnnotationError, match="--user"):
        save_edit(chip, review, review.labels, review.cells, user="not a name")
    assert tree_bytes(chip.annotations_dir) == store_before


def test_a_well_without_tracks_starts_from_nothing(chip: ChipStore) -> None:
    well = busiest_wells(chip)[0]
    shutil.rmtree(chip.zarr_path / well_group_path(*parse_well_name(well)) / TRACKS_GROUP)  # never tracked
    review = open_review_well(chip, well, segmenter=SEGMENTER)
    assert review.labels_from == "nothing" and review.baseline is None and not review.labels.any()
    assert review.instances is not None and review.instances.any()
    labels = review.labels.copy()
    y0, x0, y1, x1 = (int(v) for v in review.info.well_box_px)
    labels[:, (y0 + y1) // 2 - 2:(y0 + y1) // 2 + 2, (x0 + x1) // 2 - 2:(x0 + x1) // 2 + 2] = 7
    saved = save_edit(chip, review, labels, [{"label": 7, "cell_type": "target", "death_frame": "none",
                                              "parent": ""}], user="carol")
    after = read_well(chip, well)
    assert after.n_tracks == 1 and after.tracks[0].cell_type == "target"
    assert after.tracks[0].death_source.provenance == "human:carol" and after.tracks[0].death_frame is None
    assert saved.new_masks == after.n_frames


def test_the_window_module_loads_without_napari_or_qt() -> None:
    code = ("import sys\nimport lftiming_ml.annotations.proofread_window\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('napari', 'qtpy', 'PyQt6', 'PyQt5', "
            "'vispy')))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
