"""Kinetics on synthetic wells with known frames: tSeek, tContact, tDeath, attribution,
serial kills, speed, degenerate wells, and the killing-frequency CI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lftiming_ml.interactions import ContactParams, KineticsParams, chip_kinetics, contact_events, killing_frequency
from lftiming_ml.metrics.strata import et_stratum

T, DT, PX_UM = 30, 5.0, 0.5


def well(cells: dict[int, tuple[str, int | None]], contacts: dict[tuple[int, int], set[int]], *, col: int = 0,
         positions: dict[int, np.ndarray] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``tracks`` and ``contact_frames`` of one well: cells = id -> (type, death frame or
    None), present all movie; contacts = (effector, target) -> frames in contact."""
    rows, frames = [], []
    for tid, (kind, death) in cells.items():
        pos = positions[tid] if positions and tid in positions else np.full((T, 2), 20.0)
        for t in range(T):
            rows.append(("c", "f0", 0, col, tid, t, pos[t, 0], pos[t, 1], 100, kind,
                         death is None or t < death, pd.NA if death is None else death))
    eff = [i for i, (k, _) in cells.items() if k == "effector"]
    tgt = [i for i, (k, _) in cells.items() if k == "target"]
    for e in eff:
        for g in tgt:
            on = contacts.get((e, g), set())
            frames += [("c", "f0", 0, col, t, e, g, 0, 0.0 if t in on else 5.0, t in on) for t in range(T)]
    tracks = pd.DataFrame(rows, columns=["chip_id", "field_id", "row", "col", "track_id", "frame", "y", "x", "area",
                                         "cell_type", "alive", "death_frame"])
    tracks["death_frame"] = tracks["death_frame"].astype("Int64")
    cf = pd.DataFrame(frames, columns=["chip_id", "field_id", "row", "col", "frame", "effector_id", "target_id",
                                       "overlap_px", "distance_um", "in_contact"])
    return tracks, cf


def kinetics(tracks: pd.DataFrame, frames: pd.DataFrame, max_gap: int = 1):
    events = contact_events(frames, frame_interval_min=DT, params=ContactParams(max_gap_frames=max_gap))
    return chip_kinetics(tracks, frames, events, pixel_size_um=PX_UM, frame_interval_min=DT, n_frames=T)


def test_known_frames_1e1t() -> None:
    tracks, frames = well({0: ("effector", None), 1: ("target", 14)}, {(0, 1): {3, 4, 5, 6, 9, 10}})
    k = kinetics(tracks, frames)
    row = k.interactions.iloc[0]
    assert row["first_contact_frame"] == 3 and row["t_seek_min"] == 3 * DT
    assert row["n_events"] == 2 and row["t_contact_min"] == 4 * DT and row["t_contact_total_min"] == 6 * DT
    assert row["killed"] and row["t_death_min"] == (14 - 3) * DT
    tgt = k.targets.iloc[0]
    assert tgt["killed"] and tgt["killer_id"] == 0 and tgt["t_death_min"] == (14 - 3) * DT
    assert tgt["survival_min"] == 14 * DT and tgt["death_observed"]
    w = k.wells.iloc[0]
    assert w["et_group"] == "1E1T" and w["contact_frames"] == 6 and w["killed_any"] and w["t_seek_min"] == 3 * DT
    # Without gap merging the first event ends at frame 6 too; with 3-frame merging it runs to 10.
    assert kinetics(tracks, frames, max_gap=0).interactions["t_contact_min"].iloc[0] == 4 * DT
    assert kinetics(tracks, frames, max_gap=2).interactions["t_contact_min"].iloc[0] == 8 * DT


def test_untouched_targets_have_no_t_death_and_are_not_killed() -> None:
    cells = {0: ("effector", None), 1: ("target", 8), 2: ("target", None), 3: ("target", 20)}
    tracks, frames = well(cells, {(0, 3): {25, 26}})  # touches target 3 only after its death
    k = kinetics(tracks, frames)
    assert not k.targets["killed"].any() and k.targets["t_death_min"].isna().all()
    assert k.targets.set_index("target_id")["died"].to_dict() == {1: True, 2: False, 3: True}
    inter = k.interactions.iloc[0]
    assert not inter["killed"] and not inter["target_died_after_contact"] and np.isnan(inter["t_death_min"])
    assert k.wells["n_targets_died"].iloc[0] == 2 and k.wells["n_targets_killed"].iloc[0] == 0


def test_serial_killer_counted() -> None:
    cells = {0: ("effector", None), 1: ("target", 8), 2: ("target", 20)}
    tracks, frames = well(cells, {(0, 1): {2, 3, 4}, (0, 2): {10, 11, 12}})
    k = kinetics(tracks, frames)
    eff = k.effectors.iloc[0]
    assert eff["n_kills"] == 2 and eff["serial_killer"] and eff["n_targets_contacted"] == 2
    assert eff["t_seek_min"] == 2 * DT
    assert k.interactions.set_index("target_id")["t_death_min"].to_dict() == {1: 6 * DT, 2: 10 * DT}
    assert k.wells["n_serial_killers"].iloc[0] == 1 and k.wells["et_group"].iloc[0] == "1E2T"


def test_death_attributed_to_the_longest_contact_before_death() -> None:
    cells = {0: ("effector", None), 1: ("effector", None), 2: ("target", 15)}
    tracks, frames = well(cells, {(0, 2): {1}, (1, 2): set(range(4, 11))})
    k = kinetics(tracks, frames)
    inter = k.interactions.set_index("effector_id")
    assert inter["killed"].to_dict() == {0: False, 1: True}
    assert inter["target_died_after_contact"].all()
    assert inter.loc[1, "t_death_min"] == (15 - 4) * DT and np.isnan(inter.loc[0, "t_death_min"])
    assert k.effectors.set_index("effector_id")["n_contacted_targets_died"].to_dict() == {0: 1, 1: 1}
    assert k.targets["killer_id"].iloc[0] == 1


def test_no_negative_durations_on_random_wells() -> None:
    rng = np.random.default_rng(4)
    parts = []
    for col in range(25):
        n_e, n_t = rng.integers(0, 3), rng.integers(0, 3)
        cells = {i: ("effector", int(rng.integers(5, T)) if rng.random() < 0.2 else None) for i in range(n_e)}
        cells |= {n_e + j: ("target", int(rng.integers(0, T)) if rng.random() < 0.5 else None) for j in range(n_t)}
        contacts = {(e, n_e + j): set(np.flatnonzero(rng.random(T) < 0.3).tolist())
                    for e in range(n_e) for j in range(n_t)}
        if cells:
            parts.append(well(cells, contacts, col=col))
    tracks = pd.concat([p[0] for p in parts], ignore_index=True)
    k = kinetics(tracks, pd.concat([p[1] for p in parts if len(p[1])], ignore_index=True))
    assert len(k.wells) == len(parts) and k.interactions["killed"].any()
    for table in (k.interactions, k.effectors, k.targets, k.wells):
        minutes = table[[c for c in table.columns if c.endswith("_min")]]
        assert (minutes.fillna(0) >= 0).all().all()
    assert k.interactions.loc[~k.interactions["killed"], "t_death_min"].isna().all()
    assert k.interactions.loc[k.interactions["killed"], "t_death_min"].notna().all()
    assert (k.interactions["t_contact_min"] <= k.interactions["t_contact_total_min"]).all()
    assert not k.interactions.duplicated(["col", "effector_id", "target_id"]).any()
    assert k.targets.groupby(["col", "target_id"])["killed"].sum().le(1).all()


def test_effector_speed_displacement_and_death() -> None:
    path = np.stack([np.full(T, 20.0), 5.0 + 2.0 * np.arange(T)], axis=1)  # 2 px/frame along x
    tracks, frames = well({0: ("effector", 21), 1: ("target", None)}, {}, positions={0: path})
    eff = kinetics(tracks, frames).effectors.iloc[0]
    assert eff["speed_um_min"] == pytest.approx(2 * PX_UM / DT)
    assert eff["displacement_um"] == pytest.approx(20 * 2 * PX_UM)  # alive frames 0..20
    assert eff["died"] and eff["death_frame"] == 21 and eff["t_effector_death_min"] == 21 * DT
    assert np.isnan(eff["t_seek_min"]) and eff["n_kills"] == 0


@pytest.mark.parametrize("cells", [{0: ("target", None)}, {0: ("effector", None)},
                                   {0: ("target", 5), 1: ("target", None)}])
def test_degenerate_wells_do_not_crash(cells) -> None:
    tracks, frames = well(cells, {})
    k = kinetics(tracks, frames)
    assert k.interactions.empty and len(k.wells) == 1
    assert k.wells["n_interactions"].iloc[0] == 0 and not k.wells["killed_any"].iloc[0]
    assert len(k.targets) + len(k.effectors) == len(cells)
    assert killing_frequency(k.wells)["n"].sum() == 0


def test_killing_frequency_ci_covers_the_truth() -> None:
    """Simulated check: wells kill with a known probability; the 95% Wilson CI of the
    per-group frequency covers it in about 95% of replicate experiments."""
    rng = np.random.default_rng(0)
    p_kill = {"1E1T": 0.3, "2E1T": 0.6}
    covered = {g: 0 for g in p_kill}
    reps = 200
    for _ in range(reps):
        rows = []
        for group, p in p_kill.items():
            n_e, n_t = int(group[0]), int(group[2])
            assert et_stratum(n_e, n_t) == group
            for _ in range(40):
                rows.append({"n_effectors": n_e, "n_targets": n_t, "et_group": group, "killed_any": rng.random() < p})
        freq = killing_frequency(pd.DataFrame(rows)).set_index("et_group")
        for group, p in p_kill.items():
            covered[group] += int(freq.loc[group, "ci_low"] <= p <= freq.loc[group, "ci_high"])
        assert freq.loc["all", "n"] == 80
    for group in p_kill:
        assert 0.89 <= covered[group] / reps <= 0.99


def test_killing_frequency_by_target_needs_targets() -> None:
    tracks, frames = well({0: ("effector", None), 1: ("target", 9), 2: ("target", None)}, {(0, 1): {2, 3}})
    k = kinetics(tracks, frames)
    by_target = killing_frequency(k.wells, k.targets, params=KineticsParams(killing_unit="target"))
    assert by_target.set_index("et_group").loc["1E2T", ["n", "n_killed"]].tolist() == [2, 1]
    with pytest.raises(ValueError):
        killing_frequency(k.wells, params=KineticsParams(killing_unit="target"))
