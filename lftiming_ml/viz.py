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


def draw_boxes(image: np.ndarray, boxes: np.ndarray, colours: list[tuple[int, int, int]]) -> np.ndarray:
    """Outline ``boxes (float[n, 4], (y0, x0, y1, x1) px)`` on ``image (uint8[H, W])``; returns RGB uint8."""
    from PIL import ImageDraw

    pil = Image.fromarray(image).convert("RGB")
    draw = ImageDraw.Draw(pil)
    for (y0, x0, y1, x1), colour in zip(boxes, colours, strict=True):
        draw.rectangle([x0, y0, x1, y1], outline=colour, width=2)
    return np.asarray(pil)
