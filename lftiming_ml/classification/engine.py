"""Training recipe of the classifiers: clips, one epoch, inference over whole tracks, and
``train_classifier`` (the ``celltype_classifier`` / ``apoptosis_classifier`` assets' entry point).

Training draws one clip per track and epoch: ``profile.clip_frames`` entries of every
``profile.frame_step``-th frame (random phase of the step; for apoptosis, dying tracks'
clips contain the onset with probability ``death_oversample``). Inference runs the whole
track at the same frame step and fills the skipped frames by interpolation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lftiming_ml.classification.config import ClassifierKind, ClassifierProfile, ClassifierTask, ClassifierTrainConfig
from lftiming_ml.classification.sequences import TrackSequence
from lftiming_ml.classification.labels import UNLABELLED
from lftiming_ml.classification.losses import apoptosis_loss, smoothed_bce
from lftiming_ml.classification.model import CellSequenceClassifier, build_classifier
from lftiming_ml.classification.postprocess import death_frame, fill_skipped, majority_vote, monotone_probability, \
    subsample_index
from lftiming_ml.metrics.classification import binary_scores
from lftiming_ml.models.init import InitWeights, apply_init
from lftiming_ml.models.training import close_epoch, pick_device, warmup_cosine
from lftiming_ml.progress import progress

LogFn = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class Batch:
    """Padded clips: ``phase, mask (float32[B, L, P, P])``, ``motion (float32[B, L, 5])``,
    ``valid (bool[B, L])``, ``track_label (float32[B])``, ``frame_label (float32[B, L])``."""

    phase: torch.Tensor
    mask: torch.Tensor
    motion: torch.Tensor
    valid: torch.Tensor
    track_label: torch.Tensor
    frame_label: torch.Tensor

    def to(self, device: torch.device) -> Batch:
        return Batch(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))


def trainable_tracks(tracks: Sequence[TrackSequence], task: ClassifierTask) -> list[TrackSequence]:
    """Tracks with a label for ``task`` (type anchors; tracks with per-frame apoptosis labels)."""
    if task == "celltype":
        return [t for t in tracks if t.cell_type != UNLABELLED]
    return [t for t in tracks if t.apoptotic is not None and len(t) > 0]


def sample_clip(track: TrackSequence, *, clip_frames: int, frame_step: int, rng: np.random.Generator,
                onset_share: float = 0.0) -> np.ndarray:
    """Entries (``int64[<= clip_frames]``) of one training clip of ``track``."""
    n = len(track)
    start = int(rng.integers(0, min(frame_step, n)))
    idx = np.arange(start, n, frame_step)
    if len(idx) <= clip_frames:
        return idx
    hi = len(idx) - clip_frames
    first = int(rng.integers(0, hi + 1))
    if track.apoptotic is not None and track.apoptotic.any() and rng.random() < onset_share:
        onset = int(np.searchsorted(idx, int(np.flatnonzero(track.apoptotic)[0])))
        first = int(np.clip(onset - rng.integers(0, clip_frames), 0, hi))
    return idx[first:first + clip_frames]


def _augment(phase: np.ndarray, mask: np.ndarray, motion: np.ndarray, rng: np.random.Generator, gain_sd: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random flip/transpose of a whole clip (``phase, mask [L, P, P]``, motion headings
    follow: cos is x, sin is y) and a random gain on the phase."""
    motion = motion.copy()
    if rng.random() < 0.5:  # flip y
        phase, mask, motion[:, 2] = phase[:, ::-1], mask[:, ::-1], -motion[:, 2]
    if rng.random() < 0.5:  # flip x
        phase, mask, motion[:, 1] = phase[:, :, ::-1], mask[:, :, ::-1], -motion[:, 1]
    if rng.random() < 0.5:  # transpose
        phase, mask, motion[:, [1, 2]] = phase.transpose(0, 2, 1), mask.transpose(0, 2, 1), motion[:, [2, 1]]
    return phase * np.float32(np.exp(rng.normal(0, gain_sd))), mask, motion


def collate(tracks: Sequence[TrackSequence], entries: Sequence[np.ndarray], *, rng: np.random.Generator | None = None,
            gain_sd: float = 0.0) -> Batch:
    """Pad the ``entries`` of each track into a ``Batch`` (augmented when ``rng`` is given)."""
    length = max((len(e) for e in entries), default=0)
    b = len(tracks)
    p = tracks[0].phase.shape[-1] if tracks else 1
    phase = np.zeros((b, length, p, p), np.float32)
    mask = np.zeros((b, length, p, p), np.float32)
    motion = np.zeros((b, length, 5), np.float32)
    valid = np.zeros((b, length), bool)
    frame_label = np.zeros((b, length), np.float32)
    for i, (t, e) in enumerate(zip(tracks, entries, strict=True)):
        ph, mk, mo = t.phase[e].astype(np.float32), t.mask[e], t.motion[e]
        if rng is not None:
            ph, mk, mo = _augment(ph, mk, mo, rng, gain_sd)
        n = len(e)
        phase[i, :n], mask[i, :n], motion[i, :n], valid[i, :n] = ph, mk, mo, True
        if t.apoptotic is not None:
            frame_label[i, :n] = t.apoptotic[e]
    track_label = np.array([max(t.cell_type, 0) for t in tracks], np.float32)
    return Batch(*(torch.from_numpy(np.ascontiguousarray(a)) for a in
                   (phase, mask, motion, valid, track_label, frame_label)))


def batch_loss(model: CellSequenceClassifier, batch: Batch, config: ClassifierTrainConfig) -> dict[str, torch.Tensor]:
    """The loss terms of one batch for ``config.task`` and ``config.kind`` (key ``loss`` is optimised)."""
    frame, track = model(batch.phase, batch.mask, batch.motion, batch.valid)
    s = config.label_smoothing
    if config.task == "apoptosis":
        w = config.w_monotone if config.kind == "cnn_lstm" else 0.0
        return apoptosis_loss(frame, batch.frame_label, batch.valid, smoothing=s, w_monotone=w)
    if config.kind == "frame_cnn":  # every frame carries the track's label
        labels = batch.track_label[:, None].expand_as(frame)
        return {"loss": smoothed_bce(frame, labels, smoothing=s, valid=batch.valid)}
    return {"loss": smoothed_bce(track, batch.track_label, smoothing=s)}


@dataclass(frozen=True)
class TrackPrediction:
    """A classifier's output for one track. ``p_frame (float64[T])`` raw per-frame
    probability (every frame, skipped ones interpolated); ``p_track`` the track-level
    probability (cell type: CNN-LSTM's track output, frame CNN's mean frame probability;
    apoptosis: the last frame's monotone probability). ``p_monotone (float64[T])`` (the
    frame CNN: its raw probability, thresholded per frame) and ``death_frame`` (movie frame
    or None) for apoptosis; ``label`` the call (cell type:
    True = effector, the frame CNN by majority vote; apoptosis: dies). ``vote_share``: the
    frame CNN's cell type only, the share of (subsampled) frames voting effector."""

    p_frame: np.ndarray
    p_track: float
    label: bool
    p_monotone: np.ndarray | None = None
    death_frame: int | None = None
    vote_share: float | None = None


@torch.no_grad()
def predict_tracks(model: CellSequenceClassifier, tracks: Sequence[TrackSequence], *, task: ClassifierTask,
                   threshold: float = 0.5, batch_frames: int = 1024, device: str | torch.device | None = None
                   ) -> list[TrackPrediction]:
    """Run ``model`` over whole tracks (every ``profile.frame_step``-th frame) and turn the
    outputs into calls. Apoptosis: the CNN-LSTM's probability is made monotone (isotonic)
    and the death frame is where it first reaches ``threshold``; the frame CNN thresholds
    its raw per-frame probability (first frame at or above it)."""
    dev = next(model.parameters()).device if device is None else pick_device(device)
    model.to(dev).eval()
    step = model.profile.frame_step
    index = [subsample_index(len(t), step) for t in tracks]
    order = sorted(range(len(tracks)), key=lambda i: len(index[i]))
    raw: dict[int, tuple[np.ndarray, float]] = {}
    start = 0
    while start < len(order):
        stop = start + 1
        while stop < len(order) and len(index[order[stop]]) * (stop + 1 - start) <= batch_frames:
            stop += 1
        chunk = order[start:stop]
        batch = collate([tracks[i] for i in chunk], [index[i] for i in chunk]).to(dev)
        frame, track = model(batch.phase, batch.mask, batch.motion, batch.valid)
        pf, pt = torch.sigmoid(frame).cpu().numpy(), torch.sigmoid(track).cpu().numpy()
        for j, i in enumerate(chunk):
            raw[i] = (pf[j, :len(index[i])], float(pt[j]))
        start = stop
    out = []
    for i, t in enumerate(tracks):
        p_sub, p_track = raw[i]
        p = fill_skipped(p_sub, index[i], len(t))
        if task == "celltype":
            if model.kind == "frame_cnn":
                label, share = majority_vote(p_sub, threshold)
                out.append(TrackPrediction(p, float(p_sub.mean()) if len(p_sub) else 0.5, label, vote_share=share))
            else:
                out.append(TrackPrediction(p, p_track, p_track >= threshold))
            continue
        mono = fill_skipped(monotone_probability(p_sub), index[i], len(t)) if model.kind == "cnn_lstm" else p
        dies = death_frame(mono, t.frames, threshold)
        out.append(TrackPrediction(p, float(mono[-1]) if len(mono) else 0.0, dies is not None, mono, dies))
    return out


def score_predictions(tracks: Sequence[TrackSequence], preds: Sequence[TrackPrediction], *,
                      task: ClassifierTask) -> dict[str, float]:
    """Accuracy, sensitivity, ..., AUROC of ``preds`` against the tracks' (fluorescence) labels:
    per track for cell type, per frame for apoptosis (apoptotic = frame >= death frame)."""
    if task == "celltype":
        pairs = [(t.cell_type == 1, p.label, p.p_track) for t, p in zip(tracks, preds) if t.cell_type != UNLABELLED]
        y, yhat, s = (np.array(v) for v in zip(*pairs)) if pairs else (np.zeros(0, bool),) * 3
        return binary_scores(y.astype(bool), yhat.astype(bool), s.astype(float))
    y = np.concatenate([t.apoptotic.astype(bool) for t in tracks]) if tracks else np.zeros(0, bool)
    yhat = np.concatenate([t.frames >= (p.death_frame if p.death_frame is not None else np.inf)
                           for t, p in zip(tracks, preds)]) if tracks else np.zeros(0, bool)
    s = np.concatenate([p.p_monotone for p in preds]) if preds else np.zeros(0)
    return binary_scores(y, yhat, s)


INIT_INPUT_FIELDS = ("patch_size", "input_size", "frame_step", "phase_gain")
"""Profile fields a fine-tuning init must share with the run (``models.init.apply_init``)."""


def train_classifier(config: ClassifierTrainConfig, *, train_tracks: Sequence[TrackSequence],
                     val_tracks: Sequence[TrackSequence] = (), log_fn: LogFn | None = None,
                     init: InitWeights | None = None) -> tuple[CellSequenceClassifier, list[dict[str, float]]]:
    """Train a cell-type or apoptosis classifier (``config.task``, ``config.kind``) from
    scratch, or from ``init``'s weights (the same architecture and task, or
    ``models.init.InitMismatchError``).

    Returns the model (eval mode, on the training device) and the history: one dict per
    epoch with the mean loss terms, ``lr``, ``steps``, ``epoch_s`` and, with ``val_tracks``,
    ``val_accuracy``, ``val_auroc``, ... against their labels. Stops early when
    ``config.time_budget_min`` runs out (the last row says ``stopped_early``).
    """
    tracks = trainable_tracks(train_tracks, config.task)
    if not tracks:
        raise ValueError(f"no training track has a {config.task} label")
    val = trainable_tracks(val_tracks, config.task)
    device = pick_device(config.device)
    if device.type == "cpu":
        torch.set_num_threads(config.num_threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    profile = config.profile
    model = build_classifier(profile=profile, kind=config.kind)
    if init is not None:
        apply_init(model, init, config=registry_config(config), input_fields=INIT_INPUT_FIELDS,
                   what=f"{config.task} classifier")
    model = model.to(device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  weight_decay=config.weight_decay)
    pool = np.repeat(np.arange(len(tracks)), [config.late_start_repeat if t.frames[0] > 0 else 1 for t in tracks])
    steps_per_epoch = -(-len(pool) // config.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(
        s, total=config.epochs * steps_per_epoch, warmup=config.warmup_steps, final_fraction=config.lr_final_fraction))
    onset_share = config.death_oversample if config.task == "apoptosis" else 0.0
    deadline = time.perf_counter() + 60 * config.time_budget_min if config.time_budget_min else None
    history: list[dict[str, float]] = []
    for epoch in progress(range(config.epochs), desc="epochs", unit="epoch"):
        start = time.perf_counter()
        model.train()
        sums: dict[str, float] = {}
        n = 0
        order = rng.permutation(pool)
        for b in range(0, len(order), config.batch_size):
            chunk = [tracks[i] for i in order[b:b + config.batch_size]]
            entries = [sample_clip(t, clip_frames=profile.clip_frames, frame_step=profile.frame_step, rng=rng,
                                   onset_share=onset_share) for t in chunk]
            batch = collate(chunk, entries, rng=rng if config.augment else None, gain_sd=config.gain_jitter)
            losses = batch_loss(model, batch.to(device), config)
            if not torch.isfinite(losses["loss"]):
                raise FloatingPointError(f"non-finite classifier loss {({k: float(v) for k, v in losses.items()})}")
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
            optimizer.step()
            scheduler.step()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            n += 1
            if deadline is not None and time.perf_counter() > deadline:
                break
        row = {"epoch": float(epoch), "lr": optimizer.param_groups[0]["lr"], "steps": float(n),
               **{k: v / max(n, 1) for k, v in sums.items()}}
        row["epoch_s"] = time.perf_counter() - start
        if val:
            preds = predict_tracks(model, val, task=config.task, threshold=config.death_threshold,
                                   batch_frames=config.eval_batch_frames)
            row.update({f"val_{k}": v for k, v in score_predictions(val, preds, task=config.task).items()})
        if close_epoch(row, history, epoch=epoch, epochs=config.epochs, deadline=deadline, log_fn=log_fn):
            break
    model.eval()
    return model, history


def chip_folds(chip_ids: Sequence[str], n_folds: int) -> list[list[str]]:
    """``n_folds`` groups of chips (round-robin over the sorted ids): split by chip, never by
    frame or track. Raises ValueError with fewer chips than folds."""
    chips = sorted(set(chip_ids))
    if n_folds < 2 or len(chips) < n_folds:
        raise ValueError(f"{n_folds}-fold cross-validation needs at least {max(n_folds, 2)} chips, got {len(chips)}")
    return [chips[k::n_folds] for k in range(n_folds)]


def cross_validate(config: ClassifierTrainConfig, tracks: Sequence[TrackSequence], *, n_folds: int = 5,
                   log_fn: Callable[[int, dict[str, float]], None] | None = None,
                   extra_scores: Callable[[CellSequenceClassifier, Sequence[TrackSequence]], Mapping[str, float]]
                   | None = None, init: InitWeights | None = None) -> list[dict[str, float]]:
    """K-fold cross-validation grouped by chip (``meta['chip_id']``): per fold, train on the
    other chips' tracks and score the held-out chips' (last epoch's ``val_*`` row, plus
    ``extra_scores(model, held_out_tracks)`` when given, e.g. scores against the truth).
    Returns one dict per fold (with ``fold`` and ``n_val_tracks``); ``log_fn(fold, row)``."""
    folds = chip_folds([t.meta["chip_id"] for t in tracks], n_folds)
    out = []
    for k, held in enumerate(folds):
        held_set = set(held)
        train = [t for t in tracks if t.meta["chip_id"] not in held_set]
        val = [t for t in tracks if t.meta["chip_id"] in held_set]
        model, history = train_classifier(config, train_tracks=train, val_tracks=val, init=init)
        row = {"fold": float(k), "n_val_tracks": float(len(trainable_tracks(val, config.task))),
               **{key: v for key, v in history[-1].items() if key.startswith("val_")}}
        if extra_scores is not None:
            row.update({key: float(v) for key, v in extra_scores(model, val).items()})
        out.append(row)
        if log_fn is not None:
            log_fn(k, row)
    return out


def registry_config(config: ClassifierTrainConfig) -> dict[str, object]:
    """What ``models.registry.log_and_register`` stores as ``config.json``: enough to rebuild the model."""
    return {"model": config.kind, "kind": config.kind, "task": config.task,
            "death_threshold": config.death_threshold, "profile": config.profile.model_dump(mode="json"),
            "train": config.model_dump(mode="json", exclude={"profile"})}


def classifier_from_registry(state_dict: Mapping[str, torch.Tensor], config: Mapping[str, object]
                             ) -> CellSequenceClassifier:
    """Rebuild a saved/registered classifier (``load_by_alias`` output) in eval mode on the CPU."""
    profile = ClassifierProfile.model_validate(config["profile"])
    kind: ClassifierKind = config["kind"]  # type: ignore[assignment]
    model = build_classifier(profile=profile, kind=kind)
    model.load_state_dict(dict(state_dict))
    return model.eval()


__all__ = ["Batch", "TrackPrediction", "batch_loss", "chip_folds", "classifier_from_registry", "collate",
           "cross_validate", "predict_tracks",
           "registry_config", "sample_clip", "score_predictions", "train_classifier", "trainable_tracks"]
