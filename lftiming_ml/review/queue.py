"""The review queue of a chip: every occupied well scored, ranked and given its reasons.

Score: each signal of ``signals.SIGNALS`` is normalised to [0, 1] (``signals.normalise``:
linear between its documented ``zero`` and ``full`` values, clipped), and

    score = 1 / (1 + exp(-(w_0 + sum_i w_i * s_i)))

the probability, under a logistic model, that the well holds an error (a tracking error, a
wrong type or death, or segmentation mIoU < 0.8; ``benchmarks/review_queue.py`` defines
them against truth). The weights ``w_i >= 0`` (log-odds per unit normalised signal) are
``WEIGHTS``, fitted on tuning chips; chips without fluorescence channels use
``WEIGHTS_PHASE_ONLY``, fitted on the same chips without the fluorescence signals, so a
score is always the error probability given the evidence the chip has. A well's reasons are
the signals adding at least ``ReviewParams.reason_min_logit`` to its log-odds
(``w_i * s_i``), largest first, at most ``max_reasons``.

Rows (``REVIEW_COLUMNS``, then the four model version columns of the outcome tables) are
sorted by ``queue_rank`` (1 = review first within the chip); across chips, order by score.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from lftiming_ml.interactions.outcomes import VERSION_COLUMNS, stamp
from lftiming_ml.interactions.pipeline_inputs import model_versions
from lftiming_ml.review.config import ReviewParams
from lftiming_ml.review.fluorescence import chip_fluorescence_signals
from lftiming_ml.review.signals import FLUORESCENCE_SIGNALS, SIGNALS, normalise, phase_signals
from lftiming_ml.store.keys import WELL_KEYS
from lftiming_ml.store.movies import list_well_movies
from lftiming_ml.store.tables import read_chip_table

REVIEW_INPUTS = ("cell_masks", "cell_tracks", "cell_types", "cell_deaths", "well_outcomes")
"""The chip tables the queue reads (``docs/tables.md``)."""

WEIGHTS: dict[str, float] = {
    "intercept": -2.309, "fb_disagreement": 2.971, "track_count_mismatch": 0.0, "unexplained_track_ends": 0.039,
    "interpolated_frames": 0.156, "unlinked_detections": 0.226, "low_mask_score": 0.04, "area_flicker": 0.06,
    "type_uncertainty": 0.71, "death_uncertainty": 0.0, "death_without_kill": 0.122, "contact_share": 0.0,
    "crowding": 1.29, "no_tracks": 0.0, "dye_type_disagreement": 1.334, "annexin_death_disagreement": 1.127,
}
"""Log-odds weights of the normalised signals (``intercept`` = w_0) for chips with fluorescence:
a non-negative ridge logistic regression (penalty 1 on the weights) of 'the well holds an
error' on the tuning chips standard:711 and hard:712 (133 wells, 48 erroneous), printed by
``flock /tmp/lftiming_heavy.lock .venv/bin/python benchmarks/review_queue.py --tuning``
(``benchmarks/results/review_queue_tuning.json``) with the bundled models (``models/``, all
version 1 of a fresh registry). Refit after a model change."""

WEIGHTS_PHASE_ONLY: dict[str, float] = {
    "intercept": -2.325, "fb_disagreement": 2.965, "track_count_mismatch": 0.0, "unexplained_track_ends": 0.079,
    "interpolated_frames": 0.236, "unlinked_detections": 0.18, "low_mask_score": 0.055, "area_flicker": 0.13,
    "type_uncertainty": 1.126, "death_uncertainty": 0.149, "death_without_kill": 0.277, "contact_share": 0.0,
    "crowding": 1.512, "no_tracks": 0.0,
}
"""The same fit without the fluorescence signals, for chips without dye channels."""

REVIEW_COLUMNS: dict[str, str] = {
    "chip_id": "object", "field_id": "object", "row": "int64", "col": "int64", "queue_rank": "int64",
    "score": "float64", "reasons": "object", "reason_signals": "object", "n_reasons": "int64",
    "fluorescence_checked": "bool",
    **{name: "float64" for name in SIGNALS},
}
"""Columns of ``review_queue`` before the model versions (``interactions.outcomes.VERSION_COLUMNS``):
the well, its rank within the chip and score, the reasons ('; '-joined texts, '' when none) and
the names of their signals (comma-joined, same order), whether
the fluorescence signals were measured, and every signal's raw value in its unit (NaN:
not measured)."""


def occupied_wells(store_path: Path | str) -> pd.DataFrame:
    """``WELL_KEYS`` of every well of a chip store that the well detector called occupied
    (and was cropped), in (field_id, row, col) order; metadata only, no pixels."""
    infos = [i for i in list_well_movies(store_path) if i.occupied and i.cropped]
    return pd.DataFrame({"chip_id": [i.chip_id for i in infos], "field_id": [i.field_id for i in infos],
                         "row": [i.row for i in infos], "col": [i.col for i in infos]},
                        columns=WELL_KEYS).astype({"row": "int64", "col": "int64"})


def contributions(signals: pd.DataFrame, weights: Mapping[str, float]) -> pd.DataFrame:
    """``w_i * s_i`` per well and signal of ``weights`` (log-odds; one column per signal, rows as ``signals``)."""
    names = [n for n in weights if n != "intercept"]
    return pd.DataFrame({n: weights[n] * normalise(n, signals[n]) for n in names}, index=signals.index)


def score(signals: pd.DataFrame, weights: Mapping[str, float]) -> np.ndarray:
    """``float[n]`` in (0, 1): the logistic score of each well's signals (columns named as in ``weights``)."""
    logit = weights["intercept"] + contributions(signals, weights).sum(axis=1).to_numpy()
    return 1.0 / (1.0 + np.exp(-logit))


def reason_signals(signals: pd.DataFrame, weights: Mapping[str, float],
                   params: ReviewParams = ReviewParams()) -> list[list[str]]:
    """Per well, the names of the signals adding at least ``reason_min_logit`` (and more than
    0) to its log-odds, largest contribution first, at most ``max_reasons``."""
    contrib = contributions(signals, weights)
    out = []
    for i in range(len(signals)):
        c = contrib.iloc[i]
        top = c[(c >= params.reason_min_logit) & (c > 0)].sort_values(ascending=False, kind="stable")
        out.append(list(top.index[:params.max_reasons]))
    return out


def reason_text(name: str, value: float) -> str:
    """What the reasons column says for signal ``name`` at raw ``value``."""
    return SIGNALS[name].reason.format(value=float(value))


def review_queue(wells: pd.DataFrame, tables: Mapping[str, pd.DataFrame], fluorescence: pd.DataFrame | None = None,
                 *, params: ReviewParams = ReviewParams()) -> pd.DataFrame:
    """The ``review_queue`` rows of one chip.

    wells: its occupied wells (``occupied_wells``); tables: its ``REVIEW_INPUTS`` (with their
    model version columns, stamped on every row); fluorescence: ``fluorescence.
    chip_fluorescence_signals`` (None: the chip has no dye channel, the phase-only weights apply).
    """
    signals = phase_signals(wells, dict(tables), params)
    checked = fluorescence is not None
    if checked:
        signals = signals.merge(fluorescence.astype({"row": "int64", "col": "int64"}), on=WELL_KEYS, how="left")
    else:
        signals[FLUORESCENCE_SIGNALS] = np.nan
    weights = WEIGHTS if checked else WEIGHTS_PHASE_ONLY
    signals["score"] = score(signals, weights)
    listed = reason_signals(signals, weights, params)
    signals["reasons"] = ["; ".join(reason_text(n, signals[n].iloc[i]) for n in names)
                          for i, names in enumerate(listed)]
    signals["reason_signals"] = [",".join(names) for names in listed]
    signals["n_reasons"] = [len(names) for names in listed]
    signals["fluorescence_checked"] = checked
    signals = signals.sort_values(["score", "field_id", "row", "col"], ascending=[False, True, True, True],
                                  kind="stable", ignore_index=True)
    signals["queue_rank"] = np.arange(1, len(signals) + 1)
    chip_ids = set(signals["chip_id"]) or set(tables["cell_tracks"]["chip_id"])
    if len(chip_ids) > 1:
        raise ValueError(f"review_queue: wells of several chips {sorted(chip_ids)}; one chip at a time")
    chip_id = chip_ids.pop() if chip_ids else ""
    versions = model_versions({name: tables[name] for name in ("cell_tracks", "cell_types", "cell_deaths")})
    out = signals[list(REVIEW_COLUMNS)].astype(REVIEW_COLUMNS)
    return stamp(out, chip_id, versions)


def chip_review_queue(tables_dir: Path | str, store_path: Path | str, chip_id: str, *,
                      params: ReviewParams = ReviewParams()) -> pd.DataFrame:
    """``review_queue`` of a chip from its tables under ``tables_dir`` and its Zarr store
    (the dye channels read when the chip has them)."""
    tables = {name: read_chip_table(tables_dir, name, chip_id) for name in REVIEW_INPUTS}
    wells = occupied_wells(store_path)
    fluorescence = chip_fluorescence_signals(store_path, wells, tables["cell_types"], tables["cell_deaths"], params)
    return review_queue(wells, tables, fluorescence, params=params)


__all__ = ["REVIEW_COLUMNS", "REVIEW_INPUTS", "VERSION_COLUMNS", "WEIGHTS", "WEIGHTS_PHASE_ONLY", "chip_review_queue",
           "contributions", "occupied_wells", "reason_signals", "reason_text", "review_queue", "score"]
