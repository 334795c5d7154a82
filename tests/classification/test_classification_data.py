"""Training tracks from a small simulated chip (labels from fluorescence vs truth), and the
per-stratum scoring used by the benchmark and ``lftiming evaluate``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lftiming_ml.classification.config import ClassifierProfile
from lftiming_ml.classification.data import label_error_rates, load_chip_tracks
from lftiming_ml.evaluation.classification import score_apoptosis, score_celltypes
from lftiming_ml.sim.chip import simulate_chip
from tests.conftest import small_sim_config


@pytest.fixture(scope="module")
def chip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = small_sim_config(seed=24, n_frames=6)
    path = tmp_path_factory.mktemp("cls") / "chip"
    simulate_chip(path, cfg)
    return path


def test_chip_tracks_carry_fluorescence_labels_that_match_truth(chip: Path) -> None:
    profile = ClassifierProfile(patch_size=24)
    tracks = load_chip_tracks(chip, profile=profile)
    truth = pd.read_parquet(chip / "gt" / "cells.parquet")
    assert len(tracks) == truth.groupby(["field_id", "row", "col", "cell_id"]).ngroups > 0
    for t in tracks:
        assert t.phase.shape == (len(t), 24, 24) and t.phase.dtype == np.float16
        assert t.mask[:, 12].any() or t.mask.any()  # the cell sits in its patch
        assert t.apoptotic.shape == (len(t),) and t.true_alive.shape == (len(t),)
    errors = label_error_rates(tracks)
    assert errors["type_error"] == 0.0 and errors["type_unlabelled"] < 0.2
    labelled = [t for t in tracks if t.cell_type >= 0]
    assert {t.true_type for t in labelled if t.cell_type == 1} <= {"effector"}
    parents = truth.groupby(["field_id", "row", "col", "cell_id"])["parent_id"].first()
    assert [t.meta["parent"] for t in tracks] == [
        parents[(t.meta["field_id"], t.meta["row"], t.meta["col"], t.meta["track_id"])] for t in tracks]


def test_scores_per_stratum_with_contact_group() -> None:
    rng = np.random.default_rng(0)
    n = 60
    tracks = pd.DataFrame({"true_effector": rng.random(n) < 0.5, "stratum": np.where(np.arange(n) < 30, "1E1T", "2E2T"),
                           "contact_rich": np.arange(n) % 3 == 0})
    tracks["pred_effector"] = tracks["true_effector"] ^ (np.arange(n) == 5)
    tracks["p_effector"] = tracks["pred_effector"].astype(float)
    scores = score_celltypes(tracks, n_resamples=200)
    assert set(scores) == {"overall", "1E1T", "2E2T", "contact-rich"}
    assert scores["overall"]["accuracy"] == pytest.approx(59 / 60) and scores["2E2T"]["accuracy"] == 1.0
    frames = pd.DataFrame({"track": np.repeat([0, 1], 10), "true_apoptotic": np.r_[np.zeros(10), np.arange(10) >= 4],
                           "stratum": "1E1T", "contact_rich": False})
    frames["pred_apoptotic"] = np.r_[np.zeros(10), np.arange(10) >= 6].astype(bool)
    frames["p_apoptotic"] = frames["pred_apoptotic"].astype(float)
    per_track = pd.DataFrame({"pred_death": pd.array([pd.NA, 6], "Int64"), "true_death": pd.array([pd.NA, 4], "Int64"),
                              "stratum": "1E1T", "contact_rich": False})
    apo = score_apoptosis(frames, per_track, n_resamples=200)
    assert apo["overall"]["accuracy"] == pytest.approx(18 / 20)
    assert apo["overall"]["death"]["within_tol"] == 1.0 and apo["overall"]["death"]["abs_error_mean"] == 2.0
