"""The re-identification embedding: inputs, training, scoring, registry round trip."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lftiming_ml.classification.config import CLASSIFICATION_CORPUS, ClassifierProfile
from lftiming_ml.classification.data import load_chip_tracks
from lftiming_ml.models.bundle import read_bundle, write_bundle
from lftiming_ml.models.registry import log_and_register, register_bundle
from lftiming_ml.reid.config import MODEL_NAME, registry_config, reid_profile
from lftiming_ml.reid.engine import embed_tracks, train_reid, verification_accuracy
from lftiming_ml.reid.losses import supervised_contrastive_loss
from lftiming_ml.reid.model import ReidNet, reid_from_registry, stack_inputs
from lftiming_ml.reid.offline import train_bundle
from lftiming_ml.reid.serving import load_reid
from lftiming_ml.tracking.appearance import embed_detections
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.tracking import WellFrameDetections
from tests.conftest import small_sim_config

PATCH = 24


@pytest.fixture(scope="module")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> list:
    cfg = small_sim_config(seed=24, n_frames=8)
    path = tmp_path_factory.mktemp("reid") / "chip"
    simulate_chip(path, cfg)
    return load_chip_tracks(path, profile=ClassifierProfile(patch_size=PATCH, frame_step=1))


def small_profile(**kw: object):
    return reid_profile("cpu", **{"patch_size": PATCH, "channels": (8, 16), "embedding_dim": 8, "wells_per_batch": 4,
                                  "max_steps": 12, "train_seconds": 120.0, **kw})


def test_cut_out_keeps_the_cell_and_its_halo_only() -> None:
    phase = np.ones((1, 9, 9), np.float32)
    mask = np.zeros((1, 9, 9), bool)
    mask[0, 4, 4] = True
    x = stack_inputs(phase, mask, small_profile(outside_weight=0.0, mask_dilation_px=1, mask_weight=1.0))
    assert x.shape == (1, 2, 9, 9)
    assert x[0, 0].sum() == 9 and x[0, 0, 3:6, 3:6].all()  # the 3 x 3 dilation kept, the rest zeroed
    assert x[0, 1].sum() == 1
    phase_only = stack_inputs(phase, mask, small_profile(outside_weight=0.0, mask_dilation_px=1))  # cpu: mask_weight 0
    assert phase_only[0, 1].sum() == 0 and np.array_equal(phase_only[0, 0], x[0, 0])
    np.testing.assert_array_equal(stack_inputs(phase, mask, small_profile(outside_weight=1.0))[0, 0], phase[0])


def test_contrastive_loss_rewards_grouping_views_of_one_cell() -> None:
    labels = torch.tensor([0, 0, 1, 1])
    grouped = torch.nn.functional.normalize(torch.tensor([[1.0, 0.1], [1.0, -0.1], [0.1, 1.0], [-0.1, 1.0]]), dim=1)
    mixed = grouped[[0, 2, 1, 3]]
    assert supervised_contrastive_loss(grouped, labels, 0.1) < supervised_contrastive_loss(mixed, labels, 0.1)


def test_training_scoring_and_registry_round_trip(tracks: list, tmp_path: Path) -> None:
    profile = small_profile()
    net, history = train_reid(profile, tracks, device="cpu")
    assert history[-1]["step"] == 12 and np.isfinite(history[-1]["loss"])
    emb = embed_tracks(net, tracks[:3], device="cpu")
    for t in tracks[:3]:
        assert emb[id(t)].shape == (len(t), 8)
        np.testing.assert_allclose(np.linalg.norm(emb[id(t)], axis=1), 1.0, rtol=1e-5)
    scores = verification_accuracy(net, tracks, anchor_frames=2, device="cpu")
    assert scores["verification_pairs"] > 0 and 0.0 <= scores["verification"] <= 1.0
    assert 0.0 <= scores["verification_area"] <= 1.0

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    log_and_register(tracking_uri=uri, experiment=MODEL_NAME, model_name=MODEL_NAME,
                     state_dict={k: v.detach().cpu() for k, v in net.state_dict().items()},
                     config=registry_config(profile), params={}, metrics={"loss": history[-1]["loss"]},
                     artifact_location=(tmp_path / "artifacts").as_uri())
    loaded, info = load_reid(tracking_uri=uri)
    assert info.version == 1 and loaded.profile == profile
    again = embed_tracks(loaded, tracks[:3], device="cpu")
    for t in tracks[:3]:
        np.testing.assert_allclose(again[id(t)], emb[id(t)], atol=1e-6)


def test_cosine_schedule_ends_the_learning_rate_at_zero(tracks: list) -> None:
    _, constant = train_reid(small_profile(max_steps=4), tracks, device="cpu")
    _, cosine = train_reid(small_profile(max_steps=4, lr_schedule="cosine"), tracks, device="cpu")
    assert constant[-1]["lr"] == pytest.approx(2e-3)
    assert cosine[-1]["step"] == 4 and cosine[-1]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_patch_size_must_match_the_profile(tracks: list) -> None:
    with pytest.raises(ValueError, match="wants 32 px patches"):
        train_reid(small_profile(patch_size=32), tracks, device="cpu")


def test_embed_detections_fills_unit_vectors_per_detection() -> None:
    net = ReidNet(small_profile()).eval()
    phase = np.full((2, 40, 40), 1000, np.uint16)
    masks = np.zeros((2, 40, 40), bool)
    masks[0, 10:16, 10:16] = masks[1, 20:26, 20:26] = True
    dets = [WellFrameDetections(np.array([[12.5, 12.5], [22.5, 22.5]]), np.array([36.0, 36.0]), masks),
            WellFrameDetections.empty()]
    out = embed_detections(net, phase, dets, device="cpu")
    assert out[0].embeddings.shape == (2, 8) and out[1].embeddings is None
    np.testing.assert_allclose(np.linalg.norm(out[0].embeddings, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(out[0].centroids, dets[0].centroids)
    with pytest.raises(ValueError, match="2 frames of detections for a 3-frame movie"):
        embed_detections(net, np.zeros((3, 40, 40), np.uint16), dets, device="cpu")
    with pytest.raises(ValueError, match="without masks"):
        embed_detections(net, phase, [WellFrameDetections(np.zeros((1, 2)), np.ones(1)), dets[1]], device="cpu")


def test_bundle_trained_without_mlflow_registers_the_same_network(tmp_path: Path) -> None:
    corpus = CLASSIFICATION_CORPUS.replace(presets=("standard",), n_chips=2, n_frames=8)
    light = {"channels": (8, 16), "embedding_dim": 8, "wells_per_batch": 4, "max_steps": 6}
    bundle = train_bundle(corpus=corpus, corpus_root=tmp_path / "corpus", overrides=light, workers=2, device="cpu")
    assert len(list((tmp_path / "corpus").iterdir())) == 2  # simulated in two processes
    assert bundle.params["train_device"].startswith("cpu") and bundle.params["n_val_chips"] == 1
    assert bundle.metrics["train_steps"] == 6 and 0.0 <= bundle.metrics["val_effector_verification"] <= 1.0
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    register_bundle(read_bundle(write_bundle(tmp_path / "bundle", bundle)), tracking_uri=uri,
                    artifact_location=(tmp_path / "artifacts").as_uri())
    loaded, info = load_reid(tracking_uri=uri)
    assert info.version == 1 and loaded.profile.channels == (8, 16)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in bundle.state_dict.items())


def test_offline_training_needs_neither_mlflow_nor_dagster_nor_the_tracker() -> None:
    """A GPU machine trains with ``python -m lftiming_ml.reid.offline``: nothing it imports may
    need MLflow, Dagster, DuckDB or the tracker's solvers (CVXPY/OSQP)."""
    blocker = ("import sys\n"
               "class Block:\n"
               "    def find_spec(self, name, path, target=None):\n"
               "        if name.split('.')[0] in ('mlflow', 'dagster', 'duckdb', 'lftiming_assets', 'cvxpy', 'osqp'):\n"
               "            raise ImportError('blocked ' + name)\n"
               "sys.meta_path.insert(0, Block())\n"
               "import lftiming_ml.reid.offline, lftiming_ml.reid.config, lftiming_ml.reid.model\n"
               "print('imported')\n")
    out = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "imported" in out.stdout, out.stderr
    blocked_serving = blocker.replace("import lftiming_ml.reid.offline,", "import lftiming_ml.reid.serving,")
    out = subprocess.run([sys.executable, "-c", blocked_serving], capture_output=True, text=True, check=False)
    assert out.returncode != 0 and "blocked mlflow" in out.stderr  # the block bites: serving registers in MLflow


def test_offline_cli_help() -> None:
    out = subprocess.run([sys.executable, "-m", "lftiming_ml.reid.offline", "--help"], capture_output=True, text=True,
                         check=False, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    assert "python -m lftiming_ml.reid.offline" in out.stdout and "--corpus-root" in out.stdout


def test_versions_registered_before_the_package_split_still_load() -> None:
    """The config ``lftiming_ml.tracking.reid`` registered with version 3 (the ``paper``
    profile), as stored; its weights' names are the network's."""
    stored = {"kind": "reid_embedding", "profile": {
        "name": "paper", "patch_size": 48, "phase_gain": 4.0, "channels": [64, 128, 192, 256], "embedding_dim": 64,
        "mask_weight": 1.0, "outside_weight": 0.0, "mask_dilation_px": 2, "train_seconds": 1800.0, "max_steps": 40000,
        "wells_per_batch": 48, "views_per_cell": 4, "frame_window": 6, "jitter_px": 2, "mask_jitter": True,
        "negatives": "batch", "temperature": 0.1, "lr": 0.002, "weight_decay": 0.0001, "seed": 0}}
    # fields added since (training only) have defaults, so the stored config still validates
    assert registry_config(reid_profile("paper")) == {**stored, "profile": {**stored["profile"], "segmented_mask_share": 0.5,
                                                                            "lr_schedule": "constant"}}
    weights = {k: torch.randn_like(v) if v.is_floating_point() else v
               for k, v in ReidNet(reid_profile("paper")).state_dict().items()}
    net = reid_from_registry(weights, stored)
    assert all(torch.equal(net.state_dict()[k], v) for k, v in weights.items())
    with pytest.raises(ValueError, match="not a 'reid_embedding'"):
        reid_from_registry(weights, {**stored, "kind": "locsnet"})
