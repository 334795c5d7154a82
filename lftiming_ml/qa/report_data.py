"""The numbers of a chip's report, from its tables: summary, target counts reconciled,
kinetics by E:T group, and the models (with their MLflow runs) that made the outputs.

Every count is computed from one table and says which; where two tables count "targets"
differently, ``target_counts`` puts the counts side by side with the reason (targets
present at frame 0 vs every target track; any death vs a death attributed to an effector).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lftiming_ml.metrics.strata import STRATA
from lftiming_ml.store.keys import WELL_KEYS
from lftiming_ml.store.layout import ChipStore
from lftiming_ml.store.tables import read_chip_table

MODEL_SOURCES = (
    ("wells", "well_grid", "detector_version", "well_detector"),
    ("segmentation", "cell_masks", "model_version", "locsnet"),
    ("tracking (re-identification)", "cell_tracks", "reid_version", "reid_embedding"),
    ("cell type", "cell_types", "model_version", "celltype_classifier"),
    ("death", "cell_deaths", "model_version", "apoptosis_classifier"),
)
"""(stage, table, version column, registered model name): where each model's version is stamped."""
OUTCOME_VERSION_COLUMNS = {"segmenter_version": "locsnet", "reid_version": "reid_embedding",
                           "celltype_version": "celltype_classifier", "apoptosis_version": "apoptosis_classifier"}
"""The outcome tables' stamp columns and the model each names."""


def read_table(chip: ChipStore, table: str, columns: list[str] | None = None) -> pd.DataFrame | None:
    """The chip's rows of ``table``, or None when it has not been written."""
    return read_chip_table(chip.tables_dir, table, chip.chip_id, columns) if chip.table_path(table).is_file() else None


@dataclass(frozen=True)
class Count:
    """One number of the report: ``what``, its ``value``, the ``source`` table (or query) and
    ``note`` (what it includes, or why it differs from a similar count)."""

    what: str
    value: int | float | str
    source: str
    note: str = ""


def chip_summary(chip: ChipStore) -> list[Count]:
    """Wells, tracks, cells, contacts, interactions and kills of the chip (tables missing are skipped)."""
    out = []
    grid = read_table(chip, "well_grid", ["field_id", "row", "col", "frame", "occupied"])
    if grid is not None:
        first = grid[grid["frame"] == grid["frame"].min()]
        out += [Count("wells found", len(first), "well_grid (frame 0)"),
                Count("wells occupied", int(first["occupied"].sum()), "well_grid (frame 0)")]
    tracks = read_table(chip, "cell_tracks", [*WELL_KEYS, "track_id", "source"])
    if tracks is not None:
        out += [Count("wells with tracks", int(tracks[WELL_KEYS].drop_duplicates().shape[0]), "cell_tracks"),
                Count("tracks", int(tracks.groupby(WELL_KEYS + ["track_id"]).ngroups), "cell_tracks"),
                Count("interpolated track-frames", int((tracks["source"] == "interpolated").sum()), "cell_tracks",
                      "frames where a track was filled in, not detected")]
    types = read_table(chip, "cell_types", ["cell_type"])
    if types is not None:
        out += [Count("effector tracks", int((types["cell_type"] == "effector").sum()), "cell_types",
                      "every track, including those that start after frame 0"),
                Count("target tracks", int((types["cell_type"] == "target").sum()), "cell_types",
                      "every track, including those that start after frame 0")]
    events = read_table(chip, "contact_events", ["onset_frame"])
    if events is not None:
        out.append(Count("contact events", len(events), "contact_events"))
    kinetics = read_table(chip, "killing_kinetics", ["killed"])
    if kinetics is not None:
        out += [Count("interactions (effector-target pairs in contact)", len(kinetics), "killing_kinetics"),
                Count("interactions ending in a kill", int(kinetics["killed"].sum()), "killing_kinetics")]
    return out


def target_counts(targets: pd.DataFrame, wells: pd.DataFrame, survival: pd.DataFrame | None,
                  frequency: pd.DataFrame | None = None) -> list[Count]:
    """The chip's target counts side by side, each with what it includes.

    targets: ``target_outcomes`` (one row per target track: loaded, died, killed);
    wells: ``well_outcomes`` (n_targets: targets at frame 0; n_targets_died / n_targets_killed:
    every target track of the well); survival: ``target_survival`` (the curve 'all');
    frequency: ``killing_frequency`` (its 'all' rows of unit 'target' and 'well').
    """
    loaded = targets[targets["loaded"]]
    later = targets[~targets["loaded"]]
    out = [
        Count("target tracks (ever seen)", len(targets), "target_outcomes",
              f"{len(loaded)} present at frame 0 + {len(later)} that start later (a daughter of a mitosis, or a "
              "track that begins after frame 0)"),
        Count("targets at frame 0", int(wells["n_targets"].sum()), "well_outcomes.n_targets",
              "the E:T group's count: targets loaded in the well at frame 0"),
        Count("targets dead (any cause), all target tracks", int(wells["n_targets_died"].sum()),
              "well_outcomes.n_targets_died", f"{int(loaded['died'].sum())} of them present at frame 0"),
        Count("targets killed, all target tracks", int(wells["n_targets_killed"].sum()),
              "well_outcomes.n_targets_killed",
              f"a death after contact with an effector; {int(loaded['killed'].sum())} of them present at frame 0"),
    ]
    if survival is not None and (survival["et_group"] == "all").any():
        pooled = survival[survival["et_group"] == "all"]
        out += [Count("targets in the killing curves (n)", int(pooled["n_at_risk"].iloc[0]), "target_survival",
                      "Kaplan-Meier enters targets present at frame 0 only (no delayed entry)"),
                Count("deaths in the killing curves", int(pooled["n_deaths"].sum()), "target_survival",
                      "deaths of any cause among targets present at frame 0 (not only kills); the others are "
                      "censored when their track ends (movie end, mitosis)")]
    if frequency is not None:
        pooled = frequency[frequency["et_group"] == "all"].set_index("unit")
        if "target" in pooled.index:
            out.append(Count("targets in the killing frequency (unit target)", int(pooled.loc["target", "n"]),
                             "killing_frequency", "targets at frame 0 of wells loaded with at least one effector and "
                             f"one target; {int(pooled.loc['target', 'n_killed'])} of them killed"))
        if "well" in pooled.index:
            out.append(Count("wells in the killing frequency (unit well)", int(pooled.loc["well", "n"]),
                             "killing_frequency", "wells loaded with at least one effector and one target at frame 0; "
                             f"{int(pooled.loc['well', 'n_killed'])} of them with a kill"))
    return out


def kinetics_by_group(interactions: pd.DataFrame, wells: pd.DataFrame) -> pd.DataFrame:
    """Per E:T group (``STRATA`` order, then 'all'): interactions, kills and the median tSeek,
    tContact and tDeath (min) of ``killing_kinetics`` rows joined to their well's group."""
    k = interactions.merge(wells[[*WELL_KEYS, "et_group"]], on=WELL_KEYS, how="left")
    rows = []
    for group in [g for g in STRATA if (k["et_group"] == g).any()] + ["all"]:
        g = k if group == "all" else k[k["et_group"] == group]
        rows.append({"et_group": group, "interactions": len(g), "kills": int(g["killed"].sum()),
                     **{f"median_{c}": g[c].dropna().median() for c in ("t_seek_min", "t_contact_min", "t_death_min")}})
    return pd.DataFrame(rows)


def chip_model_versions(chip: ChipStore, tracking_uri: str | None = None) -> pd.DataFrame:
    """One row per model that made the chip's outputs: stage, model, version (from the tables'
    version columns), the tables stamped with it, and (``tracking_uri`` given) its MLflow run
    id, run name, start and current aliases. A table not written yet is skipped; a version
    column holding several versions lists each."""
    rows = []
    for stage, table, column, model in MODEL_SOURCES:
        df = read_table(chip, table, [column])
        if df is None:
            continue
        for version in sorted(int(v) for v in pd.unique(df[column].dropna())):
            rows.append({"stage": stage, "model": model, "version": version, "stamped_in": f"{table}.{column}"})
    outcome = read_table(chip, "killing_kinetics", list(OUTCOME_VERSION_COLUMNS))
    if outcome is not None:
        for column, model in OUTCOME_VERSION_COLUMNS.items():
            for version in pd.unique(outcome[column].dropna()):
                found = [r for r in rows if r["model"] == model and r["version"] == int(version)]
                if found:
                    found[0]["stamped_in"] += f", outcome tables' {column}"
                else:
                    rows.append({"stage": "outcomes", "model": model, "version": int(version),
                                 "stamped_in": f"outcome tables' {column} (differs from the input table: "
                                               "re-materialize the outcomes)"})
    out = pd.DataFrame(rows, columns=["stage", "model", "version", "stamped_in"])
    for extra in ("mlflow_run_id", "run_name", "started", "aliases_now"):
        out[extra] = ""
    if tracking_uri and len(out):
        from lftiming_ml.models.registry import version_runs

        runs = version_runs(tracking_uri=tracking_uri, versions=list(zip(out["model"], out["version"])))
        for i, r in out.iterrows():
            run = runs.get((r["model"], int(r["version"])))
            if run is None:
                out.loc[i, "mlflow_run_id"] = "(not in this registry)"
                continue
            out.loc[i, ["mlflow_run_id", "run_name", "started", "aliases_now"]] = [
                run.run_id, run.run_name, run.start_time, ", ".join(run.aliases)]
    return out


__all__ = ["Count", "MODEL_SOURCES", "OUTCOME_VERSION_COLUMNS", "chip_model_versions", "chip_summary",
           "kinetics_by_group", "read_table", "target_counts"]
