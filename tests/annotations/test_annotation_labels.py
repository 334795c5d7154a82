"""Flattening overlapping masks into label images, CTC segments at gaps, and reading them back."""

from __future__ import annotations

import numpy as np
import pytest

from lftiming_ml.annotations.labels import ctc_track_rows, flatten_masks, tracks_from_labels
from lftiming_ml.annotations.validate import AnnotationError


def _disk(size: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


def test_the_smaller_overlapping_mask_is_drawn_on_top() -> None:
    big, small = _disk(32, 16, 16, 10), _disk(32, 16, 24, 4)
    masks = np.stack([small, big])[None]  # track 0 small, track 1 big
    flat = flatten_masks(masks)
    assert (flat[0][small] == 1).all()  # all of the small cell stays visible
    assert (flat[0][big & ~small] == 2).all() and (flat[0][~big & ~small] == 0).all()


def test_a_track_with_a_gap_becomes_two_ctc_segments_and_comes_back_as_one_track() -> None:
    t_, size = 6, 24
    masks = np.zeros((t_, 2, size, size), bool)
    masks[:, 0] = _disk(size, 6, 6, 3)
    masks[:, 1] = _disk(size, 16, 16, 4)
    masks[2:4, 1] = False  # track 1 is lost at frames 2-3
    labels, rows = ctc_track_rows(flatten_masks(masks), [None, None])
    assert rows == [(1, 0, 5, 0), (2, 0, 1, 0), (3, 4, 5, 2)]
    assert (labels[4:][masks[4:, 1]] == 3).all()
    back = tracks_from_labels(labels, rows, source="test")
    np.testing.assert_array_equal(back.masks, masks)
    assert back.labels == [1, 2] and back.parents == [None, None]


def test_a_division_keeps_its_parent_link() -> None:
    t_, size = 4, 24
    masks = np.zeros((t_, 3, size, size), bool)
    masks[:2, 0] = _disk(size, 12, 12, 5)
    masks[2:, 1] = _disk(size, 12, 6, 3)
    masks[2:, 2] = _disk(size, 12, 18, 3)
    labels, rows = ctc_track_rows(flatten_masks(masks), [None, 0, 0])
    assert rows == [(1, 0, 1, 0), (2, 2, 3, 1), (3, 2, 3, 1)]
    back = tracks_from_labels(labels, rows, source="test")
    assert back.parents == [None, 0, 0]
    np.testing.assert_array_equal(back.masks, masks)


def test_a_track_hidden_in_every_frame_is_refused_on_export() -> None:
    masks = np.zeros((2, 2, 16, 16), bool)
    masks[:, 0] = masks[:, 1] = _disk(16, 8, 8, 3)  # identical masks: the higher id hides the other
    with pytest.raises(AnnotationError, match="track 0 is hidden by other tracks in every frame"):
        ctc_track_rows(flatten_masks(masks), [None, None])


def test_napari_labels_keep_their_identity_across_gaps() -> None:
    labels = np.zeros((3, 8, 8), np.uint32)
    labels[0, :2, :2] = labels[2, :2, :2] = 1
    labels[:, 5:, 5:] = 2
    back = tracks_from_labels(labels, None, source="test")
    assert back.labels == [1, 2] and back.masks[:, 0].any(axis=(1, 2)).tolist() == [True, False, True]
