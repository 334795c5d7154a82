"""The per-chip report: one self-contained HTML file a person opens in any browser.

``write_chip_report`` writes ``<data>/reports/<chip>/report.html`` (``ChipStore.reports_dir``)
holding, from the chip's tables: the chip and its counts (with the target counts that differ
side by side and why), the killing curves and kinetics by E:T group, the wells needing review
(the ``review_queue`` table's order when the chip has one, else the fallback ranking of
``annotations.review_wells``) each with its filmstrip, the outcome tables (click a column
header to sort) and the models that made the outputs (versions from the tables' version
columns, MLflow run ids when a tracking URI is given). Images are embedded as data URIs and
the few lines of JavaScript inline: the file needs no network and no other file.

Ground truth is not read here: a caller that may read it passes ``truth_views`` (e.g.
``lftiming_ml.evaluation.well_views.truth_well_views``) and the filmstrips show prediction
above truth.
"""

from __future__ import annotations

import base64
import html
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from lftiming_ml.annotations.review_wells import WellToReview, wells_to_review
from lftiming_ml.io import atomic_file
from lftiming_ml.qa.filmstrip import FilmstripStyle, filmstrip_png
from lftiming_ml.qa.report_data import (Count, chip_model_versions, chip_summary, kinetics_by_group, read_table,
                                        target_counts)
from lftiming_ml.qa.views import ChipOutputs, WellView, predicted_well_view
from lftiming_ml.store.layout import ChipStore

REPORT_NAME = "report.html"


class ReportParams(BaseModel):
    """What the report shows (the ``qa_report`` asset's run config and ``lftiming report``'s options)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top: int = Field(12, ge=0, description="Wells needing review shown with their filmstrips, best ranked first.")
    with_truth: bool = Field(True, description="Draw ground truth under the prediction where the chip has it "
                                               "(the caller reads it: this module never does).")
    n_frames: int = Field(8, ge=1, le=40, description="Frames per filmstrip.")
    zoom: int = Field(2, ge=1, le=6, description="Screen pixels per crop pixel in the filmstrips.")

    def style(self) -> FilmstripStyle:
        return FilmstripStyle(n_frames=self.n_frames, zoom=self.zoom)
TruthViews = Callable[[Sequence[str]], Mapping[str, WellView]]
"""Well names -> their truth views (wells without truth left out)."""
OUTCOME_TABLES = ("well_outcomes", "target_outcomes", "effector_kinetics", "killing_kinetics", "killing_frequency")
HIDDEN_COLUMNS = {"chip_id", "segmenter_version", "reid_version", "celltype_version", "apoptosis_version"}
"""Shown once in the Models section rather than on every row."""


@dataclass(frozen=True)
class ReportResult:
    """What ``write_chip_report`` wrote: ``path``, the ``wells`` shown with filmstrips (in
    order), the ranking they come from (``ranked_by``), ``summary`` counts, whether truth rows
    were drawn (``with_truth``), the size and the seconds it took, and the first filmstrip
    (PNG bytes, None when no well was shown) for a preview elsewhere."""

    path: Path
    wells: tuple[WellToReview, ...]
    ranked_by: str
    summary: tuple[Count, ...]
    with_truth: bool
    n_bytes: int
    seconds: float
    first_filmstrip: bytes | None


def _data_uri(png: bytes) -> str:
    return f"data:image/png;base64,{base64.b64encode(png).decode()}"


def well_anchor(well: str) -> str:
    """The HTML id of a well's filmstrip section, e.g. ``well-f000-r0c1``."""
    return "well-" + well.replace("/", "-")


def _table(df: pd.DataFrame, table_id: str) -> str:
    shown = df[[c for c in df.columns if c not in HIDDEN_COLUMNS]]
    return shown.to_html(index=False, classes="sortable", table_id=table_id, border=0, na_rep="",
                         float_format=lambda v: f"{v:.4g}")


def _counts_table(counts: Sequence[Count], table_id: str) -> str:
    return _table(pd.DataFrame([{"what": c.what, "value": c.value, "from": c.source, "note": c.note} for c in counts],
                               columns=["what", "value", "from", "note"]), table_id)


def _plot_pngs(chip: ChipStore) -> dict[str, bytes]:
    """The killing curves and kinetics distributions, drawn from the chip's tables."""
    from lftiming_ml.interactions.plots import killing_curves_png, kinetics_distributions_png

    out = {}
    survival, interactions = read_table(chip, "target_survival"), read_table(chip, "killing_kinetics")
    with tempfile.TemporaryDirectory() as tmp:
        if survival is not None:
            out["killing_curves"] = killing_curves_png(
                survival, Path(tmp) / "curves.png",
                title=f"{chip.chip_id}: target death by E:T group (Kaplan-Meier, 95% CI)").read_bytes()
        if interactions is not None:
            out["kinetics"] = kinetics_distributions_png(interactions, Path(tmp) / "kinetics.png",
                                                         title=f"{chip.chip_id}: TIMING kinetics").read_bytes()
    return out


def _chip_line(chip: ChipStore) -> str:
    chips = read_table(chip, "chips")
    if chips is None or not len(chips):
        return "chip table not written yet (materialize raw_chip)"
    r = chips.iloc[0]
    return (f"{html.escape(str(r['condition'] or 'no condition given'))} &middot; {int(r['n_fields'])} fields &middot; "
            f"{int(r['n_frames'])} frames at {r['frame_interval_min']:g} min &middot; {r['pixel_size_um']:g} um/px "
            f"&middot; ground truth: {'yes' if r['has_ground_truth'] else 'no'}")


def _review_section(chip: ChipStore, top: int, truth_views: TruthViews | None, style: FilmstripStyle
                    ) -> tuple[str, tuple[WellToReview, ...], str, bytes | None, bool]:
    try:
        ranking = wells_to_review(chip)
    except FileNotFoundError as e:
        return f"<p class='missing'>No wells ranked: {html.escape(str(e))}</p>", (), "none", None, False
    ranked_by = ranking[0].ranked_by if ranking else "none"
    shown = tuple(ranking[:top])
    names = [w.well for w in shown]
    truth = dict(truth_views(names)) if truth_views is not None and names else {}
    outputs = ChipOutputs(chip)
    source = ("the chip's <code>review_queue</code> table (highest score first)" if ranked_by == "review_queue" else
              "the fallback ranking of <code>lftiming_ml.annotations.review_wells</code> (no <code>review_queue</code> "
              "table for this chip)")
    parts = [f"<p>The {len(shown)} wells ranked first of {len(ranking)} by {source}. Each filmstrip: outlines coloured "
             "by track id, <b>E</b>/<b>T</b> + track id per cell (cell_types), a red cross from the death frame on and "
             "a red ring at it (cell_deaths), a yellow line between cells in contact and a yellow border on contact "
             "frames (contacts); the bar under each row is the whole movie (yellow: contact frames, red: deaths, white "
             f"ticks: the frames shown). {'Prediction above, ground truth below.' if truth else ''}</p>"]
    first = None
    for i, w in enumerate(shown, 1):
        views = [predicted_well_view(chip, w.well, outputs)] + ([truth[w.well]] if w.well in truth else [])
        png = filmstrip_png(views, style=style)
        first = first or png
        reasons = "".join(f"<li>{html.escape(r)}</li>" for r in w.reasons) or "<li>(no reason above the threshold)</li>"
        parts.append(f"<article class='well' id='{well_anchor(w.well)}' data-well='{html.escape(w.well)}'>"
                     f"<h3>{i}. {html.escape(w.well)} <small>score {w.score:.3g}</small></h3><ul>{reasons}</ul>"
                     f"<img class='filmstrip' alt='filmstrip of {html.escape(w.well)}' src='{_data_uri(png)}'></article>")
    ranking_df = pd.DataFrame([{"rank": i, "well": w.well, "score": w.score, "reasons": "; ".join(w.reasons)}
                               for i, w in enumerate(ranking, 1)])
    parts.append(f"<details><summary>the whole ranking ({len(ranking)} wells)</summary>"
                 f"{_table(ranking_df, 'review-ranking')}</details>")
    return "\n".join(parts), shown, ranked_by, first, bool(truth)


def chip_report_html(chip: ChipStore, params: ReportParams | None = None, *, tracking_uri: str | None = None,
                     truth_views: TruthViews | None = None) -> tuple[str, dict]:
    """The report's HTML and what it holds (``wells``, ``ranked_by``, ``summary``,
    ``with_truth``, ``first_filmstrip``)."""
    params = params or ReportParams()
    style, top = params.style(), params.top
    summary = chip_summary(chip)
    targets, wells, survival, frequency = (read_table(chip, t) for t in ("target_outcomes", "well_outcomes",
                                                                          "target_survival", "killing_frequency"))
    counts = target_counts(targets, wells, survival, frequency) if targets is not None and wells is not None else []
    plots = _plot_pngs(chip)
    review, shown, ranked_by, first, with_truth = _review_section(chip, top, truth_views, style)
    sections = [("summary", "Summary", _counts_table(summary, "summary-table"))]
    if counts:
        sections.append(("target-counts", "Target counts, and why they differ",
                         "<p>The same targets are counted in different ways by different tables; each line says "
                         "what it includes.</p>" + _counts_table(counts, "target-counts-table")))
    killing = []
    if "killing_curves" in plots:
        killing.append(f"<img class='plot' alt='killing curves' src='{_data_uri(plots['killing_curves'])}'>")
    if frequency is not None:
        killing.append("<p>Killing frequency by E:T group (unit <code>well</code>: wells with a kill among wells "
                       "loaded with at least one effector and one target; unit <code>target</code>: their frame-0 "
                       "targets killed), Wilson 95% CI:</p>" + _table(frequency, "killing-frequency"))
    if killing:
        sections.append(("killing", "Killing by E:T group", "\n".join(killing)))
    interactions = read_table(chip, "killing_kinetics")
    if interactions is not None and wells is not None:
        kin = [_table(kinetics_by_group(interactions, wells), "kinetics-by-group")]
        if "kinetics" in plots:
            kin.append(f"<img class='plot' alt='kinetics distributions' src='{_data_uri(plots['kinetics'])}'>")
        sections.append(("kinetics", "TIMING kinetics by E:T group (median minutes)", "\n".join(kin)))
    sections.append(("review", "Wells needing review", review))
    tables = []
    for name in OUTCOME_TABLES:
        df = read_table(chip, name)
        if df is not None:
            tables.append(f"<details><summary><code>{name}</code> ({len(df)} rows)</summary>{_table(df, name)}</details>")
    sections.append(("tables", "Outcome tables (click a column to sort)",
                     "\n".join(tables) or "<p class='missing'>no outcome tables yet</p>"))
    models = chip_model_versions(chip, tracking_uri)
    sections.append(("models", "Models that made these outputs",
                     "<p>Versions from the tables' version columns; run ids from MLflow "
                     f"({html.escape(tracking_uri) if tracking_uri else 'not looked up'}).</p>"
                     + _table(models, "models-table")))
    page = _page(chip, sections)
    return page, {"wells": shown, "ranked_by": ranked_by, "summary": tuple(summary + counts),
                  "with_truth": with_truth, "first_filmstrip": first}


def _page(chip: ChipStore, sections: list[tuple[str, str, str]]) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = " &middot; ".join(f"<a href='#{sid}'>{html.escape(title.split(' (')[0])}</a>" for sid, title, _ in sections)
    body = "\n".join(f"<section id='{sid}'><h2>{html.escape(title)}</h2>\n{content}</section>"
                     for sid, title, content in sections)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lftiming report: {html.escape(chip.chip_id)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_CSS}</style></head>
<body>
<header><h1>Chip {html.escape(chip.chip_id)}</h1><p>{_chip_line(chip)}</p><p class="small">report written {stamp} by
<code>lftiming report --chip {html.escape(chip.chip_id)}</code></p><nav>{nav}</nav></header>
{body}
<script>{_SORT_JS}</script>
</body></html>
"""


_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 1600px; padding: 0 16px 40px; color: #222; }
header { border-bottom: 2px solid #444; margin-bottom: 8px; } h1 { margin: 12px 0 4px; }
nav a { margin-right: 4px; } .small { color: #666; font-size: 12px; } .missing { color: #a00; }
section { margin-top: 20px; } h2 { border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 12px; margin: 6px 0; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; } td.num { text-align: right; }
th { background: #f0f0f0; cursor: pointer; position: sticky; top: 0; }
th[data-order=asc]::after { content: " \\25B2"; } th[data-order=desc]::after { content: " \\25BC"; }
details { margin: 6px 0; } summary { cursor: pointer; font-weight: 600; }
img.plot { max-width: 100%; display: block; margin: 6px 0; }
img.filmstrip { max-width: 100%; display: block; background: #000; }
article.well { margin: 14px 0; } article.well h3 { margin: 4px 0; } article.well ul { margin: 2px 0 6px; }
"""

_SORT_JS = """
document.querySelectorAll("table.sortable td").forEach(function (td) {
  var t = td.textContent.trim(); if (t !== "" && isFinite(t)) { td.className = "num"; }
});
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var i = Array.prototype.indexOf.call(th.parentNode.children, th), asc = th.dataset.order !== "asc";
    table.querySelectorAll("th").forEach(function (h) { delete h.dataset.order; });
    th.dataset.order = asc ? "asc" : "desc";
    function key(row) { var t = row.cells[i].textContent.trim(); return t !== "" && isFinite(t) ? parseFloat(t) : t; }
    var rows = Array.prototype.slice.call(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b), c = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def write_chip_report(chip: ChipStore, params: ReportParams | None = None, *, tracking_uri: str | None = None,
                      truth_views: TruthViews | None = None, out: Path | None = None) -> ReportResult:
    """Write the chip's report to ``out`` (default ``<reports_dir>/report.html``) atomically;
    ``truth_views`` only draws truth when ``params.with_truth``."""
    start = time.perf_counter()
    params = params or ReportParams()
    page, info = chip_report_html(chip, params, tracking_uri=tracking_uri,
                                  truth_views=truth_views if params.with_truth else None)
    path = Path(out) if out is not None else chip.reports_dir / REPORT_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    data = page.encode("utf-8")
    with atomic_file(path) as tmp:
        Path(tmp).write_bytes(data)
    return ReportResult(path, info["wells"], info["ranked_by"], info["summary"], info["with_truth"], len(data),
                        time.perf_counter() - start, info["first_filmstrip"])


__all__ = ["REPORT_NAME", "ReportParams", "ReportResult", "TruthViews", "chip_report_html", "well_anchor", "write_chip_report"]
