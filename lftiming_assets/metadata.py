"""Metadata entries that read well in the Dagster UI, one way for every asset.

- ``png_markdown``: a plot or picture inline (a data URI in markdown), shrunk if asked; a
  local file path would not open from the browser, so pictures are never given as paths.
- ``models_markdown``: which model versions made a chip's outputs, as a small table (text,
  not numbers: the asset Overview would plot numeric versions across chips as a series).
- ``counts_markdown``: counts with where they come from and what they include.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import dagster as dg
from PIL import Image

from lftiming_ml.qa.report_data import Count


def png_markdown(png: bytes, caption: str, *, max_side: int | None = None) -> dg.MetadataValue:
    """``png`` (PNG bytes) as an inline markdown image, downscaled to ``max_side`` px if larger."""
    if max_side is not None:
        image = Image.open(io.BytesIO(png))
        if max(image.size) > max_side:
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            image.save(buf, format="PNG")
            png = buf.getvalue()
    return dg.MetadataValue.md(f"![{caption}](data:image/png;base64,{base64.b64encode(png).decode()})")


def models_markdown(models: Mapping[str, tuple[str, int]]) -> dg.MetadataValue:
    """``{role: (registered model, version)}`` as a markdown table (version -1: no model ran)."""
    lines = ["| role | model | version |", "|---|---|---|"]
    lines += [f"| {role} | {name} | {'none' if version < 0 else f'v{version}'} |"
              for role, (name, version) in models.items()]
    return dg.MetadataValue.md("\n".join(lines))


def model_text(name: str, version: int, alias: str | None = None) -> dg.MetadataValue:
    """``locsnet v3 (champion)`` as text."""
    return dg.MetadataValue.text(f"{name} v{version}" + (f" ({alias})" if alias else ""))


def counts_markdown(counts: Sequence[Count]) -> str:
    """Counts as a markdown table: what, value, from, note."""
    lines = ["| what | value | from | note |", "|---|---|---|---|"]
    lines += [f"| {c.what} | {c.value} | {c.source} | {c.note.replace('|', '/')} |" for c in counts]
    return "\n".join(lines)


__all__ = ["counts_markdown", "model_text", "models_markdown", "png_markdown"]
