"""The queue on hand-made tables: one row per occupied well, a well with an obvious problem
above a clean one with the problem named, scores as the logistic model of the documented
weights, model versions stamped; and the fluorescence checks on synthetic channels."""

from __future__ import annotations

import numpy as np
import pytest

from lftiming_ml.interactions.outcomes import VERSION_COLUMNS
from lftiming_ml.review import queue as rq
from lftiming_ml.review.config import ReviewParams
from lftiming_ml.review.fluorescence import COLUMNS as FLUO_COLUMNS
from lftiming_ml.review.fluorescence import well_fluorescence_signals
from lftiming_ml.review.signals import FLUORESCENCE_SIGNALS, PHASE_SIGNALS, SIGNALS, normalise
from tests.review.tables import CHIP, T, Track, well_tables

PROBLEM = (1, 1)


def test_a_well_with_problems_ranks_above_clean_ones_and_says_why() -> None:
    occupied, tables = well_tables({
        (0, 0): [Track("effector"), Track("target")],
        (0, 1): [Track("target")],
        PROBLEM: [Track("effector", interpolated=set(range(2, 16)), fb_disagree={0, 1, 16, 17, 18}, p_effector=0.5),
                  Track("target", frames=list(range(6, T)), start_reason="appeared")],
        (2, 2): []})
    queue = rq.review_queue(occupied, tables)
    assert len(queue) == 4 and not queue[["field_id", "row", "col"]].duplicated().any()
    assert list(queue.columns) == [*rq.REVIEW_COLUMNS, *VERSION_COLUMNS]
    assert queue["queue_rank"].tolist() == [1, 2, 3, 4]
    assert queue["score"].is_monotonic_decreasing and queue["score"].between(0, 1).all()
    top = queue.iloc[0]
    assert (top["row"], top["col"]) == PROBLEM
    assert 1 <= top["n_reasons"] <= ReviewParams().max_reasons and top["reasons"].count(";") == top["n_reasons"] - 1
    contrib = rq.contributions(queue.iloc[[0]], rq.WEIGHTS_PHASE_ONLY).iloc[0].sort_values(ascending=False)
    named = top["reason_signals"].split(",")
    assert named == list(contrib.index[:len(named)])  # the largest contributions, largest first
    assert contrib[named[-1]] >= ReviewParams().reason_min_logit
    assert top["reasons"].split("; ")[0] == rq.reason_text(named[0], top[named[0]])
    assert top["interpolated_frames"] == 14 and top["fb_disagreement"] == 5
    clean = queue.set_index(["row", "col"]).loc[(0, 1)]
    assert clean["score"] < top["score"] and clean["n_reasons"] == 0 and clean["reasons"] == ""
    assert (queue["chip_id"] == CHIP).all() and not queue["fluorescence_checked"].any()
    assert queue[FLUORESCENCE_SIGNALS].isna().all().all()  # not measured on a chip without dyes
    for column, version in {"segmenter_version": 3, "reid_version": 6, "celltype_version": 2,
                            "apoptosis_version": 5}.items():
        assert (queue[column] == version).all() and queue[column].dtype == "int64"


def test_score_is_the_logistic_model_of_the_weights() -> None:
    occupied, tables = well_tables({(0, 0): [Track(interpolated={1, 2, 3})], (0, 1): []})
    queue = rq.review_queue(occupied, tables).set_index(["row", "col"])
    w = rq.WEIGHTS_PHASE_ONLY
    for well in ((0, 0), (0, 1)):
        logit = w["intercept"] + sum(w[n] * normalise(n, [queue.loc[well, n]])[0] for n in PHASE_SIGNALS)
        assert queue.loc[well, "score"] == pytest.approx(1 / (1 + np.exp(-logit)))
    assert set(rq.WEIGHTS) == {"intercept", *SIGNALS} and set(rq.WEIGHTS_PHASE_ONLY) == {"intercept", *PHASE_SIGNALS}
    assert all(v >= 0 for k, v in rq.WEIGHTS.items() if k != "intercept")


def test_fluorescence_disagreement_moves_a_well_up_and_reasons_name_it() -> None:
    occupied, tables = well_tables({(0, 0): [Track("effector"), Track("target")],
                                    (0, 1): [Track("effector"), Track("target")]})
    fluo = occupied.assign(**{FLUO_COLUMNS[0]: [0.0, 1.0], FLUO_COLUMNS[1]: [0.0, 0.0]})
    queue = rq.review_queue(occupied, tables, fluo).set_index(["row", "col"])
    assert queue["fluorescence_checked"].all()
    assert queue.loc[(0, 1), "queue_rank"] == 1 and queue.loc[(0, 1), "score"] > queue.loc[(0, 0), "score"]
    if rq.WEIGHTS["dye_type_disagreement"] >= ReviewParams().reason_min_logit:
        assert "dye contradicts" in queue.loc[(0, 1), "reasons"]


def test_a_chip_without_occupied_wells_gives_no_rows() -> None:
    occupied, tables = well_tables({})
    queue = rq.review_queue(occupied, tables)
    assert queue.empty and list(queue.columns) == [*rq.REVIEW_COLUMNS, *VERSION_COLUMNS]


def _blob(size: int, y: int, x: int, r: int = 5) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (yy - y) ** 2 + (xx - x) ** 2 <= r * r


def test_well_fluorescence_signals_on_synthetic_channels() -> None:
    rng = np.random.default_rng(0)
    n_frames, size = 12, 40
    masks = np.zeros((n_frames, 2, size, size), bool)
    masks[:, 0], masks[:, 1] = _blob(size, 10, 10), _blob(size, 28, 28)
    background = lambda: rng.normal(100.0, 5.0, (n_frames, size, size))  # noqa: E731
    effector_dye, target_dye, annexin = background(), background(), background()
    effector_dye[:, masks[0, 0]] += 400.0  # track 0 carries the effector dye ...
    target_dye[:, masks[0, 1]] += 400.0  # ... track 1 the target dye
    annexin[6:, masks[0, 1]] += 400.0  # track 1 turns Annexin V positive at frame 6

    right = well_fluorescence_signals(masks, ["effector", "target"], [None, 6], effector_dye=effector_dye,
                                      target_dye=target_dye, death_marker=annexin)
    assert right == (0.0, 0.0)
    wrong = well_fluorescence_signals(masks, ["target", "target"], [None, None], effector_dye=effector_dye,
                                      target_dye=target_dye, death_marker=annexin)
    assert wrong == (1.0, 1.0)  # track 0 typed target, track 1's Annexin onset without a death call
    late = well_fluorescence_signals(masks, ["effector", "target"], [None, 11], death_marker=annexin)
    assert np.isnan(late[0]) and late[1] == 1.0  # no dyes given: type not checked; 5 frames late > 4
    assert well_fluorescence_signals(masks, ["effector", "target"], [None, 10], death_marker=annexin)[1] == 0.0
