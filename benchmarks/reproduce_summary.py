"""The figures of ``benchmarks/reproduce.py``: each benchmark's JSON -> one row per figure
(value, 95% CI, target, met or missed and by how much), and the markdown table.

A ``Figure`` is one number a benchmark wrote, with the CI that benchmark computed (or, for
pooled ratios, ``metrics.stats.bootstrap_ratio_ci`` over its per-well rows); ``headline``
marks the figures issue #19 asks for (acceptance targets, wells, the laptrack comparison),
the others are the per-stratum detail around them. The readers below know each benchmark's
JSON layout; they compute no metric of their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from lftiming_ml.metrics.stats import bootstrap_ratio_ci

SEGMENTATION_MIOU = {"overall": 0.92, ">4 cells": 0.88}
TRACKING_MOTA = {"overall": 0.97, "1E1T": 0.99}
CELLTYPE_ACCURACY = 0.97
APOPTOSIS_FRAME_ACCURACY = 0.99
DEATH_WITHIN_4 = 0.98
CONTACT_FRAME_MATCHED_FN = 0.08
"""Issue #19's acceptance targets for the bundled models."""

ET_STRATA = ("1E1T", "1E2T", "2E1T", "2E2T", ">4 cells", "other")


@dataclass(frozen=True)
class Target:
    """``value op threshold`` with op '>=' or '<=', or op 'within' a [low, high] interval;
    ``label`` names a threshold that is itself a result (e.g. 'ours' for laptrack)."""

    op: str
    threshold: float | tuple[float, float]
    label: str = ""

    def margin(self, value: float) -> float:
        """How far ``value`` is on the right side of the target (negative: missed by that much)."""
        if self.op == ">=":
            return value - float(self.threshold)  # type: ignore[arg-type]
        if self.op == "<=":
            return float(self.threshold) - value  # type: ignore[arg-type]
        low, high = self.threshold  # type: ignore[misc]
        return min(value - low, high - value)

    def text(self) -> str:
        if self.op == "within":
            low, high = self.threshold  # type: ignore[misc]
            return f"within [{low:.3f}, {high:.3f}]"
        value = f"{float(self.threshold):.3f}" if self.label else f"{float(self.threshold):g}"  # type: ignore[arg-type]
        return f"{'≥' if self.op == '>=' else '≤'} {self.label + ' ' if self.label else ''}{value}"


@dataclass(frozen=True)
class Figure:
    """One reported number. ``ci`` is its 95% CI (None where the benchmark gives none);
    ``models`` the pipeline models it measures (for the model cards)."""

    stage: str
    name: str
    value: float
    ci: tuple[float, float] | None
    target: Target | None
    headline: bool
    models: tuple[str, ...]
    note: str = ""

    @property
    def status(self) -> str:
        """'met' / 'missed' against the target, 'no value', or '' without a target."""
        if self.target is None:
            return ""
        if self.value is None or not math.isfinite(self.value):
            return "no value"
        return "met" if self.target.margin(self.value) >= 0 else "missed"

    @property
    def ci_vs_target(self) -> str:
        """'clear' when the whole CI meets the target, 'clear miss' when none of it does,
        'straddles' otherwise; '' without a target or a CI."""
        if self.target is None or self.ci is None or not all(math.isfinite(c) for c in self.ci):
            return ""
        margins = [self.target.margin(c) for c in self.ci]
        if self.target.op == "within":
            return ""
        if min(margins) >= 0:
            return "clear"
        return "clear miss" if max(margins) < 0 else "straddles"

    def as_dict(self) -> dict:
        out = asdict(self)
        out["target"] = None if self.target is None else {**asdict(self.target), "text": self.target.text()}
        out["status"] = self.status
        out["margin"] = (self.target.margin(self.value) if self.target is not None and self.value is not None
                         and math.isfinite(self.value) else None)
        out["ci_vs_target"] = self.ci_vs_target
        return out


def _ci(pair: Sequence[float] | None) -> tuple[float, float] | None:
    return None if pair is None else (float(pair[0]), float(pair[1]))


def _pooled_mota(wells: Iterable[Mapping]) -> tuple[float, tuple[float, float]]:
    """MOTA pooled over objects (1 - summed errors / summed true objects) of per-well rows
    with true cells, and its CI (bootstrap over wells)."""
    rows = [w for w in wells if w["n_gt"] > 0]
    errors = np.array([w["n_misses"] + w["n_false_positives"] + w["n_id_switches"] for w in rows], float)
    est, lo, hi = bootstrap_ratio_ci(errors, np.array([w["n_gt"] for w in rows], float))
    return 1.0 - est, (1.0 - hi, 1.0 - lo)


# --- one reader per benchmark JSON ------------------------------------------------------------

def wells_figures(d: Mapping) -> list[Figure]:
    a, t = d["all_chips"], d["targets"]
    m = ("well_detector",)
    return [
        Figure("wells", "well recall", a["recall"], _ci(a["recall_ci"]), Target(">=", t["recall"]), True, m,
               f"{a['n_matched']}/{a['n_true']} wells"),
        Figure("wells", "well precision", a["precision"], _ci(a["precision_ci"]), Target(">=", t["precision"]), True,
               m, f"{a['n_matched']}/{a['n_pred']} wells"),
        Figure("wells", "well centre error, mean (canonical px)", a["mean_centre_error"], None,
               Target("<=", t["mean_centre_error_max"]), True, m, f"max {a['max_centre_error']:.2f} px"),
        Figure("wells", "well occupancy accuracy", a["occupancy_accuracy"], _ci(a["occupancy_accuracy_ci"]),
               Target(">=", t["occupancy_accuracy"]), False, m),
        Figure("wells", "grid + crops, s per field (slowest chip)", d["seconds_per_field_max"], None,
               Target("<=", t["seconds_per_field_max"]), False, m, "machine-dependent"),
    ]


def segmentation_figures(d: Mapping, model: str = "locsnet:champion") -> list[Figure]:
    scores = d["models"][model]["all"]
    out = []
    for group, s in scores.items():
        if group == "speed":
            continue
        target = SEGMENTATION_MIOU.get(group)
        out.append(Figure("segmentation", f"LOCSNET mIoU, {group}", s["miou_mean"], (s["miou_ci_low"], s["miou_ci_high"]),
                          None if target is None else Target(">=", target), target is not None, ("locsnet",),
                          f"{s['n_wells']} wells, {s['n_missed']} missed / {s['n_extra']} extra cells"))
    return out


def _tracking(stage: str, what: str, strata: Mapping[str, Mapping], mean_key: str, ours_wells: Sequence[Mapping],
              models: tuple[str, ...]) -> list[Figure]:
    """Ours per stratum (targets on overall and 1E1T), pooled over objects, and laptrack on
    the same detections (overall; target: below ours)."""
    out = []
    for group, s in sorted(strata["ours"].items(), key=lambda item: item[0] != "overall"):
        target = TRACKING_MOTA.get(group)
        out.append(Figure(stage, f"MOTA {what}, {group}", s[mean_key], _ci(s["mota_ci95"]),
                          None if target is None else Target(">=", target), target is not None, models,
                          f"{s['wells']} wells, {s['id_switches']} ID switches"))
    pooled, ci = _pooled_mota(ours_wells)
    out.append(Figure(stage, f"MOTA {what}, pooled over objects", pooled, ci, Target(">=", TRACKING_MOTA["overall"]),
                      False, models, "1 - summed errors / summed true objects; CI over wells"))
    ours, lap = strata["ours"]["overall"], strata["laptrack"]["overall"]
    out.append(Figure(stage, f"laptrack MOTA {what}, overall", lap[mean_key], _ci(lap["mota_ci95"]),
                      Target("<=", ours[mean_key], "ours"), True, models,
                      f"{lap['id_switches']} ID switches vs ours {ours['id_switches']}"))
    for group, s in strata.get("ours_no_reid", {}).items():
        if group == "overall":
            out.append(Figure(stage, f"MOTA {what} without re-ID, overall", s[mean_key], _ci(s["mota_ci95"]), None,
                              False, models, f"{s['id_switches']} ID switches (ablation)"))
    return out


def tracking_gt_figures(d: Mapping) -> list[Figure]:
    gt = d["strata"]["gt"]
    rename = lambda g: "overall" if g == "all" else g  # noqa: E731
    strata = {method: {rename(g): s[method] for g, s in gt.items()} for method in ("ours", "laptrack", "ours_no_reid")}
    wells = [w for w in d["wells"] if w["variant"] == "gt" and w["method"] == "ours"]
    return _tracking("tracking_gt", "on true detections", strata, "mota", wells, ("reid_embedding",))


def tracking_locsnet_figures(d: Mapping) -> list[Figure]:
    wells = [w for w in d["wells"] if w["method"] == "ours"]
    return _tracking("tracking_locsnet", "on LOCSNET detections", d["strata"], "mota_mean", wells,
                     ("well_detector", "locsnet", "reid_embedding"))


def classification_figures(d: Mapping, run: str = "registered") -> list[Figure]:
    models = d["runs"][run]["models"]
    out = []
    types = models["celltype/cnn_lstm"]["test"]
    for group, s in types.items():
        out.append(Figure("classification", f"cell type accuracy per lineage, {group}", s["accuracy"],
                          _ci(s["accuracy_ci"]), Target(">=", CELLTYPE_ACCURACY), group in ET_STRATA,
                          ("celltype_classifier",), f"n = {int(s['n'])} tracks"))
    per_track = models["celltype/cnn_lstm"]["test_overall_per_track"]
    out.append(Figure("classification", "cell type accuracy per track, overall", per_track["accuracy"],
                      _ci(per_track["accuracy_ci"]), Target(">=", CELLTYPE_ACCURACY), False, ("celltype_classifier",),
                      "the classifier alone, before lineage pooling"))
    for group, s in models["apoptosis/cnn_lstm"]["test"].items():
        headline = group == "overall"
        out.append(Figure("classification", f"apoptosis frame accuracy, {group}", s["accuracy"], _ci(s["accuracy_ci"]),
                          Target(">=", APOPTOSIS_FRAME_ACCURACY), headline, ("apoptosis_classifier",),
                          f"{int(s['n'])} track-frames"))
        death = s["death"]
        out.append(Figure("classification", f"death frame within ±{death['tolerance_frames']} frames, {group}",
                          death["within_tol"], _ci(death["within_tol_ci"]), Target(">=", DEATH_WITHIN_4), headline,
                          ("apoptosis_classifier",), f"{death['n_tracks']} tracks, {death['n_true_deaths']} deaths"))
        if headline:
            out.append(Figure("classification", "apoptosis AUROC, overall", s["auroc"], _ci(s["auroc_ci"]),
                              Target(">=", 0.97), False, ("apoptosis_classifier",)))
    return out


def kinetics_figures(d: Mapping) -> list[Figure]:
    pipeline = ("well_detector", "locsnet", "reid_embedding", "celltype_classifier", "apoptosis_classifier")
    c, acc, out = d["contacts_pair_frames"], d["acceptance"], []
    for matching, label in (("frame_matched", "frame-matched"), ("track", "track-matched")):
        target = CONTACT_FRAME_MATCHED_FN if matching == "frame_matched" else acc["fn_rate_max"]
        for group, s in d["contacts_fn_rate_by_stratum"][matching].items():
            out.append(Figure("kinetics", f"contact FN rate, {label} pair-frames, {group}", s["fn_rate"],
                              _ci(s["fn_rate_ci95"]), Target("<=", target),
                              matching == "frame_matched" and group == "overall", pipeline,
                              f"{s['wells']} wells, {s['true_contact_pair_frames']} true contact pair-frames"))
    for key, label in (("frame_matched_accuracy", "contact accuracy, frame-matched pair-frames"),
                       ("accuracy", "contact accuracy, track-matched pair-frames"),
                       ("well_frame_accuracy", "contact accuracy, well-frames")):
        out.append(Figure("kinetics", label, c[key], None, Target(">=", acc["contact_accuracy_min"]), False, pipeline))
    out.append(Figure("kinetics", "contact FN rate, well-frames", c["well_frame_fn_rate"], None,
                      Target("<=", acc["fn_rate_max"]), False, pipeline))
    k = d["kinetics"]
    for key, label in (("t_seek_mae_frames", "tSeek"), ("t_contact_mae_frames", "tContact"),
                       ("t_death_mae_frames", "tDeath")):
        out.append(Figure("kinetics", f"{label} median absolute error (frames)", k[key], None,
                          Target("<=", acc["mae_frames_max"]), False, pipeline,
                          f"{k['n_matched']} matched interactions"))
    for group, f in d["killing_frequency"]["well"].items():
        out.append(Figure("kinetics", f"killing frequency per well, {group}", f["pred"], None,
                          Target("within", tuple(f["truth_ci"])), False, pipeline,
                          f"truth {f['truth']:.3f} (its 95% CI is the target), n = {f['n']} wells"))
    return out


READERS: dict[str, Callable[[Mapping], list[Figure]]] = {
    "wells": wells_figures, "segmentation": segmentation_figures, "tracking_gt": tracking_gt_figures,
    "tracking_locsnet": tracking_locsnet_figures, "classification": classification_figures,
    "kinetics": kinetics_figures,
}
"""Stage name -> the reader of its JSON."""


# --- markdown -------------------------------------------------------------------------------

def _num(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    return f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"


def _row(f: Figure, source: str) -> str:
    ci = "—" if f.ci is None else f"[{_num(f.ci[0])}, {_num(f.ci[1])}]"
    target = "—" if f.target is None else f.target.text()
    if f.status in ("met", "missed"):
        margin = abs(f.target.margin(f.value))  # type: ignore[union-attr]
        status = f"{f.status} ({'+' if f.status == 'met' else '−'}{margin:.{4 if 0 < margin < 0.001 else 3}f})"
        status = f"**{status}**" if f.status == "missed" else status
    else:
        status = f.status or "—"
    return (f"| {f.name} | {_num(f.value)} | {ci} | {target} | {status} | {f.ci_vs_target or '—'} | "
            f"`{source}` | {f.note} |")


HEADER = ("| figure | value | 95% CI | target | met / missed (margin) | CI vs target | source | note |\n"
          "|---|---|---|---|---|---|---|---|")


def markdown(figures: Sequence[Figure], sources: Mapping[str, str], stages: Sequence[Mapping], *,
             title: str, preamble: Sequence[str] = ()) -> str:
    """The summary: the headline figures, every figure by stage, and the stages (command,
    seconds, exit code). ``sources``: stage -> its JSON path as shown."""
    head = [f for f in figures if f.headline]
    missed = [f for f in head if f.status != "met" and f.target is not None]
    lines = [f"# {title}", "", *preamble, "",
             f"Headline figures: {len(head) - len(missed)} of {len(head)} meet their target"
             + (f"; missed: {', '.join(f.name for f in missed)}." if missed else "."), "",
             "## Headline (issue #19 acceptance, wells, laptrack comparison)", "", HEADER]
    lines += [_row(f, sources.get(f.stage, "?")) for f in head]
    lines += ["", "## Every figure, by stage", ""]
    for stage in dict.fromkeys(f.stage for f in figures):
        lines += [f"### {stage}", "", HEADER] + [_row(f, sources[stage]) for f in figures if f.stage == stage] + [""]
    lines += ["## Stages", "", "CPU s: user + system seconds of the stage's processes; on 2 otherwise idle cores its wall "
              "time is about this or less (2 threads at most), so wall time well above it is other work's load.", "",
              "| stage | wall s | CPU s | exit | command |", "|---|---|---|---|---|"]
    for s in stages:
        lines.append(f"| {s['stage']} | {s['seconds']:.0f} | {s.get('cpu_seconds', float('nan')):.0f} | "
                     f"{'—' if s['returncode'] is None else s['returncode']}{' (failed)' if s.get('failed') else ''} | "
                     f"`{s['command'] or 'skipped: ' + s.get('skipped', '')}` |")
    return "\n".join(lines) + "\n"


__all__ = ["APOPTOSIS_FRAME_ACCURACY", "CELLTYPE_ACCURACY", "CONTACT_FRAME_MATCHED_FN", "DEATH_WITHIN_4", "Figure",
           "READERS", "SEGMENTATION_MIOU", "TRACKING_MOTA", "Target", "markdown"]
