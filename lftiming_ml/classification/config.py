"""Label-free cell-type and apoptosis classifiers (paper sections 2.4, 2.5): parameters.

Sizes are px of the *well crop* (canonical 0.65 um/px, the simulator's and the well movies'
pixel) unless a name says ``input`` (px of the network input). Two named profiles: ``cpu``
(ResNet-18 on 32 px patches of every 2nd frame, minutes on 2 cores, used by the demo) and
``paper`` (ResNet-18 on 224 px inputs, 64-frame clips of every frame, for a GPU). Same
code, different numbers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lftiming_ml.corpus import CorpusConfig

ClassifierTask = Literal["celltype", "apoptosis"]
ClassifierKind = Literal["cnn_lstm", "frame_cnn"]
ClassifierProfileName = Literal["cpu", "paper"]
Backbone = Literal["resnet18", "resnet34", "resnet50"]
TRAINING_SEED_START = 40_000  # simulated chips for classifier training; < 1000 are benchmarks'


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClassifierProfile(_Strict):
    """Architecture and input preparation of the CNN-LSTM (and of its frame-level CNN baseline)."""

    name: str = Field("cpu", description="Profile name, logged with the model.")
    backbone: Backbone = Field("resnet18", description="torchvision ResNet trunk, built with weights=None, conv1 widened to 4 input channels.")
    frozen_stages: int = Field(1, ge=0, le=5, description="Early trunk stages whose weights are frozen (0 none, 1 the stem conv1/bn1, 2 + layer1, ...). Without pretrained weights the frozen stem is a fixed random filter bank; it regularises and saves backward time.")
    patch_size: int = Field(32, ge=8, description="Side of the square window (crop px) centred on the cell's centroid; cells are 11-18 px across.")
    input_size: int = Field(32, ge=8, description="Patches are resampled to this side (input px) before the network (the paper: 224).")
    frame_step: int = Field(2, ge=1, description="Use every frame_step-th frame of a track (training and inference); neighbouring 5-min frames are near duplicates.")
    clip_frames: int = Field(16, ge=1, description="Frames (after frame_step) per training clip; inference runs the whole track.")
    embed_dim: int = Field(64, ge=4, description="Per-frame CNN embedding width (a linear projection of the trunk's pooled features).")
    hidden_dim: int = Field(64, ge=4, description="LSTM hidden size (per direction).")
    lstm_layers: int = Field(1, ge=1, description="Stacked LSTM layers.")
    bidirectional: bool = Field(True, description="Bidirectional LSTM (a frame's apoptosis call may use the frames after it, as Annexin V onset does).")
    dropout: float = Field(0.5, ge=0, lt=1, description="Dropout before the fully connected head (the paper: 0.5).")
    phase_gain: float = Field(4.0, gt=0, description="Phase patches are (intensity / median of the well frame - 1) x phase_gain.")


class LabellerParams(_Strict):
    """Labels from fluorescence (paper 2.4, 2.5): dye and Annexin V signal inside each cell's mask.

    A channel's signal at a cell-frame is the mean of its exclusive mask pixels (not shared
    with another cell) minus the median of the frame's cell-free pixels, in units of those
    pixels' robust sd (1.4826 x MAD), i.e. a z-score of the excess over background.
    """

    dye_z: float = Field(10.0, gt=0, description="A frame is dye-positive when that dye's z-score reaches this.")
    dye_ratio: float = Field(3.0, ge=1, description="... and exceeds the other dye's excess by this factor.")
    min_anchor_frames: int = Field(5, ge=1, description="A track becomes a type anchor with at least this many positive frames of one dye ...")
    min_anchor_fraction: float = Field(0.8, gt=0.5, le=1, description="... that make up at least this fraction of its dye-positive frames; other tracks stay unlabelled.")
    annexin_z: float = Field(9.0, gt=0, description="A frame is Annexin-V-positive when the death marker's z-score reaches this.")
    annexin_run: int = Field(3, ge=1, description="Apoptosis onset = first frame of the first run of this many consecutive positive frames.")
    min_exclusive_px: int = Field(10, ge=1, description="Cell-frames with fewer exclusive mask px are undecided (hidden under another cell).")


class ClassifierTrainConfig(_Strict):
    """The training recipe of ``train_classifier`` (paper 3.3: label smoothing 0.1, AdamW,
    cosine schedule, dropout 0.5 in the head, frozen early layers; 3.4 adds the monotonicity term)."""

    task: ClassifierTask = Field("celltype", description="'celltype' (one label per track) or 'apoptosis' (one per frame).")
    kind: ClassifierKind = Field("cnn_lstm", description="'cnn_lstm' or the 'frame_cnn' baseline (same trunk, no motion, no LSTM).")
    profile: ClassifierProfile = Field(default_factory=ClassifierProfile, description="Model profile to build and train.")
    epochs: int = Field(6, ge=1, description="Passes over the training tracks (one random clip per track and pass).")
    batch_size: int = Field(16, ge=1, description="Clips per optimisation step.")
    lr: float = Field(1e-3, gt=0, description="Peak AdamW learning rate (cosine decay to lr_final_fraction x lr).")
    lr_final_fraction: float = Field(0.05, ge=0, le=1, description="Learning rate at the end, as a fraction of lr.")
    warmup_steps: int = Field(20, ge=0, description="Linear learning-rate warm-up steps.")
    weight_decay: float = Field(1e-2, ge=0, description="AdamW weight decay.")
    grad_clip_norm: float = Field(5.0, gt=0, description="Global gradient-norm clip.")
    label_smoothing: float = Field(0.1, ge=0, lt=0.5, description="Binary targets become y (1 - s) + s / 2.")
    w_monotone: float = Field(1.0, ge=0, description="Weight of the penalty on decreases of the apoptotic probability over time (apoptosis, cnn_lstm).")
    death_oversample: float = Field(0.7, ge=0, le=1, description="Apoptosis: share of clips of dying tracks placed to contain the onset.")
    late_start_repeat: int = Field(1, ge=1, description="Tracks that start after the movie's first frame (daughters of a mitosis, cells entering) are drawn this many times per epoch: they are rare, short, and target daughters are effector-sized.")
    death_threshold: float = Field(0.5, gt=0, lt=1, description="Death frame = first frame whose monotone apoptotic probability reaches this (the value before calibration).")
    calibrate_death_threshold: bool = Field(True, description="Apoptosis: after training, replace death_threshold by the value of death_threshold_grid whose death calls are right on the most labelled frames of the calibration tracks (offline.calibration_tracks: the curated labels' validation tracks, else their training tracks, else the simulated validation tracks).")
    death_threshold_grid: tuple[float, ...] = Field(tuple(round(0.3 + 0.05 * k, 2) for k in range(13)), min_length=1, description="Candidate death thresholds of the calibration (0.30, 0.35, ..., 0.90).")
    calibration_min_tracks: int = Field(5, ge=1, description="A calibration set needs at least this many labelled tracks that die and as many that do not; else the next set is tried, and with none the threshold stays.")
    augment: bool = Field(True, description="Random flips/transposes of whole clips (motion directions follow) and intensity gain jitter.")
    gain_jitter: float = Field(0.1, ge=0, description="Sd of the log-scale random gain on phase patches.")
    time_budget_min: float | None = Field(None, gt=0, description="Stop after the step that exceeds this wall time (minutes); None = run all epochs.")
    eval_batch_frames: int = Field(1024, ge=1, description="Frames per forward pass in inference.")
    seed: int = Field(0, description="Seed of initialisation, clip sampling and augmentation.")
    num_threads: int = Field(2, ge=1, description="torch CPU threads (ignored on GPU).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="'auto' picks cuda when available.")

    @field_validator("death_threshold_grid")
    @classmethod
    def _probabilities(cls, grid: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < v < 1 for v in grid):
            raise ValueError(f"death thresholds must lie in (0, 1), got {grid}")
        return grid


CLASSIFICATION_CORPUS = CorpusConfig(
    chip_id="cls-{preset}-s{seed}{mitosis}", n_chips=4, first_seed=TRAINING_SEED_START, seed_floor=TRAINING_SEED_START,
    n_fields=1, n_frames=72, target_mitosis_prob=0.25)
"""Simulated chips whose tracks (truth tracks and masks, labels from fluorescence) train the
classifiers and the re-identification embedding. Whole 72-frame movies: apoptosis needs the
onset inside the movie. Targets divide with probability 0.25 instead of the presets' 3-6%:
daughters are effector-sized and short-lived, a failure mode a corpus must show often enough."""


PROFILES: dict[str, ClassifierProfile] = {
    "cpu": ClassifierProfile(),
    "paper": ClassifierProfile(name="paper", patch_size=48, input_size=224, frame_step=1, clip_frames=64,
                               embed_dim=256, hidden_dim=128, frozen_stages=2),
}


def classifier_profile(name: ClassifierProfileName = "cpu") -> ClassifierProfile:
    """The named profile (``cpu`` or ``paper``)."""
    if name not in PROFILES:
        raise ValueError(f"unknown classifier profile {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[name]


def train_config(name: ClassifierProfileName = "cpu", *, task: ClassifierTask, kind: ClassifierKind = "cnn_lstm",
                 **overrides: object) -> ClassifierTrainConfig:
    """Training recipe for a named profile, task and kind; ``overrides`` (epochs, lr, ...) win.

    The ``paper`` recipe trains longer with the paper's learning rate (3e-4; the paper's
    "3" lost its exponent) and larger batches (a GPU is assumed).
    """
    base: dict[str, object] = {"profile": classifier_profile(name), "task": task, "kind": kind}
    if name == "paper":
        base.update(epochs=30, batch_size=32, lr=3e-4, warmup_steps=100)
    base.update(overrides)
    return ClassifierTrainConfig(**base)
