"""The CNN-LSTM / frame CNN builder, training on toy tracks, inference edge cases and weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lftiming_ml.classification.config import ClassifierProfile, classifier_profile, train_config
from lftiming_ml.classification.sequences import TrackSequence, extract_patches, motion_descriptors, well_track_sequences
from lftiming_ml.classification.engine import classifier_from_registry, predict_tracks, registry_config, \
    train_classifier
from lftiming_ml.classification.model import build_classifier
from lftiming_ml.models.registry import load_state_dict_file

TINY = ClassifierProfile(patch_size=16, input_size=16, frame_step=1, clip_frames=6, embed_dim=8, hidden_dim=8)


def toy_track(kind: int, n: int, rng: np.random.Generator, onset: int | None = None) -> TrackSequence:
    """Effectors (1): small dark disk; targets (0): large one that turns bright from ``onset``."""
    yy, xx = np.mgrid[:16, :16]
    r = 3 if kind == 1 else 6
    mask = np.broadcast_to((yy - 8) ** 2 + (xx - 8) ** 2 <= r ** 2, (n, 16, 16)).copy()
    phase = np.where(mask, -1.0, 0.0) + rng.normal(0, 0.1, (n, 16, 16))
    apoptotic = np.zeros(n, np.int8)
    if onset is not None:
        apoptotic[onset:] = 1
        phase[onset:][mask[onset:]] = 1.0
    cents = np.cumsum(rng.normal(0, 2 if kind else 0.2, (n, 2)), axis=0) + 30
    frames = np.arange(n)
    return TrackSequence(frames=frames, phase=phase.astype(np.float16), mask=mask,
                         motion=motion_descriptors(cents, frames, um_per_px=0.65, frame_interval_min=5),
                         centroids=cents, cell_type=kind, apoptotic=apoptotic)


@pytest.mark.parametrize("backbone", ["resnet18", "resnet34", "resnet50"])
def test_builder_shapes_and_frozen_stem(backbone: str) -> None:
    model = build_classifier(profile=TINY.model_copy(update={"backbone": backbone}), kind="cnn_lstm").eval()
    assert model.trunk.conv1.in_channels == 4
    assert not model.trunk.conv1.weight.requires_grad and model.trunk.layer1[0].conv1.weight.requires_grad
    valid = torch.tensor([[True] * 5, [True] * 2 + [False] * 3])
    frame, track = model(torch.randn(2, 5, 16, 16), torch.ones(2, 5, 16, 16), torch.randn(2, 5, 5), valid)
    assert frame.shape == (2, 5) and track.shape == (2,)


def test_paper_profile_runs_224px_clips() -> None:
    profile = classifier_profile("paper")
    assert (profile.input_size, profile.clip_frames, profile.frame_step) == (224, 64, 1)
    model = build_classifier(profile=profile, kind="cnn_lstm").eval()
    p = profile.patch_size
    with torch.no_grad():
        frame, track = model(torch.randn(1, 2, p, p), torch.ones(1, 2, p, p), torch.zeros(1, 2, 5),
                             torch.ones(1, 2, dtype=torch.bool))
    assert frame.shape == (1, 2) and torch.isfinite(track).all()
    assert not any(q.requires_grad for q in model.trunk.layer1.parameters())  # paper: stem + layer1 frozen


def test_training_learns_toy_tracks() -> None:
    rng = np.random.default_rng(0)
    tracks = [toy_track(k % 2, 8, rng) for k in range(20)]
    config = train_config("cpu", task="celltype", profile=TINY, epochs=3, batch_size=6, lr=3e-3, warmup_steps=0,
                          device="cpu")
    model, history = train_classifier(config, train_tracks=tracks[:12], val_tracks=tracks[12:])
    assert len(history) == 3 and history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["val_accuracy"] >= 0.75


def test_apoptosis_prediction_is_monotone_and_frame_cnn_thresholds() -> None:
    rng = np.random.default_rng(1)
    tracks = [toy_track(0, 12, rng, onset=o) for o in (None, 4, 8, None)]
    for kind in ("cnn_lstm", "frame_cnn"):
        torch.manual_seed(0)
        model = build_classifier(profile=TINY, kind=kind)
        preds = predict_tracks(model, tracks, task="apoptosis", threshold=0.5)
        assert [len(p.p_frame) for p in preds] == [12] * 4
        if kind == "cnn_lstm":
            assert all((np.diff(p.p_monotone) >= -1e-12).all() for p in preds)
        for p, t in zip(preds, tracks):
            hit = np.flatnonzero(p.p_monotone >= 0.5)
            assert p.death_frame == (int(t.frames[hit[0]]) if hit.size else None)


def test_one_frame_track_and_one_cell_well_do_not_crash() -> None:
    import pandas as pd

    rng = np.random.default_rng(2)
    phase = rng.integers(2000, 3000, (5, 40, 40)).astype(np.uint16)
    masks = np.zeros((5, 1, 40, 40), bool)
    masks[:, 0, 15:25, 15:25] = True
    rows = pd.DataFrame({"track_id": [0], "frame": [3], "y": [20.0], "x": [20.0]})  # one cell, one frame
    seqs = well_track_sequences(phase, masks, rows, profile=TINY.model_copy(update={"frame_step": 2}),
                                um_per_px=0.65, frame_interval_min=5, meta={"chip_id": "c"})
    assert len(seqs) == 1 and len(seqs[0]) == 1 and seqs[0].mask.sum() == 100
    assert (seqs[0].motion == 0).all()
    for task in ("celltype", "apoptosis"):
        model = build_classifier(profile=TINY.model_copy(update={"frame_step": 2}), kind="cnn_lstm")
        (pred,) = predict_tracks(model, seqs, task=task)
        assert len(pred.p_frame) == 1 and 0 <= pred.p_track <= 1


def test_weights_load_with_weights_only(tmp_path: Path) -> None:
    config = train_config("cpu", task="apoptosis", profile=TINY)
    model = build_classifier(profile=TINY, kind="cnn_lstm").eval()
    path = tmp_path / "w.pt"
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    rebuilt = classifier_from_registry(load_state_dict_file(path), registry_config(config))
    assert state.keys() == rebuilt.state_dict().keys()
    x = (torch.randn(1, 3, 16, 16), torch.ones(1, 3, 16, 16), torch.zeros(1, 3, 5), torch.ones(1, 3, dtype=torch.bool))
    assert torch.allclose(model(*x)[0], rebuilt(*x)[0])


def test_patches_and_motion() -> None:
    img = np.arange(2 * 20 * 20, dtype=np.float32).reshape(2, 20, 20)
    masks = np.zeros((2, 20, 20), bool)
    masks[:, 9:12, 9:12] = True
    patch, mpatch = extract_patches(img, masks, np.array([[10.0, 10.0], [0.0, 19.0]]), 6)
    assert patch.shape == (2, 6, 6) and patch[0, 3, 3] == img[0, 10, 10] and mpatch[0].sum() == 9
    assert patch[1, 0, 5] == img[1, 0, 19]  # edge-padded outside the crop
    cents = np.stack([np.zeros(6), np.arange(6) * 10.0], 1)  # 10 px = 6.5 um per 5-min frame, along +x
    motion = motion_descriptors(cents, np.arange(6), um_per_px=0.65, frame_interval_min=5)
    assert motion[:, 0] == pytest.approx(np.full(6, 1.3 / 5))
    assert motion[:, 1] == pytest.approx(np.ones(6)) and motion[:, 3] == pytest.approx(np.zeros(6))
    assert motion[:, 4] == pytest.approx(np.ones(6))


def test_folds_group_by_chip() -> None:
    from lftiming_ml.classification.engine import chip_folds, cross_validate

    folds = chip_folds(["c3", "c1", "c2", "c1", "c4", "c5"], 2)
    assert folds == [["c1", "c3", "c5"], ["c2", "c4"]]
    with pytest.raises(ValueError, match="at least 3 chips"):
        chip_folds(["a", "b"], 3)
    rng = np.random.default_rng(3)
    tracks = [toy_track(k % 2, 6, rng) for k in range(8)]
    for k, t in enumerate(tracks):
        t.meta["chip_id"] = f"chip{k // 4}"
    config = train_config("cpu", task="celltype", profile=TINY, epochs=1, batch_size=8, warmup_steps=0, device="cpu")
    rows = cross_validate(config, tracks, n_folds=2)
    assert [r["fold"] for r in rows] == [0.0, 1.0] and all(r["n_val_tracks"] == 4 for r in rows)
    assert all(0 <= r["val_accuracy"] <= 1 for r in rows)


def test_death_threshold_calibration_picks_a_set_and_its_best_threshold() -> None:
    """The first set with enough labelled deaths and survivors is used; the chosen threshold's
    calls are right on at least as many frames as the recipe's, as ``score_predictions``
    scores ``predict_tracks``' calls at it; without such a set the recipe stays."""
    from pydantic import ValidationError

    from lftiming_ml.classification.engine import score_predictions
    from lftiming_ml.classification.offline import calibrate_death_threshold, calibration_tracks

    rng = np.random.default_rng(5)
    torch.manual_seed(0)
    few_deaths = [toy_track(0, 8, rng, onset=4) for _ in range(2)] + [toy_track(0, 8, rng) for _ in range(9)]
    enough = [toy_track(0, 8, rng, onset=int(rng.integers(1, 7))) for _ in range(5)] + \
        [toy_track(0, 8, rng) for _ in range(5)] + [TrackSequence(**{**toy_track(0, 8, rng).__dict__, "apoptotic": None})]
    config = train_config("cpu", task="apoptosis", profile=TINY, calibration_min_tracks=5, death_threshold=0.5)
    assert calibration_tracks(config, {"few": few_deaths, "enough": enough})[0] == "enough"
    assert len(calibration_tracks(config, {"enough": enough})[1]) == 10  # the unlabelled track is left out
    model = build_classifier(profile=TINY, kind="cnn_lstm").eval()
    calibrated, metrics, used = calibrate_death_threshold(model, config, {"few": few_deaths, "enough": enough})
    assert used == "enough" and calibrated.death_threshold in config.death_threshold_grid
    assert metrics["death_threshold"] == calibrated.death_threshold and metrics["calibration_tracks"] == 10
    assert metrics["calibration_frame_accuracy"] >= metrics["calibration_frame_accuracy_uncalibrated"]
    tracks = enough[:10]
    for threshold, key in ((calibrated.death_threshold, "calibration_frame_accuracy"),
                           (0.5, "calibration_frame_accuracy_uncalibrated")):
        preds = predict_tracks(model, tracks, task="apoptosis", threshold=threshold)
        assert score_predictions(tracks, preds, task="apoptosis")["accuracy"] == pytest.approx(metrics[key])
    assert calibrate_death_threshold(model, config, {"few": few_deaths}) == (config, {}, "none")
    with pytest.raises(ValidationError, match=r"must lie in \(0, 1\)"):
        train_config("cpu", task="apoptosis", death_threshold_grid=(0.5, 1.2))
