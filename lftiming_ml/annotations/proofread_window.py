"""The napari review window: proofread a chip's wells one after another (``lftiming review``).

napari and Qt are optional (``pip install -e '.[review]'``) and imported only when a window
is made. ``ReviewWindow`` drives a napari viewer (``napari.Viewer``, or a bare
``napari.components.ViewerModel`` in tests) through a queue of wells
(``review_wells.wells_to_review``). For the well open it shows:

- ``phase``: the phase movie (T x S x S, crop px);
- ``well interior``: the well's box, outside which no mask may reach;
- ``LOCSNET instances``: the segmenter's instances per frame (hidden at first; a Labels
  layer to compare with or copy from; not saved);
- ``tracks``: the labels being corrected, one label per track across frames (the store's
  record when the well has one, else the pipeline's); the layer that is saved;
- ``track paths``: the tracker's centroids per track (``cell_tracks``) as a Tracks layer;

and a dock panel (``proofread_panel``) with the suspicion reasons, the cells table and the
buttons. Save (button or ``s``) writes the well with ``proofread.save_edit`` (``human:<user>``
for what changed) and reopens it from the store; a refused edit is shown in the panel, the
status bar and a notification, and nothing is written. ``n`` / Shift-N (or the buttons) move
to the next / previous well; unsaved edits of the well left are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lftiming_ml.annotations.proofread import ReviewWell, SavedEdit, open_review_well, save_edit
from lftiming_ml.annotations.proofread_panel import ReviewPanel
from lftiming_ml.annotations.review_wells import WellToReview
from lftiming_ml.annotations.validate import AnnotationError
from lftiming_ml.store.layout import ChipStore
from lftiming_ml.store.tables import read_chip_table

PHASE, WELL_BOX, INSTANCES, TRACKS, PATHS = "phase", "well interior", "LOCSNET instances", "tracks", "track paths"
SAVE_KEY, NEXT_KEY, PREVIOUS_KEY = "s", "n", "Shift-N"


class ReviewWindow:
    """A review session in ``viewer`` over ``queue`` (at least one well) of ``chip``; saves
    as ``human:<user>``. ``segmenter`` names the model behind the pipeline's masks."""

    def __init__(self, viewer: Any, chip: ChipStore, queue: Sequence[WellToReview], *, user: str,
                 segmenter: str) -> None:
        if not queue:
            raise ValueError(f"chip {chip.chip_id}: no wells to review")
        self.viewer, self.chip, self.queue, self.user, self.segmenter = viewer, chip, list(queue), user, segmenter
        self.tracks_table: pd.DataFrame | None = (read_chip_table(chip.tables_dir, "cell_tracks", chip.chip_id)
                                                  if chip.table_path("cell_tracks").is_file() else None)
        self.index = -1
        self.review: ReviewWell | None = None
        self.panel = ReviewPanel(on_previous=self.previous, on_save=self.save, on_next=self.next,
                                 labels_in_use=self._labels_in_use)
        if hasattr(viewer, "window"):  # a napari.Viewer (a ViewerModel has no window)
            viewer.window.add_dock_widget(self.panel.widget, area="right", name="lftiming review")
        viewer.bind_key(SAVE_KEY, lambda _viewer: self.save(), overwrite=True)
        viewer.bind_key(NEXT_KEY, lambda _viewer: self.next(), overwrite=True)
        viewer.bind_key(PREVIOUS_KEY, lambda _viewer: self.previous(), overwrite=True)
        self.open(0)

    @property
    def tracks_layer(self) -> Any:
        """The Labels layer that is saved."""
        return self.viewer.layers[TRACKS]

    def _labels_in_use(self) -> list[int]:
        found = np.unique(np.asarray(self.tracks_layer.data))
        return [int(v) for v in found if v > 0]

    def open(self, index: int) -> ReviewWell:
        """Show well ``index`` of the queue (its layers replace the previous well's)."""
        item = self.queue[index]
        review = open_review_well(self.chip, item.well, segmenter=self.segmenter, tracks=self.tracks_table)
        self.index, self.review = index, review
        self._show_layers(review)
        score = "" if np.isnan(item.score) else f"suspicion {item.score:.2f} ({item.ranked_by})"
        title = f"{self.chip.chip_id} {item.well}  ({index + 1} of {len(self.queue)})"
        self.viewer.title = f"lftiming review: {title}" + (f": {'; '.join(item.reasons)}" if item.reasons else "")
        self.panel.show_well(title=title + (f"<br>{score}" if score else ""), reasons=item.reasons,
                             origin=f"labels from {review.labels_from}; a save gives what changed human:{self.user}",
                             rows=review.cells)
        return review

    def _show_layers(self, review: ReviewWell) -> None:
        viewer = self.viewer
        for layer in list(viewer.layers):  # one by one: after layers.clear() new Labels layers stayed undrawn
            viewer.layers.remove(layer)
        phase = review.phase
        lo, hi = (float(v) for v in np.percentile(phase, [0.5, 99.5]))
        viewer.add_image(phase, name=PHASE, contrast_limits=(lo, max(hi, lo + 1.0)))
        y0, x0, y1, x1 = review.info.well_box_px
        viewer.add_shapes([np.array([[y0 - 0.5, x0 - 0.5], [y1 - 0.5, x1 - 0.5]])], shape_type="rectangle",
                          name=WELL_BOX, edge_color="yellow", face_color="transparent", edge_width=0.5,
                          opacity=0.6)
        if review.instances is not None:
            viewer.add_labels(review.instances, name=INSTANCES, opacity=0.5, visible=False)
        viewer.add_labels(review.labels.astype(np.uint32), name=TRACKS, opacity=0.5)
        if len(review.centroids):
            data = review.centroids[["track_id", "frame", "y", "x"]].to_numpy(float)
            viewer.add_tracks(data, name=PATHS, tail_length=12, head_length=0, tail_width=2)
        viewer.layers.selection.active = viewer.layers[TRACKS]
        viewer.dims.axis_labels = ("t", "y", "x")
        viewer.dims.set_current_step(0, 0)
        viewer.reset_view()

    def save(self) -> SavedEdit | None:
        """Write the edited well (module docstring); None when the edit is refused."""
        assert self.review is not None
        try:
            saved = save_edit(self.chip, self.review, np.asarray(self.tracks_layer.data), self.panel.rows(),
                              user=self.user)
        except AnnotationError as e:
            self._tell(f"not saved: {e}", error=True)
            return None
        what = "written" if saved.result.written else "unchanged (same labels as stored)"
        self.open(self.index)
        self._tell(f"{self.review.well} {what}: human:{self.user} gave {saved.new_masks} track-frame masks, "
                   f"{saved.new_types} cell types, {saved.new_deaths} deaths; annotations version "
                   f"{saved.result.version[:12]}")
        return saved

    def _tell(self, text: str, *, error: bool = False) -> None:
        self.panel.set_status(text, error=error)
        self.viewer.status = text
        if error:
            from napari.utils.notifications import show_error

            show_error(text)

    def next(self) -> None:
        """Open the next well of the queue (stays on the last)."""
        if self.index + 1 < len(self.queue):
            self.open(self.index + 1)
        else:
            self._tell("last well of the queue")

    def previous(self) -> None:
        """Open the previous well of the queue (stays on the first)."""
        if self.index > 0:
            self.open(self.index - 1)
        else:
            self._tell("first well of the queue")


def run_review(chip: ChipStore, queue: Sequence[WellToReview], *, user: str, segmenter: str,
               screenshot: Path | None = None, frame: int | None = None, size: tuple[int, int] = (1400, 860)) -> int:
    """Open the review window and run napari until it is closed; with ``screenshot``, instead
    draw the first well (at ``frame``) in a ``size`` (width, height) window without showing
    it, save the whole window as that PNG and return. Needs a display with OpenGL (Xvfb
    works: ``xvfb-run -a lftiming review ...``)."""
    import napari

    viewer = napari.Viewer(title="lftiming review", show=screenshot is None)
    window = ReviewWindow(viewer, chip, queue, user=user, segmenter=segmenter)
    if frame is not None:
        viewer.dims.set_current_step(0, frame)
    if screenshot is None:
        napari.run()
        return 0
    from qtpy.QtWidgets import QApplication

    viewer.window._qt_window.resize(*size)  # the public API sizes the canvas only, not the window
    QApplication.processEvents()
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(screenshot), canvas_only=False)
    del window
    viewer.close()
    return 0


__all__ = ["INSTANCES", "NEXT_KEY", "PATHS", "PHASE", "PREVIOUS_KEY", "SAVE_KEY", "TRACKS", "WELL_BOX",
           "ReviewWindow", "run_review"]
