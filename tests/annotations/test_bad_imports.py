"""Bad imports are refused with a message naming the file and the problem, and the store is
left byte for byte as it was (every kind below; one all-or-nothing case with two wells)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile

from lftiming_ml.annotations.exchange import export_wells, import_wells
from lftiming_ml.annotations.store import read_manifest, read_well, write_wells
from lftiming_ml.annotations.validate import AnnotationError
from lftiming_ml.store.layout import ChipStore
from lftiming_ml.truth.annotations import simulator_records
from tests.annotations.conftest import tree_bytes

WELL, FOLDER = "f000/r0c0", "f000_r0c0"


def _edit_tif(name: str, fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    def edit(seq: Path) -> None:
        path = seq / "TRA" / name
        tifffile.imwrite(path, fn(tifffile.imread(path)))
    return edit


def _edit_text(name: str, fn: Callable[[str], str]) -> Callable[[Path], None]:
    def edit(seq: Path) -> None:
        path = seq / name
        path.write_text(fn(path.read_text()))
    return edit


def _relabel(seq: Path) -> None:  # label 3 becomes 5 everywhere: ids jump
    for path in sorted((seq / "TRA").glob("man_track*.tif")):
        image = tifffile.imread(path)
        image[image == 3] = 5
        tifffile.imwrite(path, image)
    _edit_text("TRA/man_track.txt", lambda s: s.replace("3 0 9 0", "5 0 9 0"))(seq)


def _paint_corner(image: np.ndarray) -> np.ndarray:
    image = image.copy()
    image[0, 0] = 1
    return image


def _truncate(seq: Path) -> None:
    path = seq / "TRA" / "man_track003.tif"
    path.write_bytes(path.read_bytes()[:100])


def _rename_well(seq: Path) -> None:
    seq.rename(seq.with_name("f000_r7c7"))


def _napari_frames(seq: Path) -> None:
    labels = tifffile.imread(seq / "labels.tif")
    tifffile.imwrite(seq / "labels.tif", labels[:-1])


BAD_IMPORTS = {
    # kind: (format, corrupt, provenance, message fragment, file the message names)
    "wrong dtype": ("ctc", _edit_tif("man_track003.tif", lambda a: a.astype(np.float32)), "human:eve",
                    "label images must be integer", "man_track003.tif"),
    "wrong shape": ("ctc", _edit_tif("man_track003.tif", lambda a: a[:-1]), "human:eve",
                    "label images must be 96 x 96 px", "man_track003.tif"),
    "missing frame": ("ctc", lambda seq: (seq / "TRA" / "man_track005.tif").unlink(), "human:eve",
                      "frames [5] have no man_trackNNN.tif", "TRA"),
    "extra frame": ("ctc", lambda seq: (seq / "TRA" / "man_track010.tif").write_bytes(
        (seq / "TRA" / "man_track009.tif").read_bytes()), "human:eve", "beyond the well's movie", "man_track010.tif"),
    "truncated tiff": ("ctc", _truncate, "human:eve", "cannot read the TIFF", "man_track003.tif"),
    "label ids jump": ("ctc", _relabel, "human:eve", "labels jump: found [1, 2, 5]", "man_track.txt"),
    "mask outside the well": ("ctc", _edit_tif("man_track000.tif", _paint_corner), "human:eve",
                              "track 0 at frame 0 has 1 px outside the well", FOLDER),
    "label only in man_track.txt": ("ctc", _edit_text("TRA/man_track.txt", lambda s: s + "4 0 9 0\n"), "human:eve",
                                    "labels [4] are in man_track.txt but in no image", "man_track.txt"),
    "label only in the images": ("ctc", _edit_text("TRA/man_track.txt", lambda s: s.replace("3 0 9 0\n", "")),
                                 "human:eve", "labels [3] are in the images but not in man_track.txt", "man_track.txt"),
    "begin/end not the images'": ("ctc", _edit_text("TRA/man_track.txt", lambda s: s.replace("1 0 9 0", "1 2 9 0")),
                                  "human:eve", "label 1: man_track.txt says frames 2..9 but the images hold it in "
                                               "[(0, 9)]", "man_track.txt"),
    "parent that does not exist": ("ctc", _edit_text("TRA/man_track.txt", lambda s: s.replace("2 0 9 0", "2 0 9 7")),
                                   "human:eve", "label 2: parent 7 is not another label", "man_track.txt"),
    "malformed man_track line": ("ctc", _edit_text("TRA/man_track.txt", lambda s: s.replace("1 0 9 0", "1 0 x 0")),
                                 "human:eve", "line 1 '1 0 x 0' is not 'L B E P'", "man_track.txt"),
    "cell type not effector/target": ("ctc", _edit_text("cells.csv", lambda s: s.replace(",target,", ",tcell,", 1)),
                                      "human:eve", "cell type 'tcell' is not one of ['effector', 'target']",
                                      "cells.csv"),
    "death frame outside the movie": ("ctc", _edit_text("cells.csv", lambda s: s.replace("1,effector,none",
                                                                                         "1,effector,10")),
                                      "human:eve", "death frame 10 is outside the movie (0..9)", "cells.csv"),
    "cells.csv label that is no track": ("ctc", _edit_text("cells.csv", lambda s: s + "9,target,\n"), "human:eve",
                                         "label 9 is not a track of the label images", "cells.csv"),
    "bad provenance": ("ctc", lambda seq: None, "alice", "provenance 'alice' is not one of human:<name>", "--source"),
    "well the chip does not have": ("ctc", _rename_well, "human:eve", "has no cropped well f000/r7c7", "f000_r7c7"),
    "napari frame count": ("napari", _napari_frames, "human:eve", "9 frames but the well's movie has 10",
                           "labels.tif"),
}


@pytest.fixture
def annotated(chip: ChipStore) -> ChipStore:
    write_wells(chip, simulator_records(chip))
    return chip


@pytest.mark.parametrize("kind", sorted(BAD_IMPORTS))
def test_bad_import_is_refused_and_the_store_is_unchanged(kind: str, annotated: ChipStore, tmp_path: Path) -> None:
    fmt, corrupt, provenance, fragment, file = BAD_IMPORTS[kind]
    original = read_well(annotated, WELL)
    assert original.tracks[0].cell_type == "effector" and original.tracks[2].cell_type == "target"
    export_wells(annotated, [original], tmp_path / "out", fmt, origin="annotations")
    corrupt(tmp_path / "out" / FOLDER)
    before = tree_bytes(annotated.annotations_dir)
    with pytest.raises(AnnotationError) as err:
        import_wells(annotated, tmp_path / "out", fmt, provenance)
    assert fragment in str(err.value) and file in err.value.source, str(err.value)
    assert tree_bytes(annotated.annotations_dir) == before


def test_one_bad_well_refuses_the_whole_import(annotated: ChipStore, tmp_path: Path) -> None:
    wells = ["f000/r0c0", "f000/r1c1"]
    export_wells(annotated, [read_well(annotated, w) for w in wells], tmp_path / "out", "ctc", origin="annotations")
    _edit_text("cells.csv", lambda s: s.replace("1,effector,none", "1,target,none"))(tmp_path / "out" / "f000_r0c0")
    (tmp_path / "out" / "f000_r1c1" / "TRA" / "man_track004.tif").unlink()
    before, version = tree_bytes(annotated.annotations_dir), read_manifest(annotated).version
    with pytest.raises(AnnotationError, match="frames \\[4\\] have no man_trackNNN.tif"):
        import_wells(annotated, tmp_path / "out", "ctc", "human:eve")
    assert tree_bytes(annotated.annotations_dir) == before and read_manifest(annotated).version == version


def test_a_first_import_into_an_empty_store_that_is_refused_creates_nothing(chip: ChipStore, tmp_path: Path) -> None:
    record = simulator_records(chip)[0]
    export_wells(chip, [record], tmp_path / "out", "ctc", origin="simulator")
    _truncate(tmp_path / "out" / FOLDER)
    with pytest.raises(AnnotationError, match="cannot read the TIFF"):
        import_wells(chip, tmp_path / "out", "ctc", "human:eve")
    assert not chip.annotations_dir.exists()
