"""benchmarks/reproduce_summary.py: figures read from benchmark JSONs, judged against their
targets (met or missed, by how much), and the markdown table."""

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from reproduce_summary import (  # noqa: E402
    CELLTYPE_ACCURACY,
    Figure,
    Target,
    classification_figures,
    kinetics_figures,
    markdown,
)


def _scores(accuracy: float, ci: tuple[float, float], n: int = 20) -> dict:
    return {"accuracy": accuracy, "accuracy_ci": list(ci), "n": float(n), "auroc": 0.99, "auroc_ci": [0.98, 1.0],
            "death": {"within_tol": 0.99, "within_tol_ci": [0.97, 1.0], "tolerance_frames": 4, "n_tracks": n,
                      "n_true_deaths": 5}}


def test_targets_say_met_or_missed_and_by_how_much() -> None:
    at_least, at_most = Target(">=", 0.97), Target("<=", 0.08)
    assert at_least.margin(0.99) == pytest.approx(0.02) and at_least.margin(0.95) == pytest.approx(-0.02)
    assert at_most.margin(0.05) == pytest.approx(0.03) and at_most.margin(0.10) == pytest.approx(-0.02)
    assert Target("within", (0.2, 0.6)).margin(0.5) == pytest.approx(0.1)
    assert Target("within", (0.2, 0.6)).margin(0.7) == pytest.approx(-0.1)
    f = Figure("s", "x", 0.975, (0.96, 0.99), at_least, True, ())
    assert f.status == "met" and f.ci_vs_target == "straddles"
    assert Figure("s", "x", 0.99, (0.98, 1.0), at_least, True, ()).ci_vs_target == "clear"
    assert Figure("s", "x", 0.90, (0.88, 0.93), at_least, True, ()).ci_vs_target == "clear miss"
    assert Figure("s", "x", math.nan, None, at_least, True, ()).status == "no value"
    assert Figure("s", "x", 0.5, None, None, False, ()).status == ""


def test_one_stratum_below_target_is_a_missed_headline_figure() -> None:
    groups = {"overall": _scores(0.985, (0.97, 0.995), 100), "1E1T": _scores(1.0, (1.0, 1.0)),
              "2E2T": _scores(0.95, (0.90, 0.99)), "contact-rich": _scores(0.98, (0.96, 0.99))}
    run = {"models": {"celltype/cnn_lstm": {"test": groups, "test_overall_per_track": _scores(0.96, (0.94, 0.98))},
                      "apoptosis/cnn_lstm": {"test": {"overall": _scores(0.995, (0.993, 0.997))}}}}
    figures = classification_figures({"runs": {"registered": run}})
    types = {f.name.split(", ")[-1]: f for f in figures if f.name.startswith("cell type accuracy per lineage")}
    assert {g for g, f in types.items() if f.headline} == {"1E1T", "2E2T"}  # the E:T strata present
    assert types["2E2T"].status == "missed" and types["2E2T"].target.margin(0.95) == pytest.approx(0.95 - CELLTYPE_ACCURACY)
    assert types["1E1T"].status == "met" and types["overall"].status == "met" and not types["overall"].headline
    md = markdown(figures, {"classification": "reproduce/classification.json"}, [], title="t")
    assert "**missed (−0.020)**" in md and "met (+0.030)" in md
    headline = [f for f in figures if f.headline]
    assert f"Headline figures: {len(headline) - 1} of {len(headline)} meet their target" in md
    assert "missed: cell type accuracy per lineage, 2E2T." in md


def test_contact_fn_rate_target_is_on_the_frame_matched_overall_rate() -> None:
    by = {m: {"overall": {"fn_rate": rate, "fn_rate_ci95": [rate - 0.01, rate + 0.01], "wells": 10,
                          "true_contact_pair_frames": 500}} for m, rate in (("frame_matched", 0.09), ("track", 0.05))}
    result = {"contacts_pair_frames": {"frame_matched_accuracy": 0.96, "accuracy": 0.95, "well_frame_accuracy": 0.97,
                                       "well_frame_fn_rate": 0.03},
              "acceptance": {"fn_rate_max": 0.10, "contact_accuracy_min": 0.95, "mae_frames_max": 1.0},
              "contacts_fn_rate_by_stratum": by,
              "kinetics": {"t_seek_mae_frames": 0.0, "t_contact_mae_frames": 0.0, "t_death_mae_frames": 2.0,
                           "n_matched": 30},
              "killing_frequency": {"well": {"1E1T": {"pred": 0.5, "truth": 0.45, "truth_ci": [0.3, 0.6], "n": 12}}}}
    figures = {f.name: f for f in kinetics_figures(result)}
    head = [f for f in figures.values() if f.headline]
    assert [f.name for f in head] == ["contact FN rate, frame-matched pair-frames, overall"]
    assert head[0].status == "missed" and head[0].target.margin(0.09) == pytest.approx(-0.01)
    assert figures["contact FN rate, track-matched pair-frames, overall"].status == "met"  # its own target, 0.10
    assert figures["tDeath median absolute error (frames)"].status == "missed"
    assert figures["killing frequency per well, 1E1T"].status == "met"
