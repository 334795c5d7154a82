"""The outcome tables of one chip, as the assets write them (``docs/tables.md``).

Three steps, one per asset, each returning table name -> DataFrame:

- ``contact_tables``: ``contacts`` (per pair per frame) and ``contact_events``.
- ``well_tables``: ``well_outcomes``, ``target_outcomes``, ``effector_kinetics``.
- ``killing_tables``: ``killing_kinetics`` (per interaction), ``killing_frequency`` (by
  E:T group, both units, Wilson CIs) and ``target_survival`` (Kaplan-Meier by E:T group).

Every row carries ``chip_id`` and the ``VERSION_COLUMNS`` of the models behind it
(``stamp``); ``unstamp`` drops the versions again when a table is read back as input.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from lftiming_ml.interactions.config import SEGMENTED_MASK_TOLERANCE_UM, ContactParams, KineticsParams
from lftiming_ml.interactions.contacts import contact_events, contact_frames
from lftiming_ml.interactions.timing import ChipTiming
from lftiming_ml.interactions.kinetics import chip_kinetics, interaction_kinetics, killing_frequency
from lftiming_ml.interactions.survival import survival_by_group

VERSION_COLUMNS = ["segmenter_version", "reid_version", "celltype_version", "apoptosis_version"]
"""The model versions stamped on every outcome row: LOCSNET (the masks behind the tracks), the
re-identification embedding (the tracks' appearance term), the cell-type and apoptosis classifiers."""
CONTACT_TABLES = ("contacts", "contact_events")
WELL_TABLES = ("well_outcomes", "target_outcomes", "effector_kinetics")
KILLING_TABLES = ("killing_kinetics", "killing_frequency", "target_survival")


def stamp(df: pd.DataFrame, chip_id: str, versions: Mapping[str, int]) -> pd.DataFrame:
    """``df`` with chip_id as its first column and the ``VERSION_COLUMNS`` (int64) last."""
    missing = set(VERSION_COLUMNS) - set(versions)
    if missing:
        raise ValueError(f"model versions missing: {sorted(missing)}")
    out = df.drop(columns=[c for c in ["chip_id", *VERSION_COLUMNS] if c in df.columns])
    out.insert(0, "chip_id", pd.Series(chip_id, index=out.index, dtype="object"))
    for column in VERSION_COLUMNS:
        out[column] = pd.Series(int(versions[column]), index=out.index, dtype="int64")
    return out


def unstamp(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` without the ``VERSION_COLUMNS`` (as the library's functions expect it)."""
    return df.drop(columns=[c for c in VERSION_COLUMNS if c in df.columns])


def contact_tables(tracks: pd.DataFrame, masks: Mapping, timing: ChipTiming, versions: Mapping[str, int], *,
                   params: ContactParams = ContactParams(tolerance_um=SEGMENTED_MASK_TOLERANCE_UM),
                   ) -> dict[str, pd.DataFrame]:
    """``contacts`` and ``contact_events`` of one chip (``contacts`` module doc), stamped.
    ``masks`` are the segmenter's, hence the default tolerance ``SEGMENTED_MASK_TOLERANCE_UM``."""
    frames = contact_frames(tracks, masks, pixel_size_um=timing.pixel_size_um, params=params)
    events = contact_events(frames, frame_interval_min=timing.frame_interval_min, params=params)
    return {"contacts": stamp(frames, timing.chip_id, versions),
            "contact_events": stamp(events, timing.chip_id, versions)}


def well_tables(tracks: pd.DataFrame, frames: pd.DataFrame, events: pd.DataFrame, timing: ChipTiming,
                versions: Mapping[str, int], *, params: KineticsParams = KineticsParams()) -> dict[str, pd.DataFrame]:
    """``well_outcomes``, ``target_outcomes`` and ``effector_kinetics`` (``kinetics`` module doc).

    frames, events: the chip's ``contacts`` and ``contact_events`` (stamped or not).
    """
    tables = chip_kinetics(tracks, unstamp(frames), unstamp(events), pixel_size_um=timing.pixel_size_um,
                           frame_interval_min=timing.frame_interval_min, n_frames=timing.n_frames, params=params)
    return {"well_outcomes": stamp(tables.wells, timing.chip_id, versions),
            "target_outcomes": stamp(tables.targets, timing.chip_id, versions),
            "effector_kinetics": stamp(tables.effectors, timing.chip_id, versions)}


def killing_tables(tracks: pd.DataFrame, events: pd.DataFrame, wells: pd.DataFrame, targets: pd.DataFrame,
                   timing: ChipTiming, versions: Mapping[str, int], *,
                   params: KineticsParams = KineticsParams()) -> dict[str, pd.DataFrame]:
    """``killing_kinetics`` (one row per interaction), ``killing_frequency`` (per E:T group
    and unit 'well' / 'target', Wilson CIs) and ``target_survival`` (Kaplan-Meier per group).

    events, wells, targets: the chip's ``contact_events``, ``well_outcomes`` and
    ``target_outcomes`` (stamped or not).
    """
    wells, targets = unstamp(wells), unstamp(targets)
    interactions = interaction_kinetics(unstamp(events), tracks, frame_interval_min=timing.frame_interval_min)
    frequency = pd.concat([killing_frequency(wells, targets, params=params.model_copy(update={"killing_unit": u}))
                           for u in ("well", "target")], ignore_index=True)
    survival = survival_by_group(targets, wells, ci_level=params.ci_level)
    return {"killing_kinetics": stamp(interactions, timing.chip_id, versions),
            "killing_frequency": stamp(frequency, timing.chip_id, versions),
            "target_survival": stamp(survival, timing.chip_id, versions)}
