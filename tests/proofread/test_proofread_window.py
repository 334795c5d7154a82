"""The napari review window, headless: open a well, edit as a user would (the Labels layer's
paint tool, the panel's cell type list), Save, and read the store back; a refused edit
shows its message and writes nothing; Next / Previous walk the queue; in a real
``napari.Viewer`` the ``s`` key saves and ``lftiming review --screenshot`` draws the window."""

from __future__ import annotations

import numpy as np
from napari.components import ViewerModel
from qtpy.QtCore import Qt

from lftiming_assets import cli
from lftiming_ml.annotations.proofread_window import INSTANCES, PATHS, PHASE, TRACKS, WELL_BOX, ReviewWindow
from lftiming_ml.annotations.review_wells import wells_to_review
from lftiming_ml.annotations.store import read_manifest, read_well
from lftiming_ml.store.layout import ChipStore
from tests.annotations.conftest import tree_bytes
from tests.proofread.conftest import CHIP_ID, busiest_wells


def _window(viewer, chip: ChipStore, wells: list[str]) -> ReviewWindow:
    return ReviewWindow(viewer, chip, wells_to_review(chip, wells=wells), user="alice", segmenter="locsnet")


def _paint_new_pixels(layer, t: int, label: int) -> tuple[int, int]:
    """Paint ``label`` with a 3 px brush just beside its cell at frame ``t``, as a click of the
    paint tool would; returns the centre painted."""
    ys, xs = np.nonzero(np.asarray(layer.data[t]) == label)
    y, x = int(ys.max()) + 1, int(xs[ys.argmax()])
    layer.brush_size = 3
    layer.selected_label = label
    layer.paint((t, y, x), label)
    return y, x


def test_edit_and_save_in_the_window(chip: ChipStore, qtbot) -> None:
    a, b = busiest_wells(chip)[:2]
    version_before = read_manifest(chip).version
    viewer = ViewerModel()
    window = _window(viewer, chip, [a, b])
    qtbot.addWidget(window.panel.widget)
    assert [layer.name for layer in viewer.layers] == [PHASE, WELL_BOX, INSTANCES, TRACKS, PATHS]
    assert viewer.layers[PHASE].data.shape == window.review.phase.shape
    assert viewer.layers[PATHS].data[:, 0].max() + 1 == window.review.baseline.n_tracks
    assert a in viewer.title and "(1 of 2)" in window.panel.title.text()
    baseline = window.review.baseline
    assert window.panel.table.rowCount() == baseline.n_tracks

    layer = window.tracks_layer
    before = np.asarray(layer.data).copy()
    _paint_new_pixels(layer, 4, 2)
    assert (np.asarray(layer.data) != before).any()
    flipped = "target" if baseline.tracks[0].cell_type == "effector" else "effector"
    window.panel.set_cell_type(1, flipped)
    qtbot.mouseClick(window.panel.save_button, Qt.MouseButton.LeftButton)

    assert "written" in window.panel.status.text(), window.panel.status.text()
    version = read_manifest(chip).version
    assert version != version_before
    record = read_well(chip, a)
    src = record.mask_sources()
    assert src[4][1].provenance == "human:alice"
    kept = [src[t][k] for t in range(record.n_frames) for k in range(record.n_tracks)
            if (t, k) != (4, 1) and src[t][k] is not None]
    assert {s.provenance for s in kept} == {"model:locsnet@3"}
    assert record.tracks[0].cell_type == flipped and record.tracks[0].type_source.provenance == "human:alice"
    assert record.tracks[1].type_source.provenance.startswith("model:celltype_classifier@")
    # the window reopened the well from the store
    assert window.review.labels_from.startswith("annotations@")

    # an invalid edit: a label painted on the wall, outside the well
    store = tree_bytes(chip.annotations_dir)
    layer = window.tracks_layer
    layer.selected_label = 1
    layer.brush_size = 1
    layer.paint((2, 0, 0), 1)
    assert window.save() is None
    assert "not saved" in window.panel.status.text() and "outside the well" in window.panel.status.text()
    assert "outside the well" in viewer.status
    assert tree_bytes(chip.annotations_dir) == store

    # Next and Previous walk the queue; the edit left unsaved is dropped
    qtbot.mouseClick(window.panel.next_button, Qt.MouseButton.LeftButton)
    assert window.review.well == b and b in viewer.title and "(2 of 2)" in window.panel.title.text()
    window.next()
    assert window.review.well == b and "last well" in window.panel.status.text()
    qtbot.mouseClick(window.panel.previous_button, Qt.MouseButton.LeftButton)
    assert window.review.well == a and not np.asarray(window.tracks_layer.data)[2, 0, 0]


def test_a_new_track_gets_a_row_and_is_saved(chip: ChipStore, qtbot) -> None:
    well = busiest_wells(chip)[0]
    viewer = ViewerModel()
    window = _window(viewer, chip, [well])
    qtbot.addWidget(window.panel.widget)
    k = window.review.baseline.n_tracks
    y0, x0, y1, x1 = (int(v) for v in window.review.info.well_box_px)
    layer = window.tracks_layer
    data = np.asarray(layer.data)
    free = np.argwhere(data[6, y0 + 4:y1 - 4, x0 + 4:x1 - 4] == 0)[0] + (y0 + 4, x0 + 4)
    layer.brush_size = 1
    layer.paint((6, *free), k + 5)  # a new label, beyond the last, on one frame
    qtbot.mouseClick(window.panel.add_rows_button, Qt.MouseButton.LeftButton)
    assert window.panel.table.rowCount() == k + 1
    window.panel.set_cell_type(k + 5, "effector")
    window.panel.set_text(k + 5, "death_frame", "none")
    assert window.save() is not None
    record = read_well(chip, well)
    assert record.n_tracks == k + 1 and record.masks[6, k].sum() == 1
    assert record.tracks[k].cell_type == "effector" and record.tracks[k].death_source.provenance == "human:alice"


def test_the_napari_viewer_saves_on_the_s_key(chip: ChipStore, qtbot, gl_screen: str) -> None:
    import napari

    well = busiest_wells(chip)[0]
    viewer = napari.Viewer(show=False)
    try:
        window = _window(viewer, chip, [well])
        _paint_new_pixels(window.tracks_layer, 3, 1)
        viewer.window._qt_viewer.canvas.native.setFocus()
        qtbot.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key.Key_S)
        assert "written" in window.panel.status.text(), window.panel.status.text()
        assert read_well(chip, well).mask_sources()[3][0].provenance == "human:alice"
        image = viewer.screenshot(canvas_only=False)
        assert image.ndim == 3 and image.shape[2] == 4 and image[..., :3].std() > 0
    finally:
        viewer.close()


def test_review_command_writes_a_screenshot(chip: ChipStore, data_root, tmp_path, monkeypatch,
                                            gl_screen: str, capsys) -> None:
    monkeypatch.setenv("LFTIMING_DATA", str(data_root))
    out = tmp_path / "review.png"
    assert cli.main(["review", "--chip", CHIP_ID, "--top", "2", "--user", "alice", "--screenshot", str(out),
                     "--frame", "3"]) == 0
    assert f"chip {CHIP_ID}: 2 wells to review (fallback)" in capsys.readouterr().out
    from PIL import Image

    with Image.open(out) as image:
        assert image.size[0] >= 1000 and image.size[1] >= 600
    assert not chip.annotations_dir.exists() or not read_manifest(chip).wells  # a screenshot saves nothing
