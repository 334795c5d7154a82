"""Stand-ins for the asset resources: a model registry of tiny deterministic models (no
MLflow) and chip tables that count their DuckDB view refreshes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import torch

from lftiming_assets.resources import ChipTables, ModelRegistry
from lftiming_ml.classification.config import ClassifierProfile, ClassifierTask
from lftiming_ml.classification.model import build_classifier
from lftiming_ml.classification.serving import MODEL_NAMES as CLASSIFIER_NAMES
from lftiming_ml.classification.serving import Classifier, as_classifier
from lftiming_ml.models.registry import ModelVersionInfo
from lftiming_ml.segmentation.config import SegmenterKind, segmenter_profile
from lftiming_ml.segmentation.model import build_segmenter
from lftiming_ml.segmentation.serving import MODEL_NAMES as SEGMENTER_NAMES
from lftiming_ml.segmentation.serving import SegmentFn, segment_fn
from lftiming_ml.reid.config import MODEL_NAME as REID_NAME
from lftiming_ml.reid.config import reid_profile
from lftiming_ml.reid.model import ReidNet
from lftiming_ml.wells.grid import DetectFn
from lftiming_ml.wells.detector_config import MODEL_NAME as DETECTOR_NAME
from tests.truth_detect import truth_detector

TINY_CLASSIFIER = ClassifierProfile(patch_size=16, input_size=16, frame_step=2, clip_frames=4, embed_dim=8,
                                    hidden_dim=8)


@lru_cache(maxsize=2)
def _fake_segment_fn(kind: SegmenterKind) -> SegmentFn:
    torch.manual_seed(0)
    # float32: random weights and a 0.05 mask threshold make pixels flip with bfloat16's
    # thread-count-dependent rounding, and the tests compare runs in 1 and 2 processes.
    profile = segmenter_profile("cpu").model_copy(update={"score_thresh": 0.0, "mask_thresh": 0.05,
                                                          "max_detections": 4, "precision": "float32"})
    model = build_segmenter(kind=kind, profile=profile)
    return segment_fn(model, profile, device="cpu", batch_size=16)


def _fake_reid(_: str = "") -> ReidNet:
    net = ReidNet(reid_profile("cpu", channels=(4,), embedding_dim=4))
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.fill_(1.0)
    return net.eval()


@lru_cache(maxsize=2)
def _fake_classifier(task: ClassifierTask) -> Classifier:
    torch.manual_seed(0)
    return as_classifier(build_classifier(profile=TINY_CLASSIFIER, kind="cnn_lstm"), task=task, device="cpu")


@dataclass(frozen=True)
class FakeSource:
    """A fake model as a picklable source (``models.sources``): ``build(arg)`` (a module-level
    builder) runs in whichever process calls it, so worker processes build their own copy."""

    build: Callable[[str], object]
    arg: str
    identity: str
    in_process_only = False

    def __call__(self) -> object:
        return self.build(self.arg)


def FakeSegmenter(kind: SegmenterKind = "locsnet") -> FakeSource:  # noqa: N802 - reads as the model it stands for
    """An untrained cpu LOCSNET (seed 0) with thresholds low enough that it returns instances."""
    return FakeSource(_fake_segment_fn, kind, f"fake untrained {kind} (seed 0)")


class FakeRegistry(ModelRegistry):
    """The registry's loaders without MLflow: each returns a small model and a
    ``ModelVersionInfo`` whose version is ``versions[model name]`` (default 1).

    - well detector: the true frame-0 wells of ``chip_dir`` (``tests.truth_detect``);
    - segmenter: an untrained cpu LOCSNET with thresholds low enough that it returns instances;
    - re-ID: an embedding mapping every patch to one unit vector (appearance term 0);
    - classifiers: untrained tiny CNN-LSTMs through the real ``Classifier`` path.
    """

    tracking_uri: str = "fake://no-mlflow"
    chip_dir: str = ""
    versions: dict[str, int] = {}

    def resolve(self, model_name: str) -> ModelVersionInfo:
        return ModelVersionInfo(model_name, self.versions.get(model_name, 1), "fake-run", self.alias)

    def well_detector(self) -> tuple[DetectFn, ModelVersionInfo]:
        return truth_detector(Path(self.chip_dir)), self.resolve(DETECTOR_NAME)

    def segmenter(self, kind: SegmenterKind = "locsnet") -> tuple[FakeSource, ModelVersionInfo]:
        return FakeSegmenter(kind), self.resolve(SEGMENTER_NAMES[kind])

    def reid(self) -> tuple[FakeSource, ModelVersionInfo]:
        return FakeSource(_fake_reid, "", "fake constant re-id embedding"), self.resolve(REID_NAME)

    def classifier(self, task: ClassifierTask) -> tuple[FakeSource, ModelVersionInfo]:
        return (FakeSource(_fake_classifier, task, f"fake untrained {task} CNN-LSTM (seed 0)"),
                self.resolve(CLASSIFIER_NAMES[(task, "cnn_lstm")]))


class CountingChipTables(ChipTables):
    """``ChipTables`` that records each view refresh (the class list ``refreshes``: one entry
    per refresh, the tables written since the previous one)."""

    refreshes: ClassVar[list[list[str]]] = []
    written: ClassVar[list[str]] = []

    def write(self, chip_id, tables):  # type: ignore[override]
        CountingChipTables.written.extend(tables)
        return super().write(chip_id, tables)

    def refresh_views(self) -> list[str]:
        CountingChipTables.refreshes.append(list(CountingChipTables.written))
        CountingChipTables.written.clear()
        return super().refresh_views()
