"""Losses and post-processing of the classifiers, and the classification metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from lftiming_ml.classification.losses import apoptosis_loss, monotonicity_penalty, smoothed_bce
from lftiming_ml.classification.postprocess import (choose_death_threshold, death_frame, death_threshold_accuracy,
                                                   fill_skipped, majority_vote, monotone_probability)
from lftiming_ml.metrics.classification import auroc, binary_scores, binary_scores_ci, death_frame_scores


def test_monotonicity_zero_for_non_decreasing_positive_otherwise() -> None:
    rising = torch.tensor([[0.0, 0.1, 0.1, 0.7, 1.0]])
    assert float(monotonicity_penalty(rising)) == 0.0
    dip = torch.tensor([[0.0, 0.6, 0.2, 0.7, 1.0]])
    assert float(monotonicity_penalty(dip)) == pytest.approx(0.4 / 4)
    # a drop into a padded frame does not count
    valid = torch.tensor([[True, True, True, False, False]])
    padded = torch.tensor([[0.1, 0.2, 0.3, 0.0, 0.0]])
    assert float(monotonicity_penalty(padded, valid)) == 0.0
    assert float(monotonicity_penalty(padded)) > 0


def test_monotonicity_has_gradient_only_on_the_drop() -> None:
    p = torch.tensor([[0.2, 0.8, 0.5, 0.9]], requires_grad=True)
    monotonicity_penalty(p).backward()
    assert p.grad.tolist()[0] == pytest.approx([0, 1 / 3, -1 / 3, 0])


def test_smoothed_bce_and_apoptosis_loss() -> None:
    logits = torch.tensor([[10.0, -10.0]])
    hard = smoothed_bce(logits, torch.tensor([[1.0, 0.0]]), smoothing=0.0)
    soft = smoothed_bce(logits, torch.tensor([[1.0, 0.0]]), smoothing=0.1)
    assert float(hard) < 1e-3 < float(soft)  # smoothing penalises overconfident logits
    out = apoptosis_loss(torch.tensor([[-3.0, 3.0, -3.0]]), torch.tensor([[0.0, 1.0, 1.0]]),
                         torch.ones(1, 3, dtype=torch.bool), w_monotone=2.0)
    assert float(out["loss_monotone"]) > 0.4
    assert float(out["loss"]) == pytest.approx(float(out["loss_bce"] + 2 * out["loss_monotone"]))


def test_monotone_probability_and_death_frame() -> None:
    p = np.array([0.1, 0.7, 0.2, 0.3, 0.8, 0.9])
    mono = monotone_probability(p)
    assert (np.diff(mono) >= 0).all() and mono[-1] == pytest.approx(0.9)
    frames = np.arange(10, 16)
    assert death_frame(mono, frames, 0.5) == 14  # the transient 0.7 is pooled away
    assert death_frame(p, frames, 0.5) == 11  # a raw per-frame threshold is fooled by it
    assert death_frame(np.zeros(3), frames[:3], 0.5) is None
    assert monotone_probability(np.array([0.4])).tolist() == [0.4]
    assert fill_skipped(np.array([0.0, 1.0]), np.array([0, 2]), 4).tolist() == [0.0, 0.5, 1.0, 1.0]
    assert majority_vote(np.array([0.9, 0.8, 0.1])) == (True, pytest.approx(2 / 3))


def test_auroc_matches_sklearn_and_metrics() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.3
    s = np.round(rng.random(200) + y * 0.5, 1)  # ties on purpose
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert np.isnan(auroc(np.ones(3, bool), np.arange(3)))
    m = binary_scores(np.array([1, 1, 0, 0, 0], bool), np.array([1, 0, 0, 0, 1], bool))
    assert (m["accuracy"], m["sensitivity"], m["specificity"], m["ppv"], m["npv"]) == pytest.approx(
        (3 / 5, 1 / 2, 2 / 3, 1 / 2, 2 / 3))


def test_bootstrap_ci_resamples_units() -> None:
    rng = np.random.default_rng(1)
    units = np.repeat(np.arange(40), 10)
    y = rng.random(400) < 0.5
    pred = np.where(rng.random(400) < 0.9, y, ~y)
    out = binary_scores_ci(y, pred, pred.astype(float), units, n_resamples=300)
    lo, hi = out["accuracy_ci"]
    assert lo < out["accuracy"] < hi and out["n_units"] == 40
    assert 0.8 < out["accuracy"] < 1.0


def test_death_frame_scores() -> None:
    out = death_frame_scores([None, 10, 20, None], [None, 13, 30, 5])
    assert out["within_tol"] == pytest.approx(0.5) and out["missed"] == 1 and out["spurious"] == 0
    assert out["abs_error_mean"] == pytest.approx(6.5)


def test_death_threshold_accuracy_matches_death_frame_calls() -> None:
    """The pooled frame accuracy of each threshold equals the one of ``death_frame``'s calls
    made one track at a time, for monotone and raw (frame CNN) probabilities."""
    rng = np.random.default_rng(3)
    grid = [0.3, 0.5, 0.7, 0.9]
    probs, labels = [], []
    for n in (5, 9, 12, 1):
        probs.append(rng.random(n))
        labels.append(np.arange(n) >= rng.integers(0, n + 1))
    acc = death_threshold_accuracy(probs, labels, grid)
    for k, thr in enumerate(grid):
        right = 0
        for p, y in zip(probs, labels):
            dies = death_frame(p, np.arange(len(p)), thr)
            right += int(((np.arange(len(p)) >= (dies if dies is not None else np.inf)) == y).sum())
        assert acc[k] == pytest.approx(right / sum(len(y) for y in labels))
    with pytest.raises(ValueError, match="3 probabilities for 2 labels"):
        death_threshold_accuracy([np.zeros(3)], [np.zeros(2, bool)], grid)
    with pytest.raises(ValueError, match="no labelled frames"):
        death_threshold_accuracy([], [], grid)


def test_choose_death_threshold_prefers_the_best_then_the_default() -> None:
    # a living cell whose probability creeps to 0.65 and a death at frame 3 (p 0.8 there)
    living, dying = np.array([0.1, 0.3, 0.5, 0.65]), np.array([0.2, 0.4, 0.6, 0.8, 0.9])
    labels = [np.zeros(4, bool), np.arange(5) >= 3]
    grid = [0.5, 0.6, 0.7, 0.8, 0.9]
    acc = death_threshold_accuracy([living, dying], labels, grid)
    assert acc.tolist() == pytest.approx([6 / 9, 7 / 9, 1.0, 1.0, 8 / 9])
    assert choose_death_threshold(acc, grid, 0.5) == 0.7  # of the two bests, the one nearer 0.5
    assert choose_death_threshold(acc, grid, 0.9) == 0.8
    assert choose_death_threshold(np.ones(5), grid, 0.6) == 0.6  # cannot tell: the recipe's value stays
