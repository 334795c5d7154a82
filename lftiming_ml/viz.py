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


TRUE_COLOUR = (0, 220, 0)
PREDICTED_COLOUR = (255, 0, 255)


def draw_contours(image: np.ndarray, masks: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """Outline every mask of ``masks (bool[N, H, W])`` (inner boundary, 1 px) on ``image
    (uint8[H, W] or uint8[H, W, 3])``; returns a new RGB ``uint8[H, W, 3]``."""
    from skimage.segmentation import find_boundaries

    rgb = np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image.copy()
    m = np.asarray(masks, bool)
    if m.shape[1:] != rgb.shape[:2]:
        raise ValueError(f"masks {m.shape} do not fit an image of {rgb.shape[:2]}")
    for mask in m:
        rgb[find_boundaries(mask, mode="inner")] = colour
    return rgb


def tile(panels: list[np.ndarray], columns: int, *, gap: int = 2) -> np.ndarray:
    """Same-shape ``uint8[H, W, 3]`` panels -> one ``uint8`` mosaic, row-major, ``gap`` px of black between."""
    if not panels:
        raise ValueError("tile needs at least one panel")
    h, w = panels[0].shape[:2]
    rows = -(-len(panels) // columns)
    cols = min(columns, len(panels))
    out = np.zeros((rows * (h + gap) - gap, cols * (w + gap) - gap, 3), np.uint8)
    for i, p in enumerate(panels):
        r, c = divmod(i, columns)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = p
    return out


def instance_overlay_png(images: list[np.ndarray], true_masks: list[np.ndarray], predicted_masks: list[np.ndarray], *,
                         columns: int = 4, zoom: int = 3) -> bytes:
    """A PNG mosaic of crops with true (green) and predicted (magenta) instance contours, for
    any instance segmenter's validation preview.

    images: ``uint16|float[H, W]`` per crop (contrast-stretched each); true_masks /
    predicted_masks: ``bool[N, H, W]`` per crop (any N, may overlap). Crops and masks are
    enlarged ``zoom`` times (nearest) so 1-px contours stay readable.
    """
    if not (len(images) == len(true_masks) == len(predicted_masks)):
        raise ValueError("one image, one true and one predicted mask stack per crop")
    panels = []
    for image, gt, pred in zip(images, true_masks, predicted_masks):
        big = np.kron(stretch(image), np.ones((zoom, zoom), np.uint8))

        def up(m: np.ndarray) -> np.ndarray:
            return np.asarray(m, bool).repeat(zoom, axis=-2).repeat(zoom, axis=-1)

        panels.append(draw_contours(draw_contours(big, up(gt), TRUE_COLOUR), up(pred), PREDICTED_COLOUR))
    return png_bytes(tile(panels, columns))
