"""``review_queue``: every occupied well of a chip with a suspicion score and the reasons
behind it (``lftiming_ml.review``), after the interaction stage.

It reads the chip's ``cell_masks``, ``cell_tracks``, ``cell_types``, ``cell_deaths`` and
``well_outcomes`` tables, the well list of its Zarr store and, on chips with dye channels,
those channels inside each track's masks (never the phase channel); writes the
``review_queue`` table and a plot of the score distribution under ``reports/<chip>/``.
"""

import base64
from pathlib import Path

import dagster as dg
import pandas as pd

from lftiming_assets.config import params_config, params_metadata
from lftiming_assets.partitions import chips
from lftiming_assets.resources import ChipTables, FieldWorkers, LftimingStorage, ZarrStore
from lftiming_ml.interactions.outcomes import VERSION_COLUMNS
from lftiming_ml.review import queue as review
from lftiming_ml.review.config import ReviewParams
from lftiming_ml.review.fluorescence import chip_fluorescence_signals
from lftiming_ml.review.plots import score_distribution_png
from lftiming_ml.store.keys import WELL_KEYS

ReviewConfig = params_config(ReviewParams)
SHOWN_WELLS = 10


def _png_md(path: Path, caption: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(f"![{caption}](data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()})")


def reason_counts(queue: pd.DataFrame) -> dict[str, int]:
    """Signal name -> wells listing it among their reasons, most frequent first."""
    names = queue["reason_signals"].str.split(",").explode()
    return {str(k): int(v) for k, v in names[names.astype(bool)].value_counts().items()}


@dg.asset(partitions_def=chips, group_name="review", kinds={"parquet", "duckdb"},
          deps=["cell_masks", "cell_tracks", "cell_types", "cell_deaths", "well_outcomes", "killing_kinetics"],
          check_specs=[dg.AssetCheckSpec("one_row_per_occupied_well", asset="review_queue", partitions_def=chips, description=(
              "review_queue has exactly one row per well the well detector called occupied."))])
def review_queue(context: dg.AssetExecutionContext, config: ReviewConfig,  # type: ignore[valid-type]
                 storage: LftimingStorage, zarr_store: ZarrStore, tables: ChipTables,
                 workers: FieldWorkers) -> dg.MaterializeResult:
    """Per occupied well: suspicion score (estimated probability of an error), rank within the
    chip and reasons, from signals the pipeline already has (``lftiming_ml.review.signals``) and,
    on chips with dyes, the phase calls checked against the fluorescence (one field per call in
    the ``workers`` pool). Config: ``ReviewParams``."""
    chip_id, params = context.partition_key, config.to_params()
    inputs = {name: tables.read(name, chip_id) for name in review.REVIEW_INPUTS}
    store = zarr_store.chip_store_path(chip_id)
    wells = review.occupied_wells(store)
    fluorescence = chip_fluorescence_signals(store, wells, inputs["cell_types"], inputs["cell_deaths"], params,
                                             pool=workers.pool())
    queue = review.review_queue(wells, inputs, fluorescence, params=params)
    tables.write(chip_id, {"review_queue": queue})
    png = score_distribution_png(queue, storage.reports_dir(chip_id) / "review_scores.png",
                                 title=f"{chip_id}: review queue, {len(queue)} occupied wells")
    keys = queue[WELL_KEYS]
    one_each = len(queue) == len(wells) and not keys.duplicated().any() and \
        set(map(tuple, keys.to_numpy().tolist())) == set(map(tuple, wells[WELL_KEYS].to_numpy().tolist()))
    top = queue.head(SHOWN_WELLS)[["queue_rank", "field_id", "row", "col", "score", "reasons"]]
    return dg.MaterializeResult(
        metadata={"wells_queued": len(queue), "fluorescence_checked": fluorescence is not None,
                  "wells_with_reasons": int((queue["n_reasons"] > 0).sum()),
                  "top_reasons": dg.MetadataValue.json(reason_counts(queue)),
                  "median_score": float(queue["score"].median()) if len(queue) else float("nan"),
                  "top_wells": dg.MetadataValue.md(top.round(3).to_markdown(index=False)),
                  "score_distribution": _png_md(png, "review scores"),
                  "score_distribution_png": dg.MetadataValue.path(str(png)),
                  **{c: int(queue[c].iloc[0]) if len(queue) else -1 for c in VERSION_COLUMNS},
                  "params": params_metadata(params)},
        check_results=[dg.AssetCheckResult(check_name="one_row_per_occupied_well", passed=bool(one_each), metadata={
            "occupied_wells": len(wells), "rows": len(queue),
            "hint": "duplicate or missing wells: re-materialize the chip's well_movies and what follows"})])
