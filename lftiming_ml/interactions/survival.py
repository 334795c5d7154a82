"""Kaplan-Meier survival of targets by E:T group (``scipy.stats.ecdf`` on censored data).

Time is min from movie start. A target's event is its death frame; a target that does not
die is right-censored at the last frame it is seen (movie end, or its division). Only
loaded targets (present at frame 0) enter: daughters of a mitosis would need delayed entry.

Tidy table ``SURVIVAL_COLUMNS``, one row per group per distinct time (plus time 0):

==========  =======  ===================================================================
column      dtype    meaning
==========  =======  ===================================================================
et_group    str      E:T group of the well (``metrics.strata``), or 'all'
time_min    float64  time from movie start (min); the curve steps down at this time
survival    float64  Kaplan-Meier probability that a target is alive after time_min
ci_low      float64  lower bound of the pointwise CI (log-log, ``ci_level``)
ci_high     float64  upper bound
n_at_risk   int64    targets still alive and observed just before time_min
n_deaths    int64    deaths at time_min
n_censored  int64    censorings at time_min
==========  =======  ===================================================================
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import CensoredData, ecdf

from lftiming_ml.store.keys import WELL_KEYS
from lftiming_ml.metrics.strata import STRATA

SURVIVAL_COLUMNS = ["et_group", "time_min", "survival", "ci_low", "ci_high", "n_at_risk", "n_deaths", "n_censored"]


def kaplan_meier(times_min: np.ndarray, observed: np.ndarray, *, ci_level: float = 0.95) -> pd.DataFrame:
    """Kaplan-Meier curve of one group (``SURVIVAL_COLUMNS`` less et_group).

    times_min (float[n]): death or censoring time (min); observed (bool[n]): True = death.
    The first row is time 0 with survival 1. An empty group gives an empty table.
    """
    t = np.asarray(times_min, dtype=np.float64)
    d = np.asarray(observed, dtype=bool)
    cols = SURVIVAL_COLUMNS[1:]
    if t.size == 0:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c.startswith("n_") else "float64") for c in cols})
    times = np.unique(t)
    n_at_risk = np.array([(t >= u).sum() for u in times])
    n_deaths = np.array([((t == u) & d).sum() for u in times])
    n_censored = np.array([((t == u) & ~d).sum() for u in times])
    if d.any():
        sf = ecdf(CensoredData(uncensored=t[d], right=t[~d])).sf
        survival = sf.evaluate(times)
        ci = sf.confidence_interval(ci_level, method="log-log")
        low, high = ci.low.evaluate(times), ci.high.evaluate(times)
        # scipy leaves the interval NaN where survival reaches 0 or before the first death.
        low, high = np.where(np.isnan(low), survival, low), np.where(np.isnan(high), survival, high)
    else:
        survival = low = high = np.ones(times.size)
    curve = pd.DataFrame({"time_min": times, "survival": survival, "ci_low": low, "ci_high": high,
                          "n_at_risk": n_at_risk, "n_deaths": n_deaths, "n_censored": n_censored})
    if times[0] > 0:
        start = pd.DataFrame({"time_min": [0.0], "survival": [1.0], "ci_low": [1.0], "ci_high": [1.0],
                              "n_at_risk": [t.size], "n_deaths": [0], "n_censored": [0]})
        curve = pd.concat([start, curve], ignore_index=True)
    return curve.astype({"n_at_risk": "int64", "n_deaths": "int64", "n_censored": "int64"})


def survival_by_group(targets: pd.DataFrame, wells: pd.DataFrame, *, ci_level: float = 0.95,
                      include_all: bool = True) -> pd.DataFrame:
    """Kaplan-Meier target survival per E:T group (tidy ``SURVIVAL_COLUMNS`` table).

    targets: ``kinetics.target_outcomes`` (loaded, survival_min, death_observed).
    wells: ``kinetics.well_outcomes`` (et_group). Several chips may be stacked. Groups are in
    ``STRATA`` order; ``include_all`` adds the pooled curve 'all'.
    """
    t = targets[targets["loaded"]].merge(wells[[*WELL_KEYS, "et_group"]], on=WELL_KEYS)
    parts = []
    groups = [s for s in STRATA if (t["et_group"] == s).any()] + (["all"] if include_all else [])
    for group in groups:
        g = t if group == "all" else t[t["et_group"] == group]
        curve = kaplan_meier(g["survival_min"].to_numpy(), g["death_observed"].to_numpy(), ci_level=ci_level)
        curve.insert(0, "et_group", group)
        parts.append(curve)
    if not parts:
        return kaplan_meier(np.zeros(0), np.zeros(0, bool)).assign(et_group=pd.Series(dtype=object))[SURVIVAL_COLUMNS]
    return pd.concat(parts, ignore_index=True)[SURVIVAL_COLUMNS]
