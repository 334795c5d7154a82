"""The chip report on a small simulated chip (tests/interactions/pipeline_chip.py: the truth in
the pipeline's layout, then the outcome tables by the library).

- ``test_report_html_parses_with_the_standard_library``: always runs; parses the HTML with
  ``html.parser`` and finds every section, the filmstrip of each listed well (prediction
  above truth) and no reference to anything outside the file.
- ``test_report_renders_in_headless_chromium``: renders the file in headless Chromium
  (``--dump-dom`` after the page's scripts ran, a header clicked to sort), and finds the
  same; skipped, saying so, where no Chromium is installed (``apt-get install -y chromium``).
- the ranking comes from the chip's ``review_queue`` table when it has one, else the fallback.
- ``qa_report`` as a Dagster asset: where it wrote, metadata that reads well.
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from functools import partial
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from PIL import Image

from lftiming_assets.partitions import chips
from lftiming_assets.qa.assets import qa_report
from lftiming_assets.resources import build_resources
from lftiming_ml.evaluation.well_views import truth_well_views
from lftiming_ml.qa.report import ReportParams, ReportResult, well_anchor, write_chip_report
from lftiming_ml.store.tables import write_chip_table
from tests.interactions.pipeline_chip import PipelineChip, build_pipeline_chip, write_outcome_tables

SECTIONS = {"summary", "target-counts", "killing", "kinetics", "review", "tables", "models"}
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="module")
def chip(tmp_path_factory: pytest.TempPathFactory) -> PipelineChip:
    chip = build_pipeline_chip(tmp_path_factory.mktemp("report"), "qa-s7")
    write_outcome_tables(chip)
    return chip


@pytest.fixture(scope="module")
def report(chip: PipelineChip) -> ReportResult:
    return write_chip_report(chip.store, ReportParams(top=3), truth_views=partial(truth_well_views, chip.store))


class Page(HTMLParser):
    """What a reader of the page finds: section ids, well articles, images, tables, links."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: set[str] = set()
        self.wells: dict[str, str] = {}  # data-well -> article id
        self.filmstrips: dict[str, str] = {}  # article id -> img src
        self.plots: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.headers: dict[str, list[dict[str, str | None]]] = {}
        self.refs: list[str] = []
        self.numeric_cells = 0
        self._article: str | None = None
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]
        if tag == "section":
            self.sections.add(a.get("id") or "")
        elif tag == "article" and "well" in (a.get("class") or ""):
            self._article = a["id"]
            self.wells[a["data-well"]] = a["id"]
        elif tag == "img" and a.get("class") == "filmstrip" and self._article:
            self.filmstrips[self._article] = a["src"]
        elif tag == "img" and a.get("class") == "plot":
            self.plots.append(a["alt"])
        elif tag == "table":
            self._table = a.get("id")
            self.tables[self._table], self.headers[self._table] = [], []
        elif tag == "th" and self._table:
            self.headers[self._table].append(a)
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag == "td" and self._table:
            self._cell = []
            self.numeric_cells += a.get("class") == "num"

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "article":
            self._article = None
        elif tag == "table":
            self._table = None


def _parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    return page


def _png(src: str) -> Image.Image:
    assert src.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))


def _check_page(page: Page, report: ReportResult, chip: PipelineChip) -> None:
    assert SECTIONS <= page.sections
    listed = [w.well for w in report.wells]
    assert len(listed) == 3 and report.ranked_by == "review_queue" and report.with_truth
    for well in listed:
        anchor = page.wells[well]
        assert anchor == well_anchor(well)
        strip = _png(page.filmstrips[anchor])  # two rows of 8 panels (prediction, then truth), 2x zoom
        assert strip.width >= 8 * 2 * 80 and strip.height >= 2 * 2 * 80
    assert page.plots == ["killing curves", "kinetics distributions"]
    assert not [r for r in page.refs if not r.startswith(("data:", "#"))]  # nothing outside the file
    wells = pd.read_parquet(chip.tables_dir / "well_outcomes" / f"{chip.chip_id}.parquet")
    counts = {row[0]: row[1] for row in page.tables["target-counts-table"] if row}
    assert int(counts["targets at frame 0"]) == int(wells["n_targets"].sum())
    assert int(counts["targets in the killing curves (n)"]) == int(wells["n_targets"].sum())
    assert len([r for r in page.tables["well_outcomes"] if r]) == len(wells)
    models = [r for r in page.tables["models-table"] if r]
    assert {(r[1], r[2]) for r in models} == {("locsnet", "3"), ("reid_embedding", "6"),
                                              ("celltype_classifier", "2"), ("apoptosis_classifier", "5")}


def test_report_html_parses_with_the_standard_library(report: ReportResult, chip: PipelineChip) -> None:
    assert report.path == chip.store.reports_dir / "report.html"
    _check_page(_parse(report.path.read_text()), report, chip)


def _browser() -> str | None:
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def test_report_renders_in_headless_chromium(report: ReportResult, chip: PipelineChip, tmp_path: Path) -> None:
    browser = _browser()
    if browser is None:
        pytest.skip("no headless Chromium on this machine (apt-get install -y chromium): the report was checked by "
                    "parsing its HTML with the standard library only (test_report_html_parses_with_the_standard_library)")
    text = report.path.read_text()
    columns = pd.read_parquet(chip.tables_dir / "well_outcomes" / f"{chip.chip_id}.parquet").columns
    shown = [c for c in columns if c not in ("chip_id", "segmenter_version", "reid_version", "celltype_version",
                                             "apoptosis_version")]
    header = shown.index("contact_frames") + 1
    clicked = tmp_path / "report.html"  # the report, with a click on a column header once the page has loaded
    clicked.write_text(text.replace("</body>", "<script>document.querySelector('#well_outcomes th:nth-child("
                                              f"{header})').click();</script></body>"))
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
               "--dump-dom", clicked.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and "</html>" in done.stdout, done.stderr[-2000:]
    page = _parse(done.stdout)
    _check_page(page, report, chip)
    assert page.numeric_cells > 100  # the page's script ran: numeric cells right-aligned
    values = [int(r[header - 1]) for r in page.tables["well_outcomes"] if r]
    assert values == sorted(values) and page.headers["well_outcomes"][header - 1].get("data-order") == "asc"


def test_the_review_queue_table_ranks_when_the_chip_has_one(chip: PipelineChip, tmp_path: Path) -> None:
    wells = pd.read_parquet(chip.tables_dir / "well_outcomes" / f"{chip.chip_id}.parquet")[["chip_id", "field_id",
                                                                                            "row", "col"]]
    queue = wells.assign(score=range(len(wells)), reasons=[f"reason {i}; second {i}" for i in range(len(wells))])
    path = chip.tables_dir / "review_queue" / f"{chip.chip_id}.parquet"
    original = path.read_bytes() if path.is_file() else None  # the pipeline's own queue, put back after
    write_chip_table(chip.tables_dir, "review_queue", chip.chip_id, queue)
    try:
        result = write_chip_report(chip.store, ReportParams(top=2, with_truth=False), out=tmp_path / "r.html")
        path.unlink()
        fallback = write_chip_report(chip.store, ReportParams(top=2, with_truth=False), out=tmp_path / "f.html")
    finally:
        if original is not None:
            path.write_bytes(original)
    assert fallback.ranked_by == "fallback" and len(fallback.wells) == 2
    best = queue.sort_values("score", ascending=False).head(2)
    assert result.ranked_by == "review_queue" and not result.with_truth
    assert [w.well for w in result.wells] == [f"{f}/r{r}c{c}" for f, r, c in best[["field_id", "row", "col"]].values]
    assert result.wells[0].reasons == (f"reason {len(wells) - 1}", f"second {len(wells) - 1}")
    text = (tmp_path / "r.html").read_text()
    assert "review_queue</code> table" in text and f"reason {len(wells) - 1}" in text


def test_qa_report_asset_writes_the_report_and_metadata_that_reads_well(chip: PipelineChip) -> None:
    root = chip.tables_dir.parent
    resources = build_resources(str(root))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(chips.name, [chip.chip_id])
        result = dg.materialize([qa_report], partition_key=chip.chip_id, instance=instance, resources=resources)
    assert result.success
    metadata = result.asset_materializations_for_node("qa_report")[0].metadata
    path = root / "reports" / chip.chip_id / "report.html"
    assert path.is_file() and str(path) in metadata["report"].value
    assert metadata["with_truth"].value is True and metadata["ranked_by"].value == "review_queue"
    assert metadata["wells_shown"].value == min(12, len(_parse(path.read_text()).wells))
    assert metadata["first_review_well"].value.startswith("![filmstrip of ")
    assert "| targets at frame 0 |" in metadata["counts"].value
    assert not [k for k, v in metadata.items() if isinstance(v, dg.PathMetadataValue) or k.endswith("_path")]
    assert not (root / "mlflow").exists()  # no registry was created to look the runs up
    assert re.search(r"\(not in this registry\)", path.read_text())
