"""Well filmstrips: a few frames of one well side by side (PNG), or its whole movie (GIF).

Each panel is the well's phase (contrast stretched once per well, so frames compare), the
outline of every track (or true cell) coloured by its id, a letter per cell (``E3`` =
effector, track 3; ``T``: target; ``?``: no type), a red cross over a cell from its death
frame on (a red ring at the death frame itself), a yellow line between an effector and a
target in contact and a yellow border around a frame with any contact. The header says the
frame, the time and what happens in it. Under each row a timeline of the whole movie marks
contact frames (yellow), deaths (red) and the frames shown (white ticks).

With two views (prediction, truth) the filmstrip shows prediction above truth, frame by
frame in the same columns; the GIF shows them side by side (prediction | truth).
Drawing is Pillow and scikit-image (boundaries); no matplotlib, so a filmstrip costs a few
milliseconds per panel.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, ConfigDict, Field
from skimage.segmentation import find_boundaries

from lftiming_ml.qa.views import WellView

PALETTE = np.array([(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
                    (227, 119, 194), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120),
                    (152, 223, 138)], np.uint8)
"""Track k is drawn in ``PALETTE[k % 12]`` (matplotlib's tab10 and the light half of tab20)."""
DEATH = (255, 40, 40)
CONTACT = (255, 215, 0)
SHOWN = (235, 235, 235)
LETTERS = {"effector": "E", "target": "T"}


class FilmstripStyle(BaseModel):
    """How a filmstrip looks; the defaults are the report's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_frames: int = Field(8, ge=1, description="Frames shown side by side (evenly spaced, moved onto deaths "
                                               "and the first contact when there are any).")
    zoom: int = Field(2, ge=1, le=8, description="Each crop pixel becomes zoom x zoom screen pixels.")
    gap_px: int = Field(3, ge=0, description="Black gap between panels.")
    header_px: int = Field(16, ge=0, description="Height of each panel's header (frame, time, events).")
    title_px: int = Field(18, ge=0, description="Height of each row's title (well, view, counts).")
    timeline_px: int = Field(12, ge=0, description="Height of the whole-movie timeline under a row (0: none).")
    low_percentile: float = Field(0.5, ge=0, le=100, description="Phase percentile shown black.")
    high_percentile: float = Field(99.5, ge=0, le=100, description="Phase percentile shown white.")
    gif_step: int = Field(1, ge=1, description="GIF: every gif_step-th frame.")
    gif_ms: int = Field(150, ge=20, description="GIF: milliseconds per frame.")


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError, ValueError):  # Pillow built without FreeType: the bitmap font
        return ImageFont.load_default()


def contrast_limits(phase: np.ndarray, style: FilmstripStyle) -> tuple[float, float]:
    """Phase values shown black and white for a whole movie ``phase (any[T, S, S])``
    (percentiles of a subsample of frames); an all-dark movie gives ``(v, v + 1)``."""
    step = max(1, phase.shape[0] // 12)
    sample = np.asarray(phase[::step, ::2, ::2], np.float32)
    if sample.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(sample, [style.low_percentile, style.high_percentile]))
    return lo, max(hi, lo + 1.0)


def choose_frames(n_frames: int, n: int, events: Sequence[int] = ()) -> list[int]:
    """``n`` frames of ``0 .. n_frames - 1``: evenly spaced, then each event frame (in the
    order given; at most half of ``n``) replaces the nearest frame not already an event.
    Sorted, no repeats."""
    if n_frames <= 0:
        return []
    chosen = sorted(set(np.linspace(0, n_frames - 1, min(n, n_frames)).round().astype(int).tolist()))
    pinned: set[int] = set()
    for frame in events:
        if len(pinned) >= max(1, len(chosen) // 2):
            break
        frame = int(frame)
        if not 0 <= frame < n_frames or frame in pinned:
            continue
        if frame not in chosen:
            free = [f for f in chosen if f not in pinned]
            if not free:
                break
            chosen[chosen.index(min(free, key=lambda f: (abs(f - frame), f)))] = frame
        pinned.add(frame)
    return sorted(set(chosen))


def _events(views: Sequence[WellView]) -> list[int]:
    """Frames worth showing: deaths first (taking turns between the views, earliest first),
    then each view's first contact."""
    deaths = [sorted(set(v.death_frames.values())) for v in views]
    turns = [d[i] for i in range(max(map(len, deaths), default=0)) for d in deaths if i < len(d)]
    contacts = [np.flatnonzero(v.contact_frames) for v in views]
    return turns + [int(c[0]) for c in contacts if c.size]


def _centroid(mask: np.ndarray) -> tuple[float, float] | None:
    ys, xs = np.nonzero(mask)
    return (float(ys.mean()), float(xs.mean())) if ys.size else None


def draw_panel(view: WellView, t: int, limits: tuple[float, float], style: FilmstripStyle) -> Image.Image:
    """Frame ``t`` of ``view`` as an RGB image of ``S * zoom`` wide, ``header_px + S * zoom`` high."""
    z, lo, hi = style.zoom, limits[0], limits[1]
    grey = (np.clip((np.asarray(view.phase[t], np.float32) - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    present, radius = {}, {}
    for k in range(view.masks.shape[1]):
        mask = view.masks[t, k]
        centre = _centroid(mask)
        if centre is None:
            continue
        present[k], radius[k] = centre, float(np.sqrt(mask.sum() / np.pi))
        rgb[find_boundaries(mask, mode="inner")] = PALETTE[k % len(PALETTE)]
    image = Image.fromarray(np.kron(rgb, np.ones((z, z, 1), np.uint8)))
    draw = ImageDraw.Draw(image)
    pairs = [(e, g) for e, g in view.contacts.get(t, []) if e in present and g in present]
    for e, g in pairs:
        (ey, ex), (gy, gx) = present[e], present[g]
        draw.line([(ex * z + z / 2, ey * z + z / 2), (gx * z + z / 2, gy * z + z / 2)], fill=CONTACT, width=max(1, z))
    font = _font(max(9, 5 * z + 1))
    for k, (y, x) in present.items():
        cx, cy = x * z + z / 2, y * z + z / 2
        death = view.death_frames.get(k)
        colour = tuple(int(c) for c in PALETTE[k % len(PALETTE)])
        if death is not None and t >= death:  # under the letter, so the letter stays readable
            r = max(4.0, 0.75 * radius[k]) * z  # across the cell, wider than its letter
            draw.line([(cx - r, cy - r), (cx + r, cy + r)], fill=DEATH, width=max(2, z))
            draw.line([(cx - r, cy + r), (cx + r, cy - r)], fill=DEATH, width=max(2, z))
            if t == death:
                draw.ellipse([cx - 1.8 * r, cy - 1.8 * r, cx + 1.8 * r, cy + 1.8 * r], outline=DEATH, width=max(2, z))
        draw.text((cx, cy), f"{LETTERS.get(view.cell_types.get(k, ''), '?')}{k}", fill=colour, font=font, anchor="mm",
                  stroke_width=2, stroke_fill=(0, 0, 0))
    if pairs or view.contact_frames[t]:
        draw.rectangle([0, 0, image.width - 1, image.height - 1], outline=CONTACT, width=max(2, z))
    return _with_header(image, view, t, style)


def _with_header(image: Image.Image, view: WellView, t: int, style: FilmstripStyle) -> Image.Image:
    if style.header_px == 0:
        return image
    out = Image.new("RGB", (image.width, image.height + style.header_px))
    out.paste(image, (0, style.header_px))
    draw = ImageDraw.Draw(out)
    font = _font(max(9, style.header_px - 5))
    draw.text((3, style.header_px / 2), f"frame {t} · {t * view.frame_interval_min:g} min", fill=SHOWN, font=font, anchor="lm")
    dying = [k for k, d in view.death_frames.items() if d == t]
    right = out.width - 3
    if dying:
        text = "dies " + ",".join(f"{LETTERS.get(view.cell_types.get(k, ''), '?')}{k}" for k in sorted(dying))
        draw.text((right, style.header_px / 2), text, fill=DEATH, font=font, anchor="rm")
    elif view.contact_frames[t]:
        draw.text((right, style.header_px / 2), "contact", fill=CONTACT, font=font, anchor="rm")
    return out


def _title(view: WellView) -> str:
    kinds = [view.cell_types.get(k, "") for k in range(view.masks.shape[1]) if view.masks[:, k].any()]
    n_e, n_t = kinds.count("effector"), kinds.count("target")
    word = "tracks" if view.label == "prediction" else "cells"
    return (f"{view.well} {view.label}: {len(kinds)} {word} ({n_e} E, {n_t} T), {len(view.death_frames)} deaths, "
            f"{int(view.contact_frames.sum())} contact frames")


def _timeline(view: WellView, width: int, shown: Sequence[int], style: FilmstripStyle) -> Image.Image:
    h, n = style.timeline_px, view.n_frames
    out = Image.new("RGB", (width, h), (45, 45, 45))
    draw = ImageDraw.Draw(out)
    edges = np.linspace(0, width, n + 1)
    bar = max(2, h - 4)
    for t in np.flatnonzero(view.contact_frames):
        draw.rectangle([edges[t], 0, max(edges[t], edges[t + 1] - 1), bar - 1], fill=CONTACT)
    for d in set(view.death_frames.values()):
        if 0 <= d < n:
            draw.rectangle([edges[d], 0, max(edges[d] + 1, edges[d + 1] - 1), bar - 1], fill=DEATH)
    for t in shown:
        mid = (edges[t] + edges[t + 1]) / 2
        draw.rectangle([mid - 1, bar, mid + 1, h - 1], fill=SHOWN)
    return out


def filmstrip_image(views: Sequence[WellView], *, frames: Sequence[int] | None = None,
                    style: FilmstripStyle | None = None) -> Image.Image:
    """One row per view (prediction first, then truth), the same ``frames`` in each (default
    ``choose_frames`` with every view's deaths and first contact), as one RGB image."""
    style = style or FilmstripStyle()
    if not views:
        raise ValueError("a filmstrip needs at least one view")
    n = min(v.n_frames for v in views)
    if frames is None:
        frames = choose_frames(n, style.n_frames, _events(views))
    frames = [int(f) for f in frames if 0 <= int(f) < n]
    rows = []
    for view in views:
        limits = contrast_limits(view.phase, style)
        panels = [draw_panel(view, t, limits, style) for t in frames] or [Image.new("RGB", (1, 1))]
        width = sum(p.width for p in panels) + style.gap_px * (len(panels) - 1)
        row = Image.new("RGB", (width, style.title_px + panels[0].height + style.timeline_px + 2))
        draw = ImageDraw.Draw(row)
        if style.title_px:
            draw.text((3, style.title_px / 2), _title(view), fill=SHOWN, font=_font(max(9, style.title_px - 5)),
                      anchor="lm")
        x = 0
        for p in panels:
            row.paste(p, (x, style.title_px))
            x += p.width + style.gap_px
        if style.timeline_px:
            row.paste(_timeline(view, width, frames, style), (0, style.title_px + panels[0].height + 2))
        rows.append(row)
    out = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows) + style.gap_px * 2 * (len(rows) - 1)))
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height + 2 * style.gap_px
    return out


def filmstrip_png(views: Sequence[WellView], *, frames: Sequence[int] | None = None,
                  style: FilmstripStyle | None = None) -> bytes:
    """``filmstrip_image`` encoded as PNG."""
    buf = io.BytesIO()
    filmstrip_image(views, frames=frames, style=style).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def animation_gif(views: Sequence[WellView], *, style: FilmstripStyle | None = None) -> bytes:
    """The whole movie (every ``gif_step``-th frame) as an animated GIF, looping; with two
    views, prediction | truth side by side in each frame."""
    style = style or FilmstripStyle()
    if not views:
        raise ValueError("an animation needs at least one view")
    limits = [contrast_limits(v.phase, style) for v in views]
    n = min(v.n_frames for v in views)
    frames = []
    for t in range(0, n, style.gif_step):
        panels = [draw_panel(v, t, lim, style) for v, lim in zip(views, limits)]
        width = sum(p.width for p in panels) + style.gap_px * (len(panels) - 1)
        frame = Image.new("RGB", (width, panels[0].height + style.title_px))
        draw = ImageDraw.Draw(frame)
        x = 0
        for view, p in zip(views, panels):
            draw.text((x + 3, style.title_px / 2), f"{view.well} {view.label}", fill=SHOWN,
                      font=_font(max(9, style.title_px - 5)), anchor="lm")
            frame.paste(p, (x, style.title_px))
            x += p.width + style.gap_px
        frames.append(frame.quantize(colors=255, method=Image.Quantize.MEDIANCUT))
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=style.gif_ms, loop=0,
                   disposal=1)
    return buf.getvalue()


__all__ = ["PALETTE", "FilmstripStyle", "animation_gif", "choose_frames", "contrast_limits", "draw_panel",
           "filmstrip_image", "filmstrip_png"]
