"""Which wells of a chip to proofread first, and why: the order ``lftiming review`` opens them.

Two sources, best first:

- the chip's ``review_queue`` table when it has one (one row per occupied well with a
  suspicion score and its reasons; ``lftiming_ml.review``): wells by score, highest first
  (the score column is ``score``, or ``suspicion`` in older tables; reasons ``reasons``);
- otherwise a **fallback ranking** from the tables every chip has (``fallback_ranking``):
  per occupied well, a weighted sum of signals that a well's tracks are wrong, each with the
  reason it adds:

  ============================  ==============================================================
  ``no_tracks``                 the well is occupied (cropped) but holds no track: 1
  ``track_count_mismatch``      \\|tracks - ``n_expected``\\| (``cell_tracks``)
  ``interpolated_frames``       track-frames with ``source == 'interpolated'``
  ``fb_disagreement``           detected track-frames with ``fb_agree`` false
  ``type_uncertainty``          largest ``1 - |2 p_effector - 1|`` of the well's tracks
                                (``cell_types``; 1 at p = 0.5, 0 at p = 0 or 1)
  ============================  ==============================================================

  weighted by ``FallbackWeights``; ties by field, row, col. A signal is listed as a reason
  when it adds at least ``FallbackWeights.reason_min`` to the score.

``wells_to_review`` returns ``WellToReview`` rows (well, score, reasons, which source ranked
it); ``wells=[...]`` opens chosen wells in the given order, with their score and reasons
where the ranking has them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from lftiming_ml.annotations.schema import parse_well_name, well_name
from lftiming_ml.store.layout import ChipStore
from lftiming_ml.store.movies import list_well_movies
from lftiming_ml.store.tables import read_chip_table

REVIEW_QUEUE = "review_queue"
SCORE_COLUMNS = ("score", "suspicion")
WELL = ["field_id", "row", "col"]


class FallbackWeights(BaseModel):
    """Weights of the fallback ranking's signals (module docstring); score = sum of weight x signal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    no_tracks: float = Field(5.0, ge=0, description="An occupied well without any track.")
    track_count_mismatch: float = Field(3.0, ge=0, description="Per track more or fewer than n_expected.")
    interpolated_frames: float = Field(0.1, ge=0, description="Per interpolated track-frame.")
    fb_disagreement: float = Field(0.1, ge=0, description="Per detected track-frame whose forward and backward "
                                                            "links disagree.")
    type_uncertainty: float = Field(1.0, ge=0, description="Times the largest 1 - |2 p_effector - 1| of the well.")
    reason_min: float = Field(0.25, ge=0, description="A signal adding at least this much is listed as a reason.")


@dataclass(frozen=True)
class WellToReview:
    """One well of the review order: ``well`` (``f000/r0c1``), its ``score`` (NaN when not
    ranked), ``reasons`` (short texts) and ``ranked_by`` (``review_queue``, ``fallback``,
    ``chosen``)."""

    well: str
    score: float
    reasons: tuple[str, ...]
    ranked_by: str


def fallback_ranking(tracks: pd.DataFrame, types: pd.DataFrame | None, occupied: Sequence[tuple[str, int, int]],
                     weights: FallbackWeights | None = None) -> pd.DataFrame:
    """The fallback ranking of a chip's ``occupied`` wells ``(field_id, row, col)`` from its
    ``cell_tracks`` rows (``tracks``) and ``cell_types`` rows (``types``, None when not
    materialized). Returns one row per occupied well: ``field_id, row, col``, each signal,
    ``score`` and ``reasons`` (tuple of str), sorted by score descending, then well."""
    w = weights or FallbackWeights()
    wells = pd.DataFrame(list(occupied), columns=WELL).astype({"row": "int64", "col": "int64"})
    per_well = pd.DataFrame(columns=[*WELL, "n_tracks", "n_expected", "interpolated_frames", "fb_disagreement"])
    if len(tracks):
        t = tracks.assign(interp=tracks["source"] == "interpolated",
                          fb_bad=(tracks["source"] == "detected") & ~tracks["fb_agree"].astype(bool))
        per_well = t.groupby(WELL, as_index=False).agg(
            n_tracks=("track_id", "nunique"), n_expected=("n_expected", "max"),
            interpolated_frames=("interp", "sum"), fb_disagreement=("fb_bad", "sum"))
    out = wells.merge(per_well, on=WELL, how="left")
    out["no_tracks"] = out["n_tracks"].isna().astype(float)
    out["track_count_mismatch"] = (out["n_tracks"] - out["n_expected"]).abs().fillna(0.0)
    for column in ("interpolated_frames", "fb_disagreement"):
        out[column] = out[column].fillna(0).astype(float)
    out["type_uncertainty"], out["type_track"], out["p_effector"] = 0.0, -1, np.nan
    if types is not None and len(types):
        u = types.assign(u=1.0 - (2.0 * types["p_effector"] - 1.0).abs())
        worst = u.loc[u.groupby(WELL)["u"].idxmax(), [*WELL, "u", "track_id", "p_effector"]]
        out = out.drop(columns=["type_uncertainty", "type_track", "p_effector"]).merge(worst, on=WELL, how="left")
        out = out.rename(columns={"u": "type_uncertainty", "track_id": "type_track"})
        out["type_uncertainty"] = out["type_uncertainty"].fillna(0.0)
    signals = ["no_tracks", "track_count_mismatch", "interpolated_frames", "fb_disagreement", "type_uncertainty"]
    out["score"] = sum(getattr(w, s) * out[s] for s in signals) if len(out) else pd.Series(dtype=float)
    out["reasons"] = [_reasons(r, w) for r in out.itertuples()] if len(out) else pd.Series(dtype=object)
    return out.sort_values(["score", *WELL], ascending=[False, True, True, True], kind="stable").reset_index(drop=True)


def _reasons(r, w: FallbackWeights) -> tuple[str, ...]:
    """The reasons of one fallback row, largest contribution first."""
    found = []
    if w.no_tracks * r.no_tracks >= w.reason_min:
        found.append((w.no_tracks * r.no_tracks, "occupied but no tracks"))
    if w.track_count_mismatch * r.track_count_mismatch >= w.reason_min:
        found.append((w.track_count_mismatch * r.track_count_mismatch,
                      f"{int(r.n_tracks)} tracks, {int(r.n_expected)} cells expected"))
    if w.interpolated_frames * r.interpolated_frames >= w.reason_min:
        found.append((w.interpolated_frames * r.interpolated_frames,
                      f"{int(r.interpolated_frames)} interpolated track-frames"))
    if w.fb_disagreement * r.fb_disagreement >= w.reason_min:
        found.append((w.fb_disagreement * r.fb_disagreement,
                      f"{int(r.fb_disagreement)} links where forward and backward tracking disagree"))
    if w.type_uncertainty * r.type_uncertainty >= w.reason_min:
        found.append((w.type_uncertainty * r.type_uncertainty,
                      f"cell type uncertain: track {int(r.type_track)} p_effector {r.p_effector:.2f}"))
    return tuple(text for _, text in sorted(found, key=lambda x: -x[0]))


def _table(chip: ChipStore, name: str) -> pd.DataFrame | None:
    return read_chip_table(chip.tables_dir, name, chip.chip_id) if chip.table_path(name).is_file() else None


def _queue_ranking(queue: pd.DataFrame, chip: ChipStore) -> pd.DataFrame:
    score = next((c for c in SCORE_COLUMNS if c in queue.columns), None)
    if score is None:
        raise ValueError(f"{chip.table_path(REVIEW_QUEUE)}: no score column (one of {list(SCORE_COLUMNS)}) in "
                         f"{list(queue.columns)}")
    reasons = queue["reasons"].fillna("") if "reasons" in queue.columns else pd.Series("", index=queue.index)
    out = queue[WELL].assign(score=queue[score].astype(float),
                             reasons=[tuple(p.strip() for p in str(r).split(";") if p.strip()) for r in reasons])
    return out.sort_values(["score", *WELL], ascending=[False, True, True, True], kind="stable").reset_index(drop=True)


def wells_to_review(chip: ChipStore, *, top: int | None = None, wells: Sequence[str] | None = None,
                    weights: FallbackWeights | None = None) -> list[WellToReview]:
    """The wells to open, in order (module docstring): the ``top`` first of the chip's
    ranking, or the chosen ``wells`` (ValueError naming a malformed one). FileNotFoundError
    when the chip has neither a ``review_queue`` nor a ``cell_tracks`` table."""
    queue = _table(chip, REVIEW_QUEUE)
    if queue is not None:
        ranking, ranked_by = _queue_ranking(queue, chip), REVIEW_QUEUE
    else:
        tracks = read_chip_table(chip.tables_dir, "cell_tracks", chip.chip_id)
        occupied = [(i.field_id, i.row, i.col) for i in list_well_movies(chip.zarr_path) if i.cropped]
        ranking, ranked_by = fallback_ranking(tracks, _table(chip, "cell_types"), occupied, weights), "fallback"
    ranked = [WellToReview(well_name(r.field_id, r.row, r.col), float(r.score), tuple(r.reasons), ranked_by)
              for r in ranking.itertuples()]
    if wells is not None:
        by_name = {w.well: w for w in ranked}
        chosen = []
        for name in wells:
            parse_well_name(name)  # ValueError naming the expected form
            found = by_name.get(name)
            chosen.append(WellToReview(name, found.score if found else float("nan"),
                                       found.reasons if found else (), "chosen"))
        ranked = chosen
    return ranked if top is None else ranked[:top]


__all__ = ["REVIEW_QUEUE", "SCORE_COLUMNS", "FallbackWeights", "WellToReview", "fallback_ranking",
           "wells_to_review"]
