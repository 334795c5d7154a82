"""Cell instance segmentation: LOCSNET (paper section 2.2) and its Mask R-CNN baseline.

``config`` (profiles and recipes), ``model`` (``build_segmenter``), ``losses`` and
``postprocess`` (pure functions), ``data`` (samples from simulated chips and annotated
images), ``dataset`` (torch dataset), ``engine`` (training and evaluation,
``train_segmenter``), ``infer`` (``segment_crops``).
"""

from lftiming_ml.segmentation.config import (
    SEGMENTATION_CORPUS,
    CorpusSampling,
    SegmenterProfile,
    SegmenterTrainConfig,
    segmenter_profile,
    train_config,
)
from lftiming_ml.segmentation.engine import evaluate, segmenter_from_registry, train_segmenter
from lftiming_ml.segmentation.infer import Instances, segment_crops
from lftiming_ml.segmentation.model import build_segmenter

__all__ = [
    "Instances",
    "SEGMENTATION_CORPUS",
    "CorpusSampling",
    "SegmenterProfile",
    "SegmenterTrainConfig",
    "build_segmenter",
    "evaluate",
    "segment_crops",
    "segmenter_from_registry",
    "segmenter_profile",
    "train_config",
    "train_segmenter",
]
