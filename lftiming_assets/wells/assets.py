"""``well_grid`` (wells located over time) and ``well_movies`` (per-well OME-Zarr crops)."""

import base64
import time

import dagster as dg

from lftiming_assets.config import params_config, params_metadata
from lftiming_assets.models.assets import well_detector
from lftiming_assets.partitions import chips
from lftiming_assets.raw.assets import RAW_PREVIEW, raw_chip
from lftiming_assets.runs import step_label
from lftiming_assets.resources import ChipTables, FieldWorkers, LftimingStorage, ModelRegistry, ZarrStore
from lftiming_ml.chip import read_manifest, read_stack
from lftiming_ml.chip.manifest import ChannelRole
from lftiming_ml.viz import draw_boxes, png_bytes, stretch
from lftiming_ml.wells.config import WellGridParams
from lftiming_ml.wells.grid import chip_well_grid, chip_well_movies

WellGridConfig = params_config(WellGridParams, doc=(
    "Lattice fit and drift (used by well_grid) and crop resampling (used by well_movies) of every field: "
    "``lftiming_ml.wells.config.WellGridParams``. Give both assets the same values."))

def forget_new_chip(tables: ChipTables, storage: LftimingStorage, chip_id: str, *, what: str) -> None:
    """After a failed ``well_grid`` of a chip that never had one: remove what ``raw_chip``
    wrote (its ``chips`` row and preview), so a chip whose wells cannot be found leaves no
    trace. A chip with earlier outputs keeps them."""
    if tables.path("well_grid", chip_id).exists():
        return
    with tables.commit(chip_id, what=what) as commit:
        for path in (tables.path("chips", chip_id), storage.layout.chip(chip_id).reports_dir / RAW_PREVIEW):
            if path.exists():
                commit.remove(path)


GRID_CHECKS = [
    dg.AssetCheckSpec("full_lattice", asset="well_grid", description="Every field yields its full block of wells.",
                      partitions_def=chips),
    dg.AssetCheckSpec("drift_bounded", asset="well_grid", description="Per-frame stage drift is finite, small and has no jumps beyond the configured step.",
                      partitions_def=chips),
    dg.AssetCheckSpec("no_nan", asset="well_grid", description="No NaN well centre in any frame.", partitions_def=chips),
    dg.AssetCheckSpec("occupied_wells", asset="well_grid", partitions_def=chips, description=(
        "At least one well holds cells (a chip of empty wells has no cells to track and no outcomes).")),
]


@dg.asset(partitions_def=chips, group_name="wells", deps=[raw_chip, well_detector], kinds={"pytorch", "parquet"},
          check_specs=GRID_CHECKS)
def well_grid(context: dg.AssetExecutionContext, config: WellGridConfig, storage: LftimingStorage,
              registry: ModelRegistry, tables: ChipTables, workers: FieldWorkers) -> dg.MaterializeResult:
    """Detect wells on the reference frame (here), fit the lattice and follow the stage drift
    (one field per call in the ``workers`` pool)."""
    chip_id = context.partition_key
    params = config.to_params()
    chip_dir = storage.chip_dir(chip_id)
    manifest = read_manifest(chip_dir)
    start = time.perf_counter()
    try:
        detect, info = registry.well_detector()
        grid, problems = chip_well_grid(chip_dir, manifest, detect, params=params, pool=workers.pool())
    except Exception:
        forget_new_chip(tables, storage, chip_id, what=step_label(context, "well_grid failed"))
        raise
    seconds = time.perf_counter() - start
    grid["detector_version"] = info.version

    expected = manifest.layout.wells_per_block ** 2
    per_field = grid[grid.frame == 0].groupby("field_id").size().reindex([f.field_id for f in manifest.fields], fill_value=0)
    first = grid[(grid.frame == 0) & (grid.field_id == manifest.fields[0].field_id)]
    frame = stretch(read_stack(chip_dir, manifest, manifest.fields[0].field_id, ChannelRole.phase)[0])
    overlay = draw_boxes(frame, first[["y0", "x0", "y1", "x1"]].to_numpy(),
                         [(255, 200, 0) if o else (0, 160, 255) for o in first.occupied])
    preview = png_bytes(overlay, max_side=512)
    with tables.commit(chip_id, what=step_label(context, "well_grid")) as commit:
        commit.stage_file(storage.reports_dir(chip_id) / "well_grid.png", lambda path: path.write_bytes(preview))
        tables.write(chip_id, {"well_grid": grid})
    occupied = int(grid[grid.frame == 0].occupied.sum())
    return dg.MaterializeResult(
        metadata={
            "wells": int(len(grid[grid.frame == 0])), "occupied": occupied,
            "detector": f"well_detector v{info.version} ({info.alias})", "seconds": round(seconds, 1),
            "max_abs_drift_px": float(grid[["drift_dy", "drift_dx"]].abs().max().max()),
            "params": params_metadata(params),
            "preview": dg.MetadataValue.md(f"![wells (orange: occupied, blue: empty)](data:image/png;base64,{base64.b64encode(preview).decode()})"),
        },
        check_results=[
            dg.AssetCheckResult(check_name="full_lattice", passed=bool((per_field == expected).all()),
                                metadata={"wells_per_field": dg.MetadataValue.json(per_field.to_dict()), "expected": expected}),
            dg.AssetCheckResult(check_name="drift_bounded", passed=not any(problems.values()),
                                metadata={"problems": dg.MetadataValue.json(problems)}),
            dg.AssetCheckResult(check_name="no_nan", passed=not grid[["y", "x"]].isna().any().any()),
            dg.AssetCheckResult(check_name="occupied_wells", passed=occupied > 0, metadata={
                "occupied": occupied, "hint": "no well holds cells: the chip yields no tracks and no killing "
                                              "frequencies (NaN); check the loading, or the well detector's "
                                              "occupancy call on the preview"}),
        ],
    )


@dg.asset(partitions_def=chips, group_name="wells", deps=[well_grid], kinds={"zarr"})
def well_movies(context: dg.AssetExecutionContext, config: WellGridConfig, storage: LftimingStorage,
                zarr_store: ZarrStore, tables: ChipTables, workers: FieldWorkers) -> dg.MaterializeResult:
    """Per-well T x C x H x W crops at the canonical resolution, one OME-NGFF group per well;
    one field per call, run by the ``workers`` pool (not resumable per field: a re-run cuts
    every field again)."""
    chip_id = context.partition_key
    params = config.to_params()
    chip_dir = storage.chip_dir(chip_id)
    manifest = read_manifest(chip_dir)
    grid = tables.read("well_grid", chip_id)
    store = zarr_store.chip_store_path(chip_id)
    start = time.perf_counter()
    with tables.commit(chip_id, what=step_label(context, "well_movies")):
        infos = chip_well_movies(chip_dir, manifest, grid, store, params=params, pool=workers.pool())
    cropped = [i for i in infos if i.cropped]
    example = f"{store}/wells/{cropped[0].field_id}/r{cropped[0].row}c{cropped[0].col}" if cropped else str(store)
    return dg.MaterializeResult(metadata={
        "store": dg.MetadataValue.path(str(store)), "wells_recorded": len(infos), "wells_cropped": len(cropped),
        "seconds": round(time.perf_counter() - start, 1), "fields": workers.pool().last_run,
        "open_in_napari": dg.MetadataValue.md(f"`napari --plugin napari-ome-zarr {example}`"),
        "params": params_metadata(params),
    })
