"""Interaction-stage metrics: contact confusion matrix, kinetics errors, killing frequency.

Paper section 3 (contact detection): frame-wise predictions against annotation, a
row-normalized confusion matrix (TN, FP / FN, TP), accuracy, and the FN rate
FN / (FN + TP) (the paper: 29.6%). Kinetics: median absolute error of tSeek, tContact and
tDeath in frames. Killing frequency by E:T group against the truth's Wilson CI.

Predictions and truth are compared by id (same track ids on both sides: ground-truth
inputs, or pipeline tracks already mapped onto truth cell ids).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from lftiming_ml.store.keys import PAIR_KEYS, WELL_KEYS

FRAME_KEYS = [*WELL_KEYS, "frame", "effector_id", "target_id"]


@dataclass(frozen=True)
class ContactScores:
    """Frame-level contact detection scores (counts of pair-frames or well-frames)."""

    tn: int
    fp: int
    fn: int
    tp: int
    accuracy: float
    fn_rate: float
    fp_rate: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def score_contacts(pred_frames: pd.DataFrame, truth_frames: pd.DataFrame, *, level: str = "pair") -> ContactScores:
    """Confusion matrix of per-frame contact calls (``contact_frames`` tables).

    level 'pair': one unit per (well, frame, effector, target), outer-joined: a pair-frame
    missing on one side counts as no contact there. level 'well': one unit per (well,
    frame) seen on either side, positive when any effector touches any target (needs no id
    agreement). fn_rate = FN / (FN + TP), fp_rate = FP / (FP + TN); NaN when undefined.
    """
    if level == "pair":
        keys = FRAME_KEYS
        p, t = pred_frames[[*keys, "in_contact"]], truth_frames[[*keys, "in_contact"]]
    elif level == "well":
        keys = [*WELL_KEYS, "frame"]
        p = pred_frames.groupby(keys, as_index=False)["in_contact"].any()
        t = truth_frames.groupby(keys, as_index=False)["in_contact"].any()
    else:
        raise ValueError(f"level must be 'pair' or 'well', not {level!r}")
    m = p.merge(t, on=keys, how="outer", suffixes=("_pred", "_truth"))
    pred = m["in_contact_pred"].eq(True).to_numpy()
    truth = m["in_contact_truth"].eq(True).to_numpy()
    tp, tn = int((pred & truth).sum()), int((~pred & ~truth).sum())
    fp, fn = int((pred & ~truth).sum()), int((~pred & truth).sum())
    n = tp + tn + fp + fn
    return ContactScores(tn=tn, fp=fp, fn=fn, tp=tp, accuracy=(tp + tn) / n if n else float("nan"),
                         fn_rate=fn / (fn + tp) if fn + tp else float("nan"),
                         fp_rate=fp / (fp + tn) if fp + tn else float("nan"), n=n)


def score_kinetics(pred: pd.DataFrame, truth: pd.DataFrame, *, frame_interval_min: float) -> dict[str, float | int]:
    """Median absolute errors (frames) of t_seek, t_contact and t_death per interaction.

    pred, truth: ``kinetics.interaction_kinetics`` tables. Interactions are matched on
    (well, effector_id, target_id); t_seek and t_contact over matched interactions, t_death
    over interactions killed on both sides. Also: matched / pred-only / truth-only counts
    and the agreement of the killed call over matched interactions.
    """
    m = pred.merge(truth, on=PAIR_KEYS, how="outer", suffixes=("_pred", "_truth"), indicator=True)
    both = m[m["_merge"] == "both"]

    def mae(col: str, rows: pd.DataFrame) -> float:
        err = (rows[f"{col}_pred"] - rows[f"{col}_truth"]).abs().to_numpy(dtype=float) / frame_interval_min
        return float(np.median(err)) if err.size else float("nan")

    killed = both[both["killed_pred"].astype(bool) & both["killed_truth"].astype(bool)]
    agree = (both["killed_pred"].astype(bool) == both["killed_truth"].astype(bool)).to_numpy()
    return {
        "t_seek_mae_frames": mae("t_seek_min", both),
        "t_contact_mae_frames": mae("t_contact_min", both),
        "t_death_mae_frames": mae("t_death_min", killed),
        "killed_agreement": float(agree.mean()) if agree.size else float("nan"),
        "n_matched": int(len(both)), "n_killed_both": int(len(killed)),
        "n_pred_only": int((m["_merge"] == "left_only").sum()),
        "n_truth_only": int((m["_merge"] == "right_only").sum()),
    }


def compare_killing_frequency(pred: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Predicted vs true killing frequency per E:T group (``kinetics.killing_frequency`` tables).

    Columns: et_group, n, frequency_pred, ci_low_pred, ci_high_pred, frequency_truth,
    ci_low_truth, ci_high_truth, within_truth_ci (the predicted frequency lies inside the
    truth's Wilson CI). Groups on either side; a missing side gives NaN and False.
    """
    cols = ["et_group", "n", "frequency", "ci_low", "ci_high"]
    m = pred[cols].merge(truth[cols], on="et_group", how="outer", suffixes=("_pred", "_truth"))
    order = list(dict.fromkeys([*truth["et_group"], *pred["et_group"]]))  # the tables' (strata) order
    m = m.set_index("et_group").loc[order].reset_index()
    m["within_truth_ci"] = (m["frequency_pred"] >= m["ci_low_truth"]) & (m["frequency_pred"] <= m["ci_high_truth"])
    m["n"] = m["n_truth"].fillna(m["n_pred"]).astype("int64")
    return m[["et_group", "n", "frequency_pred", "ci_low_pred", "ci_high_pred", "frequency_truth", "ci_low_truth",
              "ci_high_truth", "within_truth_ci"]]
