"""``contacts`` (per-frame contacts and contact events), ``well_outcomes`` (per well, target and
effector) and ``killing_kinetics`` (per interaction, killing frequency, survival, plots): one
``@dg.multi_asset`` named ``interactions``.

Inputs are the ``cell_tracks``, ``cell_types`` and ``cell_deaths`` tables joined, and the track
masks of the chip's store (``lftiming_ml.interactions.pipeline_inputs``); every table is
per-chip Parquet exposed in the DuckDB database (``docs/tables.md``).

Why one multi-asset rather than an intermediate ``interaction_inputs`` asset: all three need
the same inputs, which are quick to build in memory but awkward to persist (the masks are a
lazy view of the Zarr store; an intermediate asset would need an IO manager pickling the
joined table and store handles between steps, a new node in the UI and in every job, and a
copy to keep in step with the three tables it is made of). One step per chip builds them
once and hands each asset's tables to the next in memory. The three asset keys, their checks
and their tables are unchanged, so jobs, the sensor and SQL views see no difference. The
multi-asset can be subset: materializing ``killing_kinetics`` alone (say with other
kinetics params) reads the ``contact_events``, ``well_outcomes`` and ``target_outcomes``
tables it needs from the chip's tables.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from lftiming_assets.config import params_config, params_metadata
from lftiming_assets.metadata import counts_markdown, models_markdown, png_markdown
from lftiming_assets.partitions import chips
from lftiming_assets.resources import ChipTables, LftimingStorage, ZarrStore
from lftiming_ml.interactions import checks
from lftiming_ml.interactions.config import SEGMENTED_MASK_TOLERANCE_UM, ContactParams, KineticsParams
from lftiming_ml.store.keys import PAIR_KEYS, WELL_KEYS
from lftiming_ml.interactions.outcomes import contact_tables, killing_tables, well_tables
from lftiming_ml.interactions.pipeline_inputs import INPUT_TABLES, PipelineInputs, pipeline_inputs
from lftiming_ml.interactions.plots import killing_curves_png, kinetics_distributions_png
from lftiming_ml.qa.report_data import OUTCOME_VERSION_COLUMNS, target_counts

CONTACTS, WELLS, KILLING = dg.AssetKey("contacts"), dg.AssetKey("well_outcomes"), dg.AssetKey("killing_kinetics")
SPECS = [
    dg.AssetSpec(CONTACTS, deps=list(INPUT_TABLES), kinds={"parquet", "duckdb"}, description=(
        "Effector-target contacts per frame (mask overlap or boundary gap within ``contact.tolerance_um``, "
        "default ``SEGMENTED_MASK_TOLERANCE_UM``) and contact events (onset, duration, partner): tables "
        "``contacts`` and ``contact_events``.")),
    dg.AssetSpec(WELLS, deps=[CONTACTS, "cell_types", "cell_deaths"], kinds={"parquet", "duckdb"}, description=(
        "Per well (E:T group, contacts, kills), per target (seek, death, killer, survival) and per effector "
        "(speed, kills, serial killing): ``well_outcomes``, ``target_outcomes``, ``effector_kinetics``.")),
    dg.AssetSpec(KILLING, deps=[WELLS, CONTACTS], kinds={"parquet", "duckdb"}, description=(
        "TIMING kinetics per interaction (tSeek, tContact, tDeath, killed), killing frequency by E:T group "
        "with 95% CIs and Kaplan-Meier target survival, with plots under ``reports/<chip>/``: "
        "``killing_kinetics``, ``killing_frequency``, ``target_survival``.")),
]
CHECKS = [
    dg.AssetCheckSpec("no_negative_durations", asset=CONTACTS, partitions_def=chips,
                      description="Every contact event ends at or after its onset and lasts at least one frame."),
    dg.AssetCheckSpec("one_row_per_pair_frame", asset=CONTACTS, partitions_def=chips,
                      description="The contacts table has one row per well, frame, effector and target."),
    dg.AssetCheckSpec("one_row_per_well", asset=WELLS, partitions_def=chips, description="One well_outcomes row per well."),
    dg.AssetCheckSpec("t_death_only_for_killed", asset=WELLS, partitions_def=chips,
                      description="target_outcomes: t_death_min is set exactly for killed targets."),
    dg.AssetCheckSpec("one_row_per_interaction", asset=KILLING, partitions_def=chips,
                      description="killing_kinetics has one row per (well, effector, target) interaction."),
    dg.AssetCheckSpec("no_negative_durations", asset=KILLING, partitions_def=chips,
                      description="tSeek, tContact and tDeath are never negative (tSeek, tContact never NaN)."),
    dg.AssetCheckSpec("t_death_only_for_killed", asset=KILLING, partitions_def=chips,
                      description="t_death_min is set exactly for interactions whose effector killed the target."),
]

ContactConfig = params_config(ContactParams, defaults={"tolerance_um": SEGMENTED_MASK_TOLERANCE_UM}, doc=(
    "Contact definition (``lftiming_ml.interactions.config.ContactParams``); tolerance_um defaults to "
    "SEGMENTED_MASK_TOLERANCE_UM, the allowance for segmenter masks, not the library's 0.5 um for true masks."))
KineticsConfig = params_config(KineticsParams)


class InteractionsConfig(dg.Config):
    """Parameters of the interaction stage; the defaults are the pipeline's."""

    contact: ContactConfig = Field(default_factory=ContactConfig, description="Used by contacts.")  # type: ignore[valid-type]
    kinetics: KineticsConfig = Field(default_factory=KineticsConfig,  # type: ignore[valid-type]
                                     description="Used by well_outcomes and killing_kinetics.")


def build_inputs(storage: LftimingStorage, zarr_store: ZarrStore, tables: ChipTables, chip_id: str) -> PipelineInputs:
    """The chip's joined track table, track masks, timing and model versions (once per run)."""
    return pipeline_inputs(storage.chip_dir(chip_id), Path(tables.tables_dir), zarr_store.chip_store_path(chip_id))


def _check(asset: dg.AssetKey, name: str, problems: checks.Problems, hint: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(asset_key=asset, check_name=name, passed=problems.passed, metadata={
        "offending_rows": problems.n, "examples": dg.MetadataValue.json(problems.examples), "hint": hint})


def _models(versions: dict[str, int]) -> dg.MetadataValue:
    """The model versions stamped on every row (text: versions are not a series to plot)."""
    return models_markdown({column.removesuffix("_version"): (OUTCOME_VERSION_COLUMNS[column], version)
                            for column, version in versions.items()})


@dg.multi_asset(name="interactions", specs=SPECS, check_specs=CHECKS, partitions_def=chips,
                group_name="interactions", can_subset=True)
def interactions(context: dg.AssetExecutionContext, config: InteractionsConfig, storage: LftimingStorage,
                 zarr_store: ZarrStore, tables: ChipTables) -> Iterator[dg.MaterializeResult]:
    """The selected ones of contacts -> well_outcomes -> killing_kinetics of one chip, from
    inputs built once; an asset not selected is read from the chip's tables where needed."""
    chip_id, selected = context.partition_key, context.selected_asset_keys
    contact, kinetics = config.contact.to_params(), config.kinetics.to_params()
    start = time.perf_counter()
    inputs = build_inputs(storage, zarr_store, tables, chip_id)
    done: dict[str, pd.DataFrame] = {}

    def table(name: str) -> pd.DataFrame:  # written by this run, else the chip's stored table
        return done[name] if name in done else tables.read(name, chip_id)

    if CONTACTS in selected:
        done |= _write(tables, chip_id, contact_tables(inputs.tracks, inputs.masks, inputs.timing, inputs.versions,
                                                       params=contact))
        yield _result(context, CONTACTS, *contacts_outcome(done, inputs, contact, time.perf_counter() - start))
    if WELLS in selected:
        done |= _write(tables, chip_id, well_tables(inputs.tracks, table("contacts"), table("contact_events"),
                                                    inputs.timing, inputs.versions, params=kinetics))
        yield _result(context, WELLS, *wells_outcome(done, inputs, kinetics))
    if KILLING in selected:
        done |= _write(tables, chip_id, killing_tables(inputs.tracks, table("contact_events"), table("well_outcomes"),
                                                       table("target_outcomes"), inputs.timing, inputs.versions,
                                                       params=kinetics))
        yield _result(context, KILLING, *killing_outcome(done, inputs, kinetics, storage.reports_dir(chip_id), chip_id,
                                                         table("well_outcomes"), table("target_outcomes")))


def _write(tables: ChipTables, chip_id: str, new: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    tables.write(chip_id, new)  # one asset's tables, then the views once
    return new


def _result(context: dg.AssetExecutionContext, asset: dg.AssetKey, metadata: dict[str, object],
            check_results: list[dg.AssetCheckResult]) -> dg.MaterializeResult:
    selected = context.selected_asset_check_keys
    return dg.MaterializeResult(asset_key=asset, metadata=metadata, check_results=[
        c for c in check_results if dg.AssetCheckKey(asset, c.check_name) in selected])


def contacts_outcome(done: dict[str, pd.DataFrame], inputs: PipelineInputs, params: ContactParams,
                     seconds: float) -> tuple[dict[str, object], list[dg.AssetCheckResult]]:
    """Metadata and checks of ``contacts``."""
    frames, events = done["contacts"], done["contact_events"]
    metadata = {"tolerance_um": params.tolerance_um, "pair_frames": len(frames),
                "contact_pair_frames": int(frames["in_contact"].sum()), "contact_events": len(events),
                "wells_with_pairs": int(frames[WELL_KEYS].drop_duplicates().shape[0]),
                "pixel_size_um": inputs.timing.pixel_size_um, "seconds": round(seconds, 1),
                "models": _models(inputs.versions), "params": params_metadata(params)}
    return metadata, [
        _check(CONTACTS, "no_negative_durations", checks.negative_event_durations(events),
               "a contact event runs backwards: the contact_events builder is broken, report it"),
        _check(CONTACTS, "one_row_per_pair_frame", checks.duplicate_rows(frames, [*PAIR_KEYS, "frame"]),
               "duplicate track ids or duplicate cell_tracks rows: re-materialize cell_tracks")]


def wells_outcome(done: dict[str, pd.DataFrame], inputs: PipelineInputs, params: KineticsParams
                  ) -> tuple[dict[str, object], list[dg.AssetCheckResult]]:
    """Metadata and checks of ``well_outcomes``."""
    wells, targets, effectors = done["well_outcomes"], done["target_outcomes"], done["effector_kinetics"]
    metadata = {"wells": len(wells), "targets_at_frame_0": int(wells["n_targets"].sum()),
                "target_tracks": len(targets), "target_tracks_killed": int(targets["killed"].sum()),
                "effector_tracks": len(effectors), "wells_with_kill": int(wells["killed_any"].sum()),
                "serial_killers": int(effectors["serial_killer"].sum()),
                "target_counts": dg.MetadataValue.md(counts_markdown(target_counts(targets, wells, None))),
                "et_groups": dg.MetadataValue.json(wells["et_group"].value_counts().to_dict()),
                "models": _models(inputs.versions), "params": params_metadata(params)}
    return metadata, [
        _check(WELLS, "one_row_per_well", checks.duplicate_rows(wells, WELL_KEYS),
               "duplicate wells in cell_tracks: re-materialize cell_tracks"),
        _check(WELLS, "t_death_only_for_killed", checks.t_death_not_killed(targets, "target_id"),
               "the killing attribution is inconsistent: report it with these rows")]


def killing_outcome(done: dict[str, pd.DataFrame], inputs: PipelineInputs, params: KineticsParams, reports: Path,
                    chip_id: str, wells: pd.DataFrame, targets: pd.DataFrame
                    ) -> tuple[dict[str, object], list[dg.AssetCheckResult]]:
    """Plots under ``reports``, metadata and checks of ``killing_kinetics``; ``wells`` and
    ``targets``: the chip's ``well_outcomes`` and ``target_outcomes`` (for the counts)."""
    interactions, frequency = done["killing_kinetics"], done["killing_frequency"]
    curves = killing_curves_png(done["target_survival"], reports / "killing_curves.png",
                                title=f"{chip_id}: target death by E:T group (Kaplan-Meier, 95% CI)")
    dists = kinetics_distributions_png(interactions, reports / "kinetics_distributions.png",
                                       title=f"{chip_id}: TIMING kinetics")
    shown = frequency.loc[frequency["unit"] == "well", ["et_group", "n", "n_killed", "frequency", "ci_low", "ci_high"]]
    metadata = {"interactions": len(interactions), "killed": int(interactions["killed"].sum()),
                "median_t_seek_min": float(interactions["t_seek_min"].median()),
                "median_t_contact_min": float(interactions["t_contact_min"].median()),
                "median_t_death_min": float(interactions["t_death_min"].median()),
                "killing_frequency": dg.MetadataValue.md(shown.round(3).to_markdown(index=False)),
                "killing_curves": png_markdown(curves.read_bytes(), "killing curves by E:T group"),
                "kinetics_distributions": png_markdown(dists.read_bytes(), "tSeek, tContact, tDeath"),
                "target_counts": dg.MetadataValue.md(counts_markdown(
                    target_counts(targets, wells, done["target_survival"], frequency))),
                "models": _models(inputs.versions), "params": params_metadata(params)}
    return metadata, [
        _check(KILLING, "one_row_per_interaction", checks.duplicate_rows(interactions, PAIR_KEYS),
               "duplicate contact events of a pair: re-materialize contacts"),
        _check(KILLING, "no_negative_durations", checks.negative_kinetics(interactions),
               "a kinetics time is negative: check the death frames of cell_deaths for these targets"),
        _check(KILLING, "t_death_only_for_killed", checks.t_death_not_killed(interactions, "target_id"),
               "the killing attribution is inconsistent: report it with these rows")]
