"""Training recipe of the well detector: one epoch, evaluation, and the ``train_detector``
entry point the ``well_detector`` model asset calls.

Metrics (``match_wells``, ``well_detection_metrics``) live in ``lftiming_ml.metrics.wells``,
so the evaluation command can reuse them on the pipeline's output.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch
from torch.utils.data import DataLoader
from torchvision.models.detection import FasterRCNN

from lftiming_ml.metrics.wells import well_detection_metrics
from lftiming_ml.models.init import InitWeights, apply_init
from lftiming_ml.models.training import pick_device, train_detection_epoch, warmup_cosine
from lftiming_ml.wells.dataset import FieldSample, WellDetectionDataset, collate_detection
from lftiming_ml.wells.detector import build_well_detector, detect_wells_batch, registry_config
from lftiming_ml.wells.detector_config import MODEL_NAME, DetectorProfile, DetectorTrainConfig
from lftiming_ml.progress import progress

INIT_INPUT_FIELDS = ("input_scale", "um_per_px", "intensity_percentiles", "intensity_clip")
"""Profile fields that define what the network sees: a fine-tune keeps the init's."""

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
    config: DetectorTrainConfig, *, train_samples: Sequence[FieldSample], val_samples: Sequence[FieldSample],
    log_fn: LogFn | None = None, init: InitWeights | None = None,
) -> tuple[FasterRCNN, list[dict[str, float]]]:
    """Train a well detector from scratch, or from ``init``'s weights (``models.init.apply_init``:
    the same architecture and input scaling or ``InitMismatchError``), on field samples
    (``dataset.load_field_samples`` of simulated chips, ``annotated.grid_label_samples`` of a
    lab's labelled fields); the ``well_detector`` asset's entry point.

    Returns the trained model (eval mode, on the training device) and the history: one dict
    per epoch with the mean losses, ``lr``, ``epoch_s`` and, after the last epoch (or the
    one ``config.time_budget_min`` ends), the validation metrics prefixed ``val_``.
    ``log_fn(epoch, row)`` is called after every epoch (e.g. to log to Dagster or MLflow).
    """
    if not train_samples:
        raise ValueError("train_detector needs at least one training sample")
    device = pick_device(config.device)
    if device.type == "cpu":
        torch.set_num_threads(config.num_threads)
    torch.manual_seed(config.seed)
    profile = config.profile
    dataset = WellDetectionDataset(list(train_samples), profile, augment=config.augment,
                                   gain_sd=config.intensity_jitter, noise_sd=config.noise_sd, seed=config.seed)
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, collate_fn=collate_detection,
                        generator=torch.Generator().manual_seed(config.seed), drop_last=len(dataset) > config.batch_size)
    model = build_well_detector(profile=profile).to(device)
    if init is not None:
        # the init's profile as it rebuilds (fields added since it was trained take their defaults)
        theirs = DetectorProfile.model_validate(init.config.get("profile") or {}).model_dump(mode="json")
        init = replace(init, config={**init.config, "profile": theirs})
        apply_init(model, init, config=registry_config(config), input_fields=INIT_INPUT_FIELDS, what=MODEL_NAME)
        model.to(device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  weight_decay=config.weight_decay)
    total = config.epochs * len(loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(
        s, total=total, warmup=config.warmup_steps, final_fraction=config.lr_final_fraction))
    deadline = None if config.time_budget_min is None else time.perf_counter() + 60 * config.time_budget_min
    history: list[dict[str, float]] = []
    for epoch in progress(range(config.epochs), desc="epochs", unit="epoch"):
        start = time.perf_counter()
        row: dict[str, float] = {"epoch": float(epoch), "lr": optimizer.param_groups[0]["lr"]}
        row.update(train_detection_epoch(model, optimizer, loader, device=device, scheduler=scheduler, what="detector",
                                         grad_clip_norm=config.grad_clip_norm, deadline=deadline))
        row["epoch_s"] = time.perf_counter() - start
        last = epoch == config.epochs - 1 or (deadline is not None and time.perf_counter() > deadline)
        if last and val_samples:
            metrics = evaluate(model, val_samples, profile=profile, iou_thresh=config.iou_match, device=device)
            row.update({f"val_{k}": v for k, v in metrics.items()})
        history.append(row)
        if log_fn is not None:
            log_fn(epoch, row)
        if last:
            break
    model.eval()
    return model, history
