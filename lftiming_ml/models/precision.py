"""The compute dtype of a model at inference: bfloat16 where the hardware computes it natively.

Used by LOCSNET (``segmentation.infer``, its profile's ``precision``) and the
re-identification embedding (``tracking.appearance``, ``TrackerParams.appearance_precision``).
"""

from __future__ import annotations

import torch

PRECISIONS = ("auto", "float32", "bfloat16")


def inference_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The compute dtype for ``precision`` on ``device``: ``'auto'`` is bfloat16 where the
    device computes it natively (a CPU with AMX or AVX512-BF16, a CUDA GPU with bf16),
    float32 elsewhere (emulated bf16 is slower)."""
    if precision == "float32":
        return torch.float32
    if precision == "bfloat16":
        return torch.bfloat16
    if precision != "auto":
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
    elif device.type == "cpu":
        native = torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
    else:
        native = False
    return torch.bfloat16 if native else torch.float32


__all__ = ["PRECISIONS", "inference_dtype"]
