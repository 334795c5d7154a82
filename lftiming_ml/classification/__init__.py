"""Label-free cell type and apoptosis from phase contrast (paper sections 2.4, 2.5).

``config`` (profiles, recipes, labeller parameters), ``labels`` (labels from the
fluorescence channels of training chips), ``data`` (per-track patch + motion sequences from
simulated truth or from the pipeline's tracks), ``model`` (``build_classifier``: CNN-LSTM
and the frame-level CNN baseline), ``losses`` and ``postprocess`` (pure functions),
``engine`` (training and inference, ``train_classifier``), ``serving`` (MLflow
train-and-register, load-by-alias, the ``cell_types`` / ``cell_deaths`` tables). Scoring
against truth is ``lftiming_ml.evaluation.classification``.
"""

from lftiming_ml.classification.config import (
    CLASSIFICATION_CORPUS,
    ClassifierProfile,
    ClassifierTrainConfig,
    LabellerParams,
    classifier_profile,
    train_config,
)
from lftiming_ml.classification.engine import predict_tracks, train_classifier
from lftiming_ml.classification.model import build_classifier

__all__ = [
    "CLASSIFICATION_CORPUS",
    "ClassifierProfile",
    "ClassifierTrainConfig",
    "LabellerParams",
    "build_classifier",
    "classifier_profile",
    "predict_tracks",
    "train_classifier",
    "train_config",
]
