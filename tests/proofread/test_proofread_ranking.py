"""Which wells ``lftiming review`` opens first: the review_queue table when the chip has one,
else the fallback ranking from cell_tracks and cell_types, or the wells asked for."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from lftiming_ml.annotations.review_wells import FallbackWeights, fallback_ranking, wells_to_review
from lftiming_ml.annotations.schema import parse_well_name
from lftiming_ml.store.layout import ChipStore
from lftiming_ml.store.tables import read_chip_table, write_chip_table
from tests.proofread.conftest import busiest_wells


def _tracks(well: tuple[str, int, int], n_tracks: int, n_expected: int, *, interpolated: int = 0,
            disagree: int = 0, n_frames: int = 10) -> pd.DataFrame:
    rows = []
    for k in range(n_tracks):
        for t in range(n_frames):
            rows.append({"field_id": well[0], "row": well[1], "col": well[2], "track_id": k, "frame": t,
                         "source": "detected", "fb_agree": True, "n_expected": n_expected})
    df = pd.DataFrame(rows)
    df.loc[df.index[:interpolated], "source"] = "interpolated"
    df.loc[df.index[interpolated:interpolated + disagree], "fb_agree"] = False
    return df


def test_fallback_ranking_puts_the_broken_well_first_and_says_why() -> None:
    clean, broken, unsure, untracked = ("f000", 0, 0), ("f000", 0, 1), ("f000", 1, 0), ("f000", 1, 1)
    tracks = pd.concat([_tracks(clean, 2, 2), _tracks(broken, 3, 2, interpolated=4, disagree=3),
                        _tracks(unsure, 2, 2)], ignore_index=True)
    types = pd.DataFrame({"field_id": "f000", "row": [0, 0, 1, 1], "col": [0, 0, 0, 0], "track_id": [0, 1, 0, 1],
                          "p_effector": [0.02, 0.97, 0.55, 0.01]})
    w = FallbackWeights()
    ranking = fallback_ranking(tracks, types, [clean, broken, unsure], w)
    assert [tuple(r) for r in ranking[["field_id", "row", "col"]].itertuples(index=False)] == [broken, unsure, clean]
    top = ranking.iloc[0]
    assert top["score"] == pytest.approx(w.track_count_mismatch * 1 + w.interpolated_frames * 4
                                         + w.fb_disagreement * 3)
    assert top["reasons"][0] == "3 tracks, 2 cells expected"
    assert "4 interpolated track-frames" in top["reasons"]
    assert ranking.iloc[1]["reasons"] == ("cell type uncertain: track 0 p_effector 0.55",)
    assert ranking.iloc[2]["reasons"] == () and ranking.iloc[2]["score"] == pytest.approx(
        w.type_uncertainty * (1 - abs(2 * 0.97 - 1)))

    # an occupied well the tracker left empty outranks them all
    ranking = fallback_ranking(tracks, types, [clean, broken, unsure, untracked], w)
    assert tuple(ranking.iloc[0][["field_id", "row", "col"]]) == untracked
    assert ranking.iloc[0]["reasons"] == ("occupied but no tracks",)


def test_a_well_broken_in_the_chip_tables_is_reviewed_first(chip: ChipStore) -> None:
    clean_first = wells_to_review(chip)
    assert all(w.ranked_by == "fallback" for w in clean_first)
    victim = busiest_wells(chip)[-1]
    assert clean_first[0].well != victim
    # an identity switch: the tracker split one cell's track in two halfway through
    tracks = read_chip_table(chip.tables_dir, "cell_tracks", chip.chip_id)
    f, r, c = parse_well_name(victim)
    mine = (tracks["field_id"] == f) & (tracks["row"] == r) & (tracks["col"] == c)
    new_id = tracks.loc[mine, "track_id"].max() + 1
    tracks.loc[mine & (tracks["track_id"] == 0) & (tracks["frame"] >= 5), "track_id"] = new_id
    write_chip_table(chip.tables_dir, "cell_tracks", chip.chip_id, tracks)
    first = wells_to_review(chip, top=2)
    assert len(first) == 2 and first[0].well == victim
    assert first[0].reasons[0].endswith("cells expected")


@pytest.mark.parametrize("score_column", ["score", "suspicion"])
def test_the_review_queue_table_decides_when_the_chip_has_one(chip: ChipStore, score_column: str) -> None:
    queue = pd.DataFrame({"chip_id": chip.chip_id, "field_id": "f000", "row": [0, 1, 2], "col": [2, 1, 0],
                          score_column: [0.2, 0.9, 0.5], "reasons": ["", "tracks cross; area flicker", None]})
    write_chip_table(chip.tables_dir, "review_queue", chip.chip_id, queue)
    got = wells_to_review(chip)
    assert [w.well for w in got] == ["f000/r1c1", "f000/r2c0", "f000/r0c2"]
    assert got[0].reasons == ("tracks cross", "area flicker") and got[1].reasons == () and got[0].score == 0.9
    assert {w.ranked_by for w in got} == {"review_queue"}
    assert [w.well for w in wells_to_review(chip, top=1)] == ["f000/r1c1"]


def test_chosen_wells_open_in_the_order_given(chip: ChipStore) -> None:
    a, b = busiest_wells(chip)[:2]
    got = wells_to_review(chip, wells=[b, a, "f000/r9c9"])
    assert [w.well for w in got] == [b, a, "f000/r9c9"] and {w.ranked_by for w in got} == {"chosen"}
    assert not math.isnan(got[0].score) and math.isnan(got[2].score)
    with pytest.raises(ValueError, match="is not of the form"):
        wells_to_review(chip, wells=["f000-r0c1"])
