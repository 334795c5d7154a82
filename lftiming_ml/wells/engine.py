"""Training recipe of the well detector: one epoch, evaluation, and the ``train_detector``
entry point the ``well_detector`` model asset calls.

Metrics (``match_wells``, ``well_detection_metrics``) live in ``lftiming_ml.metrics.wells``,
so the evaluation command can reuse them on the pipeline's output.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision.models.detection import FasterRCNN

from lftiming_ml.metrics.wells import well_detection_metrics
from lftiming_ml.models.training import pick_device, train_detection_epoch, warmup_cosine
from lftiming_ml.wells.dataset import FieldSample, WellDetectionDataset, collate_detection, load_field_samples
from lftiming_ml.wells.detector import build_well_detector, detect_wells_batch
from lftiming_ml.wells.detector_config import DetectorProfile, DetectorTrainConfig
from lftiming_ml.progress import progress

LogFn = Callable[[int, dict[str, float]], None]


# --- metrics -----------------------------------------------------------------------------

def evaluate(model: FasterRCNN, samples: Sequence[FieldSample], *, profile: DetectorProfile,
             iou_thresh: float = 0.5, device: torch.device | str | None = None) -> dict[str, float]:
    """``well_detection_metrics`` of ``model`` on ``samples`` (their own truth boxes and labels)."""
    detections = detect_wells_batch(model, [s.image for s in samples], profile=profile, device=device)
    return well_detection_metrics(detections, [s.boxes for s in samples], [s.occupied for s in samples],
                                  iou_thresh=iou_thresh)


# --- training ----------------------------------------------------------------------------

def train_detector(
    config: DetectorTrainConfig, *, train_dirs: Sequence[Path | str], val_dirs: Sequence[Path | str],
    log_fn: LogFn | None = None,
) -> tuple[FasterRCNN, list[dict[str, float]]]:
    """Train a well detector from scratch on simulated chips; the ``well_detector`` asset's entry point.

    ``train_dirs``/``val_dirs`` are simulated chip folders (with ``gt/``), split by chip.
    Returns the trained model (eval mode, on the training device) and the history: one dict
    per epoch with the mean losses, ``lr``, ``epoch_s`` and, after the last epoch, the
    validation metrics prefixed ``val_`` (``evaluate`` at ``config.val_frames``).
    ``log_fn(epoch, row)`` is called after every epoch (e.g. to log to Dagster or MLflow).
    """
    if not train_dirs:
        raise ValueError("train_detector needs at least one training chip")
    device = pick_device(config.device)
    if device.type == "cpu":
        torch.set_num_threads(config.num_threads)
    torch.manual_seed(config.seed)
    profile = config.profile
    train = [s for d in train_dirs for s in load_field_samples(d, config.frames)]
    val = [s for d in val_dirs for s in load_field_samples(d, config.val_frames)]
    dataset = WellDetectionDataset(train, profile, augment=config.augment, gain_sd=config.intensity_jitter,
                                   noise_sd=config.noise_sd, seed=config.seed)
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, collate_fn=collate_detection,
                        generator=torch.Generator().manual_seed(config.seed), drop_last=len(dataset) > config.batch_size)
    model = build_well_detector(profile=profile).to(device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  weight_decay=config.weight_decay)
    total = config.epochs * len(loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(
        s, total=total, warmup=config.warmup_steps, final_fraction=config.lr_final_fraction))
    history: list[dict[str, float]] = []
    for epoch in progress(range(config.epochs), desc="epochs", unit="epoch"):
        start = time.perf_counter()
        row: dict[str, float] = {"epoch": float(epoch), "lr": optimizer.param_groups[0]["lr"]}
        row.update(train_detection_epoch(model, optimizer, loader, device=device, scheduler=scheduler, what="detector",
                                   grad_clip_norm=config.grad_clip_norm))
        row["epoch_s"] = time.perf_counter() - start
        if epoch == config.epochs - 1 and val:
            metrics = evaluate(model, val, profile=profile, iou_thresh=config.iou_match, device=device)
            row.update({f"val_{k}": v for k, v in metrics.items()})
        history.append(row)
        if log_fn is not None:
            log_fn(epoch, row)
    model.eval()
    return model, history


