"""Run-time checks of the outcome tables (the assets turn them into asset checks).

Each function takes one table and returns ``Problems``: the number of offending rows and
up to five of them as dicts, so a failing check shows a person what to look at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lftiming_ml.store.keys import PAIR_KEYS, WELL_KEYS

_SHOWN = 5


@dataclass(frozen=True)
class Problems:
    """Rows breaking one rule: how many, and the first few (column -> value)."""

    n: int
    examples: list[dict]

    @property
    def passed(self) -> bool:
        return self.n == 0


def _problems(df: pd.DataFrame, bad: pd.Series, columns: list[str]) -> Problems:
    rows = df.loc[bad.fillna(True).astype(bool), [c for c in columns if c in df.columns]].head(_SHOWN)
    examples = [{k: (v.item() if isinstance(v, np.generic) else (None if pd.isna(v) else v)) for k, v in r.items()}
                for r in rows.to_dict(orient="records")]
    return Problems(int(bad.fillna(True).astype(bool).sum()), examples)


def duplicate_rows(df: pd.DataFrame, keys: list[str]) -> Problems:
    """Rows whose ``keys`` are not unique (every copy counts)."""
    return _problems(df, df.duplicated(keys, keep=False), keys)


def negative_event_durations(events: pd.DataFrame) -> Problems:
    """``contact_events`` rows with end before onset, a duration under one frame or
    negative minutes."""
    bad = ((events["end_frame"] < events["onset_frame"]) | (events["duration_frames"] < 1)
           | (events["n_contact_frames"] < 1) | (events["duration_min"] < 0) | (events["onset_min"] < 0))
    return _problems(events, bad, [*PAIR_KEYS, "event_index", "onset_frame", "end_frame", "duration_frames"])


def negative_kinetics(interactions: pd.DataFrame) -> Problems:
    """``killing_kinetics`` rows with a negative tSeek, tContact or tDeath (NaN is allowed
    for tDeath only)."""
    bad = ((interactions["t_seek_min"] < 0) | interactions["t_seek_min"].isna()
           | (interactions["t_contact_min"] < 0) | interactions["t_contact_min"].isna()
           | (interactions["t_contact_total_min"] < interactions["t_contact_min"])
           | (interactions["t_death_min"] < 0))
    return _problems(interactions, bad, [*PAIR_KEYS, "t_seek_min", "t_contact_min", "t_death_min"])


def t_death_not_killed(df: pd.DataFrame, id_column: str) -> Problems:
    """Rows (``killing_kinetics`` or ``target_outcomes``) where t_death_min is set but the
    target was not killed, or a killed target has no t_death_min."""
    killed = df["killed"].astype(bool)
    bad = (df["t_death_min"].notna() & ~killed) | (df["t_death_min"].isna() & killed)
    return _problems(df, bad, [*WELL_KEYS, id_column, "killed", "t_death_min"])
