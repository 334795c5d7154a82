"""Training recipe of LOCSNET and the Mask R-CNN baseline: one epoch, evaluation, and the
``train_segmenter`` entry point the ``locsnet`` / ``mask_rcnn_baseline`` assets call.

Samples are ``data.SegmentationSample``s (simulated well crops or tiled annotations); split
train/validation by chip, never by frame. Evaluation scores ``infer.segment_crops`` output
with ``metrics.segmentation`` (mIoU per frame, AP50, missed/extra, per stratum).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import pandas as pd
import torch
from torch.utils.data import DataLoader
from torchvision.models.detection import MaskRCNN

from lftiming_ml.metrics.segmentation import frame_scores, summarize_segmentation
from lftiming_ml.segmentation.config import INIT_INPUT_FIELDS, MODEL_NAMES, SegmenterProfile, SegmenterTrainConfig
from lftiming_ml.segmentation.data import SegmentationSample
from lftiming_ml.segmentation.dataset import SegmentationDataset, collate_segmentation, reseed_worker
from lftiming_ml.segmentation.infer import segment_crops
from lftiming_ml.models.init import InitWeights, apply_init
from lftiming_ml.models.training import StepFn, close_epoch, pick_device, train_detection_epoch, warmup_cosine
from lftiming_ml.segmentation.losses import composite_loss
from lftiming_ml.segmentation.model import build_segmenter, registry_config
from lftiming_ml.progress import progress

LogFn = Callable[[int, dict[str, float]], None]


def score_predictions(samples: Sequence[SegmentationSample], predictions: Sequence) -> pd.DataFrame:
    """One row per sample: its meta (chip, well, frame, stratum, contact_rich ...) and the
    ``metrics.segmentation.FrameScores`` of ``predictions`` (``infer.Instances``) against it."""
    rows = []
    for s, pred in zip(samples, predictions, strict=True):
        fs = frame_scores(pred.masks, s.masks, pred.scores)
        meta = s.meta
        well = (f"{meta['chip']}/{meta['field_id']}/r{meta['row']}c{meta['col']}" if "chip" in meta
                else str(meta.get("source", "")))
        rows.append({**{k: v for k, v in meta.items() if not isinstance(v, tuple)}, "well": well,
                     "stratum": meta.get("stratum", "other"), "contact_rich": bool(meta.get("contact_rich", False)),
                     "miou": fs.miou, "n_gt": fs.n_gt, "n_pred": fs.n_pred, "n_matched": fs.n_matched,
                     "n_missed": fs.n_missed, "n_extra": fs.n_extra, "pred_tp": fs.pred_tp,
                     "pred_scores": fs.pred_scores})
    return pd.DataFrame(rows)


def evaluate(model: MaskRCNN, samples: Sequence[SegmentationSample], *, profile: SegmenterProfile,
             device: str | torch.device | None = None, batch_size: int = 32, n_resamples: int = 2000,
             ) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """Segment ``samples`` and score them: ``(frame table, summary)`` where the summary is
    ``summarize_segmentation`` plus ``summary['speed'] = {'frames_per_s', 'seconds'}``."""
    start = time.perf_counter()
    preds = segment_crops(model, [s.image for s in samples], profile=profile, device=device, batch_size=batch_size)
    seconds = time.perf_counter() - start
    frames = score_predictions(samples, preds)
    summary = summarize_segmentation(frames, n_resamples=n_resamples) if len(frames) else {}
    summary["speed"] = {"frames_per_s": len(samples) / max(seconds, 1e-9), "seconds": seconds}
    return frames, summary


def flat_metrics(summary: Mapping[str, Mapping[str, float]], prefix: str = "val_") -> dict[str, float]:
    """``{'overall': {'miou_mean': ..}, '1E1T': ..}`` -> ``{'val_miou', 'val_ap50', 'val_miou_1E1T', ...}``."""
    out: dict[str, float] = {}
    for group, m in summary.items():
        if group == "speed":
            out[f"{prefix}frames_per_s"] = float(m["frames_per_s"])
            continue
        tag = "" if group == "overall" else "_" + group.replace(">4 cells", "gt4").replace("-", "_")
        out[f"{prefix}miou{tag}"] = float(m["miou_mean"])
        if group == "overall":
            out.update({f"{prefix}ap50": float(m["ap50"]), f"{prefix}missed_rate": float(m["missed_rate"]),
                        f"{prefix}extra_per_frame": float(m["extra_per_frame"])})
    return out


def train_segmenter(
    config: SegmenterTrainConfig, *, train_samples: Sequence[SegmentationSample],
    val_samples: Sequence[SegmentationSample] = (), log_fn: LogFn | None = None, step_fn: StepFn | None = None,
    init: InitWeights | None = None, init_allow: Sequence[str] = (),
) -> tuple[MaskRCNN, list[dict[str, float]]]:
    """Train LOCSNET or Mask R-CNN (``config.kind``) from scratch, or from ``init``'s weights
    (``models.init.apply_init``: the same architecture or ``InitMismatchError``); the model
    assets' entry point. ``init_allow`` names input fields (of ``INIT_INPUT_FIELDS``) the run
    changes on purpose, e.g. ``("input_scale",)`` (``models.init.input_changes`` to record them).

    Returns the model (eval mode, on the training device) and the history: one dict per
    epoch with the mean loss terms, ``lr``, ``steps``, ``epoch_s`` and the validation
    metrics (``flat_metrics`` of ``evaluate`` on ``val_samples``, if any). ``log_fn(epoch,
    row)`` is called after every epoch, ``step_fn(global_step, losses)`` after every step.
    Stops early when ``config.time_budget_min`` runs out (the last row says ``stopped_early``).
    """
    if not train_samples:
        raise ValueError("train_segmenter needs at least one training sample")
    device = pick_device(config.device)
    if device.type == "cpu":
        torch.set_num_threads(config.num_threads)
    torch.manual_seed(config.seed)
    profile = config.profile
    dataset = SegmentationDataset(train_samples, profile, augment=config.augment, gain_sd=config.intensity_jitter,
                                  noise_sd=config.noise_sd, seed=config.seed)
    # no pin_memory: the network input is an expanded (stride-0) view, which cannot be pinned
    # (RuntimeError in the pin-memory thread, seen on an H200)
    workers = {"num_workers": config.loader_workers, "persistent_workers": True,
               "worker_init_fn": reseed_worker} if config.loader_workers else {}
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, collate_fn=collate_segmentation,
                        generator=torch.Generator().manual_seed(config.seed),
                        drop_last=len(dataset) > config.batch_size, **workers)
    model = build_segmenter(kind=config.kind, profile=profile, num_classes=config.num_classes)
    if init is not None:
        apply_init(model, init, config=registry_config(config), input_fields=INIT_INPUT_FIELDS,
                   allow_changed=init_allow, what=MODEL_NAMES[config.kind])
    model = model.to(device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  weight_decay=config.weight_decay)
    total = config.epochs * len(loader)
    started = time.perf_counter()
    budget_s = 60 * config.time_budget_min if config.time_budget_min else None
    deadline = started + budget_s if budget_s else None

    def time_spent() -> float | None:
        return (time.perf_counter() - started) / budget_s if config.lr_schedule == "time" else None

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(
        s, total=total, warmup=config.warmup_steps, final_fraction=config.lr_final_fraction,
        progress=time_spent()))
    weights = config.loss_weights()
    history: list[dict[str, float]] = []
    global_step = 0
    for epoch in progress(range(config.epochs), desc="epochs", unit="epoch"):
        start = time.perf_counter()
        row: dict[str, float] = {"epoch": float(epoch), "lr": optimizer.param_groups[0]["lr"]}

        def on_step(i: int, losses: dict[str, float], _base: int = global_step) -> None:
            if step_fn is not None:
                step_fn(_base + i, losses)

        row.update(train_detection_epoch(
            model, optimizer, loader, device=device, combine=lambda ls: composite_loss(ls, weights),
            what="segmenter", scheduler=scheduler, grad_clip_norm=config.grad_clip_norm,
            deadline=deadline, step_fn=on_step))
        global_step += int(row["steps"])
        row["epoch_s"] = time.perf_counter() - start
        if val_samples:
            _, summary = evaluate(model, val_samples, profile=profile, device=device,
                                  batch_size=config.eval_batch_size, n_resamples=200)
            row.update(flat_metrics(summary))
        if close_epoch(row, history, epoch=epoch, epochs=config.epochs, deadline=deadline, log_fn=log_fn):
            break
    model.eval()
    return model, history


def save_weights(model: MaskRCNN, path) -> None:
    """``torch.save`` of the plain ``state_dict`` (CPU tensors), loadable with ``weights_only=True``."""
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)


def load_weights(path) -> dict[str, torch.Tensor]:
    """``torch.load(path, weights_only=True)`` onto the CPU."""
    return torch.load(path, map_location="cpu", weights_only=True)


__all__ = ["evaluate", "flat_metrics", "load_weights", "save_weights", "score_predictions", "train_segmenter"]
