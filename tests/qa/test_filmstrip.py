"""Well filmstrips on tiny generated wells: the frames chosen, what each panel draws (track
outline colours, death cross, contact border), the empty well, the one-cell well, the
all-dark frame, prediction above truth, and the animated GIF."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from lftiming_ml.qa.filmstrip import (CONTACT, DEATH, PALETTE, FilmstripStyle, animation_gif, choose_frames,
                                      contrast_limits, draw_panel, filmstrip_image, filmstrip_png)
from lftiming_ml.qa.views import WellView

S, T = 32, 6
STYLE = FilmstripStyle(zoom=2, header_px=0, n_frames=4)


def _disc(cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:S, :S]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _well(n_cells: int = 2, *, dark: bool = False, **kw) -> WellView:
    rng = np.random.default_rng(0)
    phase = np.zeros((T, S, S), np.uint16) if dark else rng.integers(1000, 3000, (T, S, S)).astype(np.uint16)
    masks = np.zeros((T, n_cells, S, S), bool)
    for k in range(n_cells):
        masks[:, k] = _disc(8 + 14 * k, 10 + 10 * k, 5)
    types = {0: "effector", 1: "target"}
    return WellView("f000/r0c1", kw.pop("label", "prediction"), phase, masks,
                    {k: types[k % 2] for k in range(n_cells)}, **kw)


def _has(image: Image.Image | np.ndarray, colour: tuple[int, int, int]) -> bool:
    a = np.asarray(image)[..., :3]
    return bool((a == np.array(colour, np.uint8)).all(-1).any())


def test_choose_frames_spreads_evenly_and_moves_onto_events() -> None:
    assert choose_frames(72, 8) == [0, 10, 20, 30, 41, 51, 61, 71]
    assert choose_frames(3, 8) == [0, 1, 2]  # fewer frames than asked: every frame once
    with_events = choose_frames(72, 8, [12, 44, 45])
    assert {12, 44, 45} <= set(with_events) and len(with_events) == 8 == len(set(with_events))
    assert choose_frames(72, 4, [5, 6, 7, 8]) == [5, 6, 47, 71]  # at most half the frames pinned to events
    assert choose_frames(0, 8) == [] and choose_frames(10, 3, [99, -1]) == [0, 4, 9]


def test_a_panel_draws_outlines_by_track_colour_and_the_death_from_its_frame_on() -> None:
    view = _well(death_frames={1: 3})
    limits = contrast_limits(view.phase, STYLE)
    before, at, after = (draw_panel(view, t, limits, STYLE) for t in (2, 3, 5))
    assert before.size == (S * 2, S * 2)
    for panel in (before, at, after):
        assert _has(panel, tuple(PALETTE[0])) and _has(panel, tuple(PALETTE[1]))
    assert not _has(before, DEATH) and _has(at, DEATH) and _has(after, DEATH)
    # the ring is drawn at the death frame only: more red there than on a later frame
    red = [(np.asarray(p) == np.array(DEATH, np.uint8)).all(-1).sum() for p in (at, after)]
    assert red[0] > red[1]


def test_contact_frames_get_a_yellow_border_and_a_line() -> None:
    view = _well(contacts={2: [(0, 1)]})
    limits = contrast_limits(view.phase, STYLE)
    touching, apart = draw_panel(view, 2, limits, STYLE), draw_panel(view, 1, limits, STYLE)
    a = np.asarray(touching)
    assert (a[0, :] == CONTACT).all() and (a[:, -1] == CONTACT).all()  # the border
    assert (a[16:40, 16:40] == CONTACT).all(-1).any()  # the line between the two cells
    assert not _has(apart, CONTACT)
    assert view.contact_frames.tolist() == [False, False, True, False, False, False]


def test_empty_well_one_cell_and_all_dark_frames_draw() -> None:
    empty = _well(0)
    assert filmstrip_image([empty], style=STYLE).size[0] > 0
    one = _well(1, dark=True)
    limits = contrast_limits(one.phase, STYLE)
    assert limits == (0.0, 1.0)  # an all-dark movie: no division by zero
    panel = np.asarray(draw_panel(one, 0, limits, STYLE))
    assert _has(panel, tuple(PALETTE[0])) and not _has(panel, tuple(PALETTE[1]))


def test_masks_must_fit_the_phase() -> None:
    with pytest.raises(ValueError, match="do not fit phase"):
        WellView("f000/r0c1", "prediction", np.zeros((T, S, S)), np.zeros((T + 1, 1, S, S), bool))


def test_prediction_above_truth_in_the_same_columns() -> None:
    style = FilmstripStyle(zoom=2, n_frames=4)
    prediction, truth = _well(death_frames={1: 3}), _well(label="truth", death_frames={1: 4})
    one = filmstrip_image([prediction], style=style)
    both = filmstrip_image([prediction, truth], style=style)
    assert both.width == one.width and both.height > 2 * one.height - 10
    png = Image.open(io.BytesIO(filmstrip_png([prediction, truth], style=style)))
    assert png.format == "PNG" and png.size == both.size
    # frames 3 and 4 (each view's death) are among the 4 shown: 4 panels of 64 px + 3 gaps
    assert one.width == 4 * S * 2 + 3 * style.gap_px


def test_the_animation_has_every_frame_and_both_views_side_by_side() -> None:
    style = FilmstripStyle(zoom=1)
    gif = Image.open(io.BytesIO(animation_gif([_well(), _well(label="truth")], style=style)))
    assert gif.format == "GIF" and gif.n_frames == T
    assert gif.size[0] == 2 * S + style.gap_px
    every_other = Image.open(io.BytesIO(animation_gif([_well()], style=FilmstripStyle(zoom=1, gif_step=2))))
    assert every_other.n_frames == T // 2
