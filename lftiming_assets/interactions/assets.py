"""``contacts`` (per-frame contacts and contact events), ``well_outcomes`` (per well, target and
effector) and ``killing_kinetics`` (per interaction, killing frequency, survival, plots).

Inputs are the ``cell_tracks``, ``cell_types`` and ``cell_deaths`` tables and the track
masks of the chip's store (``lftiming_ml.interactions.pipeline_inputs``); every table is
per-chip Parquet exposed in the DuckDB database (``docs/tables.md``).
"""

import base64
import time

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from lftiming_assets.partitions import chips
from lftiming_assets.resources import LftimingStorage, ZarrStore, refresh_views
from lftiming_ml.interactions import checks
from lftiming_ml.store.keys import PAIR_KEYS, WELL_KEYS
from lftiming_ml.interactions.config import SEGMENTED_MASK_TOLERANCE_UM, ContactParams
from lftiming_ml.interactions.outcomes import contact_tables, killing_tables, well_tables
from lftiming_ml.interactions.pipeline_inputs import INPUT_TABLES, PipelineInputs, pipeline_inputs
from lftiming_ml.interactions.plots import killing_curves_png, kinetics_distributions_png
from lftiming_ml.store.tables import chip_table_path, write_chip_table

CONTACT_CHECKS = [
    dg.AssetCheckSpec("no_negative_durations", asset="contacts",
                      description="Every contact event ends at or after its onset and lasts at least one frame."),
    dg.AssetCheckSpec("one_row_per_pair_frame", asset="contacts",
                      description="The contacts table has one row per well, frame, effector and target."),
]
WELL_CHECKS = [
    dg.AssetCheckSpec("one_row_per_well", asset="well_outcomes", description="One well_outcomes row per well."),
    dg.AssetCheckSpec("t_death_only_for_killed", asset="well_outcomes",
                      description="target_outcomes: t_death_min is set exactly for killed targets."),
]
KILLING_CHECKS = [
    dg.AssetCheckSpec("one_row_per_interaction", asset="killing_kinetics",
                      description="killing_kinetics has one row per (well, effector, target) interaction."),
    dg.AssetCheckSpec("no_negative_durations", asset="killing_kinetics",
                      description="tSeek, tContact and tDeath are never negative (tSeek, tContact never NaN)."),
    dg.AssetCheckSpec("t_death_only_for_killed", asset="killing_kinetics",
                      description="t_death_min is set exactly for interactions whose effector killed the target."),
]


def _inputs(storage: LftimingStorage, zarr_store: ZarrStore, chip_id: str) -> PipelineInputs:
    return pipeline_inputs(storage.chip_dir(chip_id), storage.tables_dir, zarr_store.chip_store_path(chip_id))


def _read(storage: LftimingStorage, table: str, chip_id: str) -> pd.DataFrame:
    return pd.read_parquet(chip_table_path(storage.tables_dir, table, chip_id))


def _write(storage: LftimingStorage, duckdb: DuckDBResource, chip_id: str, tables: dict[str, pd.DataFrame]) -> None:
    for name, df in tables.items():
        write_chip_table(storage.tables_dir, name, chip_id, df)
    refresh_views(duckdb, storage)


def _check(name: str, problems: checks.Problems, hint: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(check_name=name, passed=problems.passed, metadata={
        "offending_rows": problems.n, "examples": dg.MetadataValue.json(problems.examples), "hint": hint})


def _png_md(path, caption: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(f"![{caption}](data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()})")


class ContactsConfig(dg.Config):
    """Contact definition; the rest of ``ContactParams`` keeps its defaults."""

    tolerance_um: float = SEGMENTED_MASK_TOLERANCE_UM  # boundary gap still counted as contact (um)


@dg.asset(partitions_def=chips, group_name="interactions", deps=list(INPUT_TABLES), kinds={"parquet", "duckdb"},
          check_specs=CONTACT_CHECKS)
def contacts(context: dg.AssetExecutionContext, config: ContactsConfig, storage: LftimingStorage,
             zarr_store: ZarrStore, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Effector-target contacts per frame (mask overlap or boundary gap within ``tolerance_um``,
    default ``SEGMENTED_MASK_TOLERANCE_UM``) and contact events (onset, duration, partner):
    tables ``contacts`` and ``contact_events``."""
    chip_id = context.partition_key
    start = time.perf_counter()
    inputs = _inputs(storage, zarr_store, chip_id)
    tables = contact_tables(inputs.tracks, inputs.masks, inputs.timing, inputs.versions,
                            params=ContactParams(tolerance_um=config.tolerance_um))
    _write(storage, duckdb, chip_id, tables)
    frames, events = tables["contacts"], tables["contact_events"]
    return dg.MaterializeResult(
        metadata={"tolerance_um": config.tolerance_um, "pair_frames": len(frames),
                  "contact_pair_frames": int(frames["in_contact"].sum()),
                  "contact_events": len(events), "wells_with_pairs": int(frames[WELL_KEYS].drop_duplicates().shape[0]),
                  "pixel_size_um": inputs.timing.pixel_size_um, "seconds": round(time.perf_counter() - start, 1),
                  **inputs.versions},
        check_results=[
            _check("no_negative_durations", checks.negative_event_durations(events),
                   "a contact event runs backwards: the contact_events builder is broken, report it"),
            _check("one_row_per_pair_frame", checks.duplicate_rows(frames, [*PAIR_KEYS, "frame"]),
                   "duplicate track ids or duplicate cell_tracks rows: re-materialize cell_tracks")])


@dg.asset(partitions_def=chips, group_name="interactions", deps=[contacts, "cell_types", "cell_deaths"],
          kinds={"parquet", "duckdb"}, check_specs=WELL_CHECKS)
def well_outcomes(context: dg.AssetExecutionContext, storage: LftimingStorage, zarr_store: ZarrStore,
                  duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Per well (E:T group, contacts, kills), per target (seek, death, killer, survival) and per
    effector (speed, kills, serial killing): ``well_outcomes``, ``target_outcomes``,
    ``effector_kinetics``."""
    chip_id = context.partition_key
    inputs = _inputs(storage, zarr_store, chip_id)
    tables = well_tables(inputs.tracks, _read(storage, "contacts", chip_id), _read(storage, "contact_events", chip_id),
                         inputs.timing, inputs.versions)
    _write(storage, duckdb, chip_id, tables)
    wells, targets, effectors = tables["well_outcomes"], tables["target_outcomes"], tables["effector_kinetics"]
    return dg.MaterializeResult(
        metadata={"wells": len(wells), "targets": len(targets), "effectors": len(effectors),
                  "wells_with_kill": int(wells["killed_any"].sum()), "targets_killed": int(targets["killed"].sum()),
                  "serial_killers": int(effectors["serial_killer"].sum()),
                  "et_groups": dg.MetadataValue.json(wells["et_group"].value_counts().to_dict()), **inputs.versions},
        check_results=[
            _check("one_row_per_well", checks.duplicate_rows(wells, WELL_KEYS),
                   "duplicate wells in cell_tracks: re-materialize cell_tracks"),
            _check("t_death_only_for_killed", checks.t_death_not_killed(targets, "target_id"),
                   "the killing attribution is inconsistent: report it with these rows")])


@dg.asset(partitions_def=chips, group_name="interactions", deps=[well_outcomes, contacts],
          kinds={"parquet", "duckdb"}, check_specs=KILLING_CHECKS)
def killing_kinetics(context: dg.AssetExecutionContext, storage: LftimingStorage, zarr_store: ZarrStore,
                     duckdb: DuckDBResource) -> dg.MaterializeResult:
    """TIMING kinetics per interaction (tSeek, tContact, tDeath, killed), killing frequency by
    E:T group with 95% CIs and Kaplan-Meier target survival, with plots under
    ``reports/<chip>/``: ``killing_kinetics``, ``killing_frequency``, ``target_survival``."""
    chip_id = context.partition_key
    inputs = _inputs(storage, zarr_store, chip_id)
    tables = killing_tables(inputs.tracks, _read(storage, "contact_events", chip_id),
                            _read(storage, "well_outcomes", chip_id), _read(storage, "target_outcomes", chip_id),
                            inputs.timing, inputs.versions)
    _write(storage, duckdb, chip_id, tables)
    interactions, frequency = tables["killing_kinetics"], tables["killing_frequency"]
    reports = storage.reports_dir(chip_id)
    curves = killing_curves_png(tables["target_survival"], reports / "killing_curves.png",
                                title=f"{chip_id}: target death by E:T group (Kaplan-Meier, 95% CI)")
    dists = kinetics_distributions_png(interactions, reports / "kinetics_distributions.png",
                                       title=f"{chip_id}: TIMING kinetics")
    shown = frequency.loc[frequency["unit"] == "well", ["et_group", "n", "n_killed", "frequency", "ci_low", "ci_high"]]
    return dg.MaterializeResult(
        metadata={"interactions": len(interactions), "killed": int(interactions["killed"].sum()),
                  "median_t_seek_min": float(interactions["t_seek_min"].median()),
                  "median_t_contact_min": float(interactions["t_contact_min"].median()),
                  "median_t_death_min": float(interactions["t_death_min"].median()),
                  "killing_frequency": dg.MetadataValue.md(shown.round(3).to_markdown(index=False)),
                  "killing_curves": _png_md(curves, "killing curves by E:T group"),
                  "kinetics_distributions": _png_md(dists, "tSeek, tContact, tDeath"),
                  "killing_curves_png": dg.MetadataValue.path(str(curves)),
                  "kinetics_distributions_png": dg.MetadataValue.path(str(dists)), **inputs.versions},
        check_results=[
            _check("one_row_per_interaction", checks.duplicate_rows(interactions, PAIR_KEYS),
                   "duplicate contact events of a pair: re-materialize contacts"),
            _check("no_negative_durations", checks.negative_kinetics(interactions),
                   "a kinetics time is negative: check the death frames of cell_deaths for these targets"),
            _check("t_death_only_for_killed", checks.t_death_not_killed(interactions, "target_id"),
                   "the killing attribution is inconsistent: report it with these rows")])
