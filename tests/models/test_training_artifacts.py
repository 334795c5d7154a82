"""Preview artifacts of training runs: the generic instance overlay, file artifacts in
``log_and_register``, and the validation overlay every segmenter training run logs."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from mlflow import MlflowClient
from PIL import Image

from lftiming_ml.models.registry import log_and_register
from lftiming_ml.segmentation.config import SEGMENTATION_CORPUS, CorpusSampling, segmenter_profile
from lftiming_ml.segmentation.config import OVERLAY_ARTIFACT
from lftiming_ml.segmentation.training import train_and_register
from lftiming_ml.viz import PREDICTED_COLOUR, TRUE_COLOUR, instance_overlay_png


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _is(colour: tuple[int, int, int], pixels: np.ndarray) -> np.ndarray:
    return np.all(pixels == np.array(colour, np.uint8), axis=-1)


def test_overlay_draws_true_and_predicted_contours_where_the_masks_are() -> None:
    image = np.random.default_rng(0).integers(1000, 3000, (32, 32)).astype(np.uint16)
    true = np.zeros((1, 32, 32), bool)
    true[0, 4:12, 4:12] = True
    pred = np.zeros((2, 32, 32), bool)
    pred[0, 18:28, 18:28] = True
    pred[1, 2:6, 20:30] = True
    mosaic = _png(instance_overlay_png([image, image, image], [true, true, true], [pred, pred, pred[:0]],
                                       columns=2, zoom=2))
    assert mosaic.shape == (2 * 64 + 2, 2 * 64 + 2, 3)  # 3 panels on a 2-column grid, 2 px gaps
    first = mosaic[:64, :64]
    green, magenta = _is(TRUE_COLOUR, first), _is(PREDICTED_COLOUR, first)
    gy, gx = np.nonzero(green)
    assert (gy.min(), gy.max(), gx.min(), gx.max()) == (8, 23, 8, 23)  # true square 4..11, zoomed 2x
    my, mx = np.nonzero(magenta)
    assert my.min() == 4 and my.max() == 55 and mx.min() == 36 and mx.max() == 59
    third = mosaic[66:, :64]
    assert _is(TRUE_COLOUR, third).any() and not _is(PREDICTED_COLOUR, third).any()  # no prediction drawn


def test_log_and_register_logs_a_file_artifact(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    picture = tmp_path / "preview.png"
    picture.write_bytes(instance_overlay_png([np.zeros((8, 8))], [np.ones((1, 8, 8), bool)], [np.zeros((0, 8, 8), bool)]))
    info = log_and_register(tracking_uri=uri, experiment="tests", model_name="any-model",
                            state_dict={"w": torch.zeros(2)}, config={}, params={}, metrics={},
                            artifacts={"previews/preview.png": picture})
    client = MlflowClient(tracking_uri=uri)
    assert [a.path for a in client.list_artifacts(info.run_id, "previews")] == ["previews/preview.png"]
    local = client.download_artifacts(info.run_id, "previews/preview.png", str(tmp_path / "dl"))
    assert Path(local).read_bytes() == picture.read_bytes()


def test_segmenter_training_run_logs_validation_overlay(tmp_path: Path) -> None:
    corpus = SEGMENTATION_CORPUS.replace(presets=("standard",), n_chips=2, n_frames=2)
    light = segmenter_profile("cpu").model_copy(update={"max_detections": 4})
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    info, _, _ = train_and_register(
        kind="locsnet", corpus=corpus, sampling=CorpusSampling(keep_empty=0.0), corpus_root=tmp_path / "corpus",
        tracking_uri=uri, artifact_location=(tmp_path / "artifacts").as_uri(),
        overrides={"profile": light, "epochs": 1, "batch_size": 4, "warmup_steps": 0, "time_budget_min": 0.02,
                   "eval_batch_size": 16})
    client = MlflowClient(tracking_uri=uri)
    assert OVERLAY_ARTIFACT in [a.path for a in client.list_artifacts(info.run_id, "previews")]
    mosaic = _png(Path(client.download_artifacts(info.run_id, OVERLAY_ARTIFACT, str(tmp_path / "dl"))).read_bytes())
    assert mosaic.shape[0] >= 96 * 3 and mosaic.shape[1] >= 96 * 3  # at least one zoomed 96 px crop
    assert _is(TRUE_COLOUR, mosaic).sum() > 100  # the true cells are outlined
