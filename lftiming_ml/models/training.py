"""Training loop pieces shared by every torchvision detection model here (well detector,
LOCSNET / Mask R-CNN): the device choice, the learning-rate schedule and one epoch of
optimisation."""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Mapping

import torch
from torch.utils.data import DataLoader

StepFn = Callable[[int, dict[str, float]], None]
CombineFn = Callable[[Mapping[str, torch.Tensor]], torch.Tensor]


def pick_device(device: str | torch.device | None = "auto") -> torch.device:
    """``'auto'``/None -> cuda when available, else cpu; anything else is taken as given."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def device_description(device: torch.device) -> str:
    """What trained the model, for the run's params (e.g. 'cuda: NVIDIA H200' or 'cpu: x86_64, 2 threads')."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.machine()}, {torch.get_num_threads()} threads"


def warmup_cosine(step: int, *, total: int, warmup: int, final_fraction: float,
                  progress: float | None = None) -> float:
    """Learning-rate multiplier: linear warm-up over ``warmup`` steps, then cosine to
    ``final_fraction``. The cosine's progress is ``(step - warmup) / (total - warmup)``, or
    ``progress`` (in [0, 1], e.g. the share of a time budget spent) when given."""
    if step < warmup:
        return (step + 1) / warmup
    if progress is None:
        progress = (step - warmup) / max(1, total - warmup)
    progress = min(1.0, max(0.0, progress))
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))


def sum_losses(losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The plain sum of torchvision's loss terms."""
    return sum(losses.values())


def train_detection_epoch(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader, *, device: torch.device,
    combine: CombineFn = sum_losses, scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    grad_clip_norm: float = 10.0, deadline: float | None = None, step_fn: StepFn | None = None,
    what: str = "model",
) -> dict[str, float]:
    """One pass over ``loader`` of (images, targets) for a torchvision detection model in train mode.

    ``combine`` turns the model's loss dict into the optimised scalar (``loss``). Stops early
    once ``time.perf_counter() > deadline``. Raises ``FloatingPointError`` on a non-finite
    loss. Returns the mean of each term, of ``loss``, and ``steps``; ``step_fn(step, row)``
    sees every step's terms (for a loss curve).
    """
    model.train()
    sums: dict[str, float] = {}
    n = 0
    for images, targets in loader:
        images = [im.to(device) for im in images]
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        losses = model(images, targets)
        loss = combine(losses)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite {what} loss {({k: float(v) for k, v in losses.items()})}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        row = {k: float(v.detach()) for k, v in {**losses, "loss": loss}.items()}
        for k, v in row.items():
            sums[k] = sums.get(k, 0.0) + v
        if step_fn is not None:
            step_fn(n, row)
        n += 1
        if deadline is not None and time.perf_counter() > deadline:
            break
    return {**{k: v / max(n, 1) for k, v in sums.items()}, "steps": float(n)}


def close_epoch(row: dict[str, float], history: list[dict[str, float]], *, epoch: int, epochs: int,
                deadline: float | None, log_fn: Callable[[int, dict[str, float]], None] | None) -> bool:
    """Finish an epoch's history ``row``: flag ``stopped_early``, append it, log it. Returns
    True when the time budget (``deadline``, ``time.perf_counter()`` seconds) is spent."""
    stop = deadline is not None and time.perf_counter() > deadline
    row["stopped_early"] = float(stop and epoch < epochs - 1)
    history.append(row)
    if log_fn is not None:
        log_fn(epoch, row)
    return stop
