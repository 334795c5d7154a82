"""Pictures for people: contrast-stretched previews and PNG encoding."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def stretch(image: np.ndarray, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """``image (any[H, W])`` -> ``uint8[H, W]``, percentiles ``low``..``high`` mapped to 0..255."""
    img = np.asarray(image, dtype=np.float32)
    lo, hi = np.percentile(img, [low, high])
    if hi <= lo:
        return np.zeros(img.shape, np.uint8)
    return (np.clip((img - lo) / (hi - lo), 0, 1) * 255).round().astype(np.uint8)


def png_bytes(image: np.ndarray, *, max_side: int | None = None) -> bytes:
    """Encode ``uint8[H, W]`` or ``uint8[H, W, 3]`` as PNG, downscaled to ``max_side`` if given."""
    pil = Image.fromarray(image)
    if max_side is not None and max(pil.size) > max_side:
        pil.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()
