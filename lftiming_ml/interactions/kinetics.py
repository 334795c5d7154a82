"""TIMING kinetics from tracks and contact events: per interaction, effector, target, well.

Vocabulary (times in min = frames * ``frame_interval_min``; distances in um = px *
``pixel_size_um``; frame 0 = movie start):

- **interaction**: an (effector, target) pair of one well with at least one contact event.
- **t_seek_min**: movie start to the first contact (of the pair; of the effector with any
  target; of any pair in the well).
- **t_contact_min**: duration of the pair's *first* contact event (merged gaps included),
  the conjugation time of TIMING; ``t_contact_total_min`` sums all its events.
  ``t_contact_censored`` marks a first event still going at the pair's last frame.
- **killing attribution**: a target that dies (``death_frame``, first frame not alive) is
  killed by the one effector, among those whose first contact with it is at or before its
  death frame, with the most contact-event frames (merged gaps included) up to that death
  (ties: earlier first contact, then lower id). A target that dies
  without an earlier contact is a death, not a kill.
- **t_death_min**: the killer's first contact with the target to the target's death frame;
  only on killed interactions / killed targets (NaN otherwise), never negative.
- **serial kills**: ``n_kills`` per effector = targets attributed to it; ``serial_killer``
  when >= 2. ``n_contacted_targets_died`` counts every target it touched that died after
  its first contact (no attribution).
- **effector speed**: path length over consecutive alive frames / time (um/min);
  displacement = straight line from its first to its last alive position (um).
- **killing frequency**: by E:T group (loaded counts at frame 0, ``metrics.strata``), the
  share of wells with a kill (or of loaded targets killed), with Wilson CIs.

Every table carries ``chip_id, field_id, row, col`` (``WELL_KEYS``); columns are listed in
``INTERACTION_COLUMNS``, ``EFFECTOR_COLUMNS``, ``TARGET_COLUMNS``, ``WELL_COLUMNS``,
``FREQUENCY_COLUMNS`` and described in each function's docstring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lftiming_ml.interactions.config import KineticsParams
from lftiming_ml.store.keys import PAIR_KEYS, TRACK_KEYS, WELL_KEYS
from lftiming_ml.metrics.stats import wilson_ci
from lftiming_ml.metrics.strata import STRATA, et_stratum, is_contact_rich

INTERACTION_COLUMNS = [*PAIR_KEYS, "first_contact_frame", "t_seek_min", "n_events", "t_contact_min",
                       "t_contact_total_min", "t_contact_censored", "target_death_frame",
                       "target_died_after_contact", "killed", "t_death_min"]
EFFECTOR_COLUMNS = [*WELL_KEYS, "effector_id", "first_frame", "last_frame", "speed_um_min", "path_um",
                    "displacement_um", "t_seek_min", "n_targets_contacted", "n_contacted_targets_died", "n_kills",
                    "serial_killer", "died", "death_frame", "t_effector_death_min"]
TARGET_COLUMNS = [*WELL_KEYS, "target_id", "loaded", "first_frame", "last_frame", "first_contact_frame",
                  "t_seek_min", "n_effectors_contacted", "died", "death_frame", "killed", "killer_id",
                  "t_death_min", "survival_min", "death_observed"]
WELL_COLUMNS = [*WELL_KEYS, "n_effectors", "n_targets", "et_group", "n_frames", "contact_frames", "contact_rich",
                "t_seek_min", "n_interactions", "n_targets_died", "n_targets_killed", "killed_any",
                "n_effectors_died", "n_serial_killers"]
FREQUENCY_COLUMNS = ["et_group", "unit", "n", "n_killed", "frequency", "ci_low", "ci_high"]


@dataclass(frozen=True)
class KineticsTables:
    """The kinetics of one chip: the four outcome tables of ``chip_kinetics``."""

    interactions: pd.DataFrame
    effectors: pd.DataFrame
    targets: pd.DataFrame
    wells: pd.DataFrame


def track_summary(tracks: pd.DataFrame) -> pd.DataFrame:
    """One row per track: ``TRACK_KEYS``, cell_type, first_frame, last_frame, death_frame (Int64)."""
    g = tracks.groupby(TRACK_KEYS, sort=True)
    out = pd.DataFrame({"cell_type": g["cell_type"].first(), "first_frame": g["frame"].min(),
                        "last_frame": g["frame"].max(), "death_frame": g["death_frame"].first().astype("Int64")})
    return out.reset_index()


def interaction_kinetics(events: pd.DataFrame, tracks: pd.DataFrame, *, frame_interval_min: float) -> pd.DataFrame:
    """One row per interaction (``INTERACTION_COLUMNS``) from ``contact_events`` and ``tracks``.

    first_contact_frame (int64), t_seek_min, n_events, t_contact_min (first event),
    t_contact_total_min (all events), t_contact_censored (bool), target_death_frame (Int64),
    target_died_after_contact (death at or after this pair's first contact), killed (this
    effector is the attributed killer, module doc), t_death_min (killed only, else NaN).
    """
    if events.empty:
        return _typed(INTERACTION_COLUMNS)
    ev = events.sort_values([*PAIR_KEYS, "onset_frame"])
    g = ev.groupby(PAIR_KEYS, sort=True)
    out = pd.DataFrame({
        "first_contact_frame": g["onset_frame"].min().astype("int64"),
        "n_events": g.size().astype("int64"),
        "t_contact_min": g["duration_min"].first(),
        "t_contact_total_min": g["duration_min"].sum(),
        "t_contact_censored": g["open_at_end"].first().astype(bool),
    }).reset_index()
    out["t_seek_min"] = out["first_contact_frame"] * frame_interval_min
    deaths = track_summary(tracks).rename(columns={"track_id": "target_id", "death_frame": "target_death_frame"})
    out = out.merge(deaths[[*WELL_KEYS, "target_id", "target_death_frame"]], on=[*WELL_KEYS, "target_id"], how="left")
    out["target_death_frame"] = out["target_death_frame"].astype("Int64")
    died = out["target_death_frame"].notna() & (out["target_death_frame"] >= out["first_contact_frame"])
    out["target_died_after_contact"] = died.fillna(False).astype(bool)

    # Contact frames of each pair up to the target's death: the attribution score.
    ev = ev.merge(out[[*PAIR_KEYS, "target_death_frame"]], on=PAIR_KEYS)
    death = ev["target_death_frame"].astype("float64")
    before = (np.minimum(ev["end_frame"], death) - ev["onset_frame"] + 1).clip(lower=0)
    ev["before_death"] = before.where(ev["onset_frame"] <= death, 0)
    out = out.merge(ev.groupby(PAIR_KEYS)["before_death"].sum().rename("before_death").reset_index(), on=PAIR_KEYS)
    candidates = out[out["target_died_after_contact"]].sort_values(
        [*WELL_KEYS, "target_id", "before_death", "first_contact_frame", "effector_id"],
        ascending=[True] * 5 + [False, True, True])
    killers = candidates.drop_duplicates([*WELL_KEYS, "target_id"])
    out["killed"] = out.index.isin(killers.index)
    t_death = (out["target_death_frame"].astype("float64") - out["first_contact_frame"]) * frame_interval_min
    out["t_death_min"] = t_death.where(out["killed"], np.nan)
    return out[INTERACTION_COLUMNS].reset_index(drop=True)


def effector_kinetics(tracks: pd.DataFrame, interactions: pd.DataFrame, *, pixel_size_um: float,
                      frame_interval_min: float) -> pd.DataFrame:
    """One row per effector track (``EFFECTOR_COLUMNS``).

    speed_um_min, path_um over consecutive alive frames with a position (NaN if none);
    displacement_um first to last alive position; t_seek_min (NaN if it never touched a
    target); n_targets_contacted, n_contacted_targets_died, n_kills (int64), serial_killer,
    died (bool), death_frame (Int64), t_effector_death_min (NaN if it lives).
    """
    summary = track_summary(tracks)
    eff = summary[summary["cell_type"] == "effector"].rename(columns={"track_id": "effector_id"})
    if eff.empty:
        return _typed(EFFECTOR_COLUMNS)
    key = [*WELL_KEYS, "effector_id"]
    moving = tracks[(tracks["cell_type"] == "effector") & tracks["alive"] & tracks["y"].notna()]
    moving = moving.rename(columns={"track_id": "effector_id"}).sort_values([*key, "frame"])
    g = moving.groupby(key, sort=True)
    consecutive = g["frame"].diff().eq(1)
    step = np.hypot(g["y"].diff(), g["x"].diff()).where(consecutive, 0.0) * pixel_size_um
    motion = pd.DataFrame({"path_um": step.groupby([moving[k] for k in key]).sum(),
                           "n_steps": consecutive.groupby([moving[k] for k in key]).sum(),
                           "displacement_um": np.hypot(g["y"].last() - g["y"].first(),
                                                       g["x"].last() - g["x"].first()) * pixel_size_um})
    motion["speed_um_min"] = motion["path_um"] / (motion["n_steps"] * frame_interval_min)
    motion.loc[motion["n_steps"] == 0, ["speed_um_min", "path_um"]] = np.nan
    out = eff.merge(motion.reset_index(), on=key, how="left")
    if interactions.empty:
        per = _typed([*key, "t_seek_min", "n_targets_contacted", "n_contacted_targets_died", "n_kills"])
    else:
        gi = interactions.groupby(key)
        per = pd.DataFrame({"t_seek_min": gi["t_seek_min"].min(), "n_targets_contacted": gi.size(),
                            "n_contacted_targets_died": gi["target_died_after_contact"].sum(),
                            "n_kills": gi["killed"].sum()}).reset_index()
    out = out.merge(per, on=key, how="left")
    for c in ("n_targets_contacted", "n_contacted_targets_died", "n_kills"):
        out[c] = out[c].fillna(0).astype("int64")
    out["t_seek_min"] = out["t_seek_min"].astype("float64")
    out["serial_killer"] = out["n_kills"] >= 2
    out["died"] = out["death_frame"].notna()
    out["t_effector_death_min"] = out["death_frame"].astype("float64") * frame_interval_min
    return out[EFFECTOR_COLUMNS].reset_index(drop=True)


def target_outcomes(tracks: pd.DataFrame, interactions: pd.DataFrame, *, frame_interval_min: float) -> pd.DataFrame:
    """One row per target track (``TARGET_COLUMNS``).

    loaded (present at frame 0), first_contact_frame (Int64, any effector), t_seek_min,
    n_effectors_contacted, died, death_frame (Int64), killed, killer_id (Int64), t_death_min
    (killed only), survival_min (death frame, or the last frame seen: movie end or mitosis,
    in min from movie start) with death_observed (False = censored).
    """
    summary = track_summary(tracks)
    tgt = summary[summary["cell_type"] == "target"].rename(columns={"track_id": "target_id"})
    if tgt.empty:
        return _typed(TARGET_COLUMNS)
    key = [*WELL_KEYS, "target_id"]
    if interactions.empty:
        per = _typed([*key, "first_contact_frame", "n_effectors_contacted"])
        kill = _typed([*key, "killer_id", "t_death_min"])
    else:
        gi = interactions.groupby(key)
        per = pd.DataFrame({"first_contact_frame": gi["first_contact_frame"].min(),
                            "n_effectors_contacted": gi.size()}).reset_index()
        kill = interactions.loc[interactions["killed"], [*key, "effector_id", "t_death_min"]]
        kill = kill.rename(columns={"effector_id": "killer_id"})
    out = tgt.merge(per, on=key, how="left").merge(kill, on=key, how="left")
    out["loaded"] = out["first_frame"] == 0
    out["first_contact_frame"] = out["first_contact_frame"].astype("Int64")
    out["t_seek_min"] = out["first_contact_frame"].astype("float64") * frame_interval_min
    out["n_effectors_contacted"] = out["n_effectors_contacted"].fillna(0).astype("int64")
    out["died"] = out["death_frame"].notna()
    out["killer_id"] = out["killer_id"].astype("Int64")
    out["killed"] = out["killer_id"].notna()
    out["t_death_min"] = out["t_death_min"].astype("float64")
    out["death_observed"] = out["died"]
    end = out["death_frame"].astype("float64").fillna(out["last_frame"].astype("float64"))
    out["survival_min"] = end * frame_interval_min
    return out[TARGET_COLUMNS].reset_index(drop=True)


def well_outcomes(tracks: pd.DataFrame, frames: pd.DataFrame, interactions: pd.DataFrame,
                  effectors: pd.DataFrame, targets: pd.DataFrame, *, n_frames: int,
                  params: KineticsParams = KineticsParams()) -> pd.DataFrame:
    """One row per well with tracks (``WELL_COLUMNS``).

    n_effectors, n_targets: loaded (present at frame 0); et_group (``et_stratum``);
    contact_frames: frames with any effector-target contact (from ``frames``, the
    ``contact_frames`` table); contact_rich; t_seek_min (first contact in the well, NaN if
    none); n_interactions, n_targets_died, n_targets_killed, killed_any, n_effectors_died,
    n_serial_killers.
    """
    wells = tracks[WELL_KEYS].drop_duplicates().sort_values(WELL_KEYS).reset_index(drop=True)
    if wells.empty:
        return _typed(WELL_COLUMNS)
    start = tracks[tracks["frame"] == 0]
    loaded = start.groupby([*WELL_KEYS, "cell_type"]).size().unstack(fill_value=0)
    loaded = loaded.reindex(columns=["effector", "target"], fill_value=0).reset_index()
    out = wells.merge(loaded.rename(columns={"effector": "n_effectors", "target": "n_targets"}), on=WELL_KEYS,
                      how="left")
    out[["n_effectors", "n_targets"]] = out[["n_effectors", "n_targets"]].fillna(0).astype("int64")
    out["et_group"] = [et_stratum(e, t) for e, t in zip(out["n_effectors"], out["n_targets"])]
    out["n_frames"] = int(n_frames)
    touching = frames.loc[frames["in_contact"].astype(bool)]
    n_touch = touching.groupby(WELL_KEYS)["frame"].nunique().rename("contact_frames").reset_index()
    out = out.merge(n_touch, on=WELL_KEYS, how="left")
    out["contact_frames"] = out["contact_frames"].fillna(0).astype("int64")
    out["contact_rich"] = [is_contact_rich(c, n_frames, min_fraction=params.contact_rich_fraction)
                           for c in out["contact_frames"]]
    counts = {
        "t_seek_min": interactions.groupby(WELL_KEYS)["t_seek_min"].min(),
        "n_interactions": interactions.groupby(WELL_KEYS).size(),
        "n_targets_died": targets.groupby(WELL_KEYS)["died"].sum(),
        "n_targets_killed": targets.groupby(WELL_KEYS)["killed"].sum(),
        "n_effectors_died": effectors.groupby(WELL_KEYS)["died"].sum(),
        "n_serial_killers": effectors.groupby(WELL_KEYS)["serial_killer"].sum(),
    }
    for name, series in counts.items():
        out = out.merge(series.rename(name).reset_index(), on=WELL_KEYS, how="left") if len(series) else \
            out.assign(**{name: np.nan})
        if name != "t_seek_min":
            out[name] = out[name].fillna(0).astype("int64")
    out["t_seek_min"] = out["t_seek_min"].astype("float64")
    out["killed_any"] = out["n_targets_killed"] > 0
    return out[WELL_COLUMNS]


def chip_kinetics(tracks: pd.DataFrame, frames: pd.DataFrame, events: pd.DataFrame, *, pixel_size_um: float,
                  frame_interval_min: float, n_frames: int,
                  params: KineticsParams = KineticsParams()) -> KineticsTables:
    """All kinetics tables of one chip from ``tracks``, ``contact_frames`` and ``contact_events``."""
    inter = interaction_kinetics(events, tracks, frame_interval_min=frame_interval_min)
    eff = effector_kinetics(tracks, inter, pixel_size_um=pixel_size_um, frame_interval_min=frame_interval_min)
    tgt = target_outcomes(tracks, inter, frame_interval_min=frame_interval_min)
    wells = well_outcomes(tracks, frames, inter, eff, tgt, n_frames=n_frames, params=params)
    return KineticsTables(interactions=inter, effectors=eff, targets=tgt, wells=wells)


def killing_frequency(wells: pd.DataFrame, targets: pd.DataFrame | None = None, *,
                      params: KineticsParams = KineticsParams()) -> pd.DataFrame:
    """Killing frequency by E:T group with Wilson CIs (``FREQUENCY_COLUMNS``), one row per
    group present (``metrics.strata.STRATA`` order) and a final 'all' row.

    Only wells loaded with at least one effector and one target count. ``params.killing_unit``
    'well': n wells, n_killed wells with a kill; 'target': n loaded targets of those wells,
    n_killed of them killed (``targets`` required). ``wells`` may hold several chips.
    """
    w = wells[(wells["n_effectors"] > 0) & (wells["n_targets"] > 0)]
    if params.killing_unit == "well":
        units = w[["et_group", "killed_any"]].rename(columns={"killed_any": "killed"})
    else:
        if targets is None:
            raise ValueError("killing_unit='target' needs the targets table")
        t = targets[targets["loaded"]].merge(w[[*WELL_KEYS, "et_group"]], on=WELL_KEYS)
        units = t[["et_group", "killed"]]
    rows = []
    groups = [s for s in STRATA if (units["et_group"] == s).any()] + ["all"]
    for group in groups:
        killed = units["killed"] if group == "all" else units.loc[units["et_group"] == group, "killed"]
        freq, low, high = wilson_ci(int(killed.sum()), int(len(killed)), level=params.ci_level)
        rows.append((group, params.killing_unit, int(len(killed)), int(killed.sum()), freq, low, high))
    return pd.DataFrame(rows, columns=FREQUENCY_COLUMNS)


_DTYPES = {"row": "int64", "col": "int64", "effector_id": "int64", "target_id": "int64", "killer_id": "Int64",
           "death_frame": "Int64", "target_death_frame": "Int64", "first_contact_frame": "int64"}


def _typed(columns: list[str]) -> pd.DataFrame:
    """An empty table with the dtypes its columns have when filled."""
    def dtype(c: str) -> str:
        if c in _DTYPES:
            return _DTYPES[c]
        if c.endswith("_min") or c.endswith("_um"):
            return "float64"
        if c.startswith("n_") or c.endswith("_frame") or c.endswith("_frames"):
            return "int64"
        if c in {"killed", "serial_killer", "died", "loaded", "death_observed", "contact_rich", "killed_any",
                 "t_contact_censored", "target_died_after_contact"}:
            return "bool"
        return "object"
    return pd.DataFrame({c: pd.Series(dtype=dtype(c)) for c in columns})


