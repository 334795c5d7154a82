"""``qa_report``: the chip's report, one self-contained HTML file (``lftiming_ml.qa.report``).

It reads the chip's tables and store after the outcome assets: counts, killing curves and
kinetics by E:T, the wells needing review with their filmstrips, the outcome tables and the
models (with MLflow run ids) that made them. Where the chip has ground truth (a simulated or
annotated chip) and ``with_truth`` is on, the filmstrips show the truth under the prediction:
the truth views come from ``lftiming_ml.evaluation.well_views`` (the report itself, like the
rest of the inference path, never reads ``gt/``).
"""

from functools import partial

import dagster as dg

from lftiming_assets.config import params_config, params_metadata
from lftiming_assets.interactions.assets import CONTACTS, KILLING, WELLS
from lftiming_assets.metadata import counts_markdown, png_markdown
from lftiming_assets.partitions import chips
from lftiming_assets.resources import LftimingStorage, ModelRegistry
from lftiming_ml.evaluation.well_views import chip_has_truth, truth_well_views
from lftiming_ml.qa.report import ReportParams, write_chip_report

ReportConfig = params_config(ReportParams)


@dg.asset(partitions_def=chips, group_name="qa", deps=[CONTACTS, WELLS, KILLING, "cell_types", "cell_deaths"],
          kinds={"html"})
def qa_report(context: dg.AssetExecutionContext, config: ReportConfig, storage: LftimingStorage,  # type: ignore[valid-type]
              registry: ModelRegistry) -> dg.MaterializeResult:
    """The chip's report at ``reports/<chip>/report.html`` (open it in a browser; images inline)."""
    params = config.to_params()
    chip = storage.layout.chip(context.partition_key)
    truth = partial(truth_well_views, chip) if params.with_truth and chip_has_truth(chip) else None
    result = write_chip_report(chip, params, tracking_uri=registry.tracking_uri, truth_views=truth)
    metadata: dict[str, object] = {
        "report": dg.MetadataValue.md(f"`{result.path}`\n\nOpen it in a browser (`xdg-open {result.path}`), or "
                                      f"run `lftiming report --chip {chip.chip_id}` to write it again."),
        "wells_shown": len(result.wells), "ranked_by": result.ranked_by, "with_truth": result.with_truth,
        "report_mb": round(result.n_bytes / 1e6, 2), "seconds": round(result.seconds, 1),
        "counts": dg.MetadataValue.md(counts_markdown(result.summary)), "params": params_metadata(params),
    }
    if result.first_filmstrip is not None:
        metadata["first_review_well"] = png_markdown(
            result.first_filmstrip, f"filmstrip of {result.wells[0].well}, the first well to review", max_side=1200)
    return dg.MaterializeResult(metadata=metadata)
