"""Hand-made chip tables for the review queue's unit tests: wells of a few tracks with the
columns the pipeline writes (``docs/tables.md``), clean unless a test breaks them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

CHIP, FIELD, T = "rv", "f000", 20
VERSIONS = {"cell_tracks": {"model_version": 3, "reid_version": 6}, "cell_types": {"model_version": 2},
            "cell_deaths": {"model_version": 5}}

TRACK_COLUMNS = ["chip_id", "field_id", "row", "col", "track_id", "frame", "y", "x", "area", "source", "instance",
                 "link_cost", "fb_agree", "start_reason", "end_reason", "parent", "n_expected"]
TYPE_COLUMNS = ["chip_id", "field_id", "row", "col", "track_id", "cell_type", "p_effector", "n_frames",
                "p_effector_track", "lineage_id"]
DEATH_COLUMNS = ["chip_id", "field_id", "row", "col", "track_id", "frame", "p_apoptotic", "apoptotic", "death_frame"]


@dataclass
class Track:
    """One track of a hand-made well: present ``frames`` (default: the whole movie)."""

    kind: str = "target"
    frames: list[int] = field(default_factory=lambda: list(range(T)))
    area: list[int] | None = None
    interpolated: set[int] = field(default_factory=set)
    fb_disagree: set[int] = field(default_factory=set)
    score: float = 0.99
    p_effector: float | None = None
    p_apoptotic: list[float] | None = None
    death_frame: int | None = None
    start_reason: str = "movie_start"
    end_reason: str = "movie_end"


def well_tables(wells: dict[tuple[int, int], list[Track]], *, n_expected: dict[tuple[int, int], int] | None = None,
                extra_instances: dict[tuple[int, int], int] | None = None,
                outcomes: dict[tuple[int, int], dict] | None = None) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """``(wells, tables)`` of one chip: the occupied wells (``WELL_KEYS``) and its cell_masks,
    cell_tracks, cell_types, cell_deaths and well_outcomes tables. ``extra_instances``: LOCSNET
    instances no track takes, per well (at frame 0); ``outcomes`` overrides well_outcomes columns."""
    masks, tracks, types, deaths, outs = [], [], [], [], []
    for (row, col), cells in wells.items():
        key = {"chip_id": CHIP, "field_id": FIELD, "row": row, "col": col}
        used: dict[int, int] = {}
        for k, c in enumerate(cells):
            area = c.area or [100] * len(c.frames)
            for i, t in enumerate(c.frames):
                detected = t not in c.interpolated
                instance = used.get(t, 0) if detected else -1
                if detected:
                    used[t] = instance + 1
                    masks.append({**key, "frame": t, "instance": instance, "score": c.score})
                tracks.append({**key, "track_id": k, "frame": t, "y": 20.0, "x": 20.0, "area": area[i],
                               "source": "detected" if detected else "interpolated", "instance": instance,
                               "link_cost": np.nan, "fb_agree": t not in c.fb_disagree, "start_reason": c.start_reason,
                               "end_reason": c.end_reason, "parent": -1,
                               "n_expected": (n_expected or {}).get((row, col), len(cells))})
            p = c.p_effector if c.p_effector is not None else (0.98 if c.kind == "effector" else 0.02)
            types.append({**key, "track_id": k, "cell_type": c.kind, "p_effector": p, "n_frames": len(c.frames),
                          "p_effector_track": p, "lineage_id": k})
            p_apo = c.p_apoptotic or [0.0 if c.death_frame is None or t < c.death_frame else 1.0 for t in c.frames]
            for t, pa in zip(c.frames, p_apo):
                deaths.append({**key, "track_id": k, "frame": t, "p_apoptotic": pa,
                               "apoptotic": c.death_frame is not None and t >= c.death_frame,
                               "death_frame": c.death_frame})
        for i in range((extra_instances or {}).get((row, col), 0)):
            masks.append({**key, "frame": 0, "instance": used.get(0, 0) + i, "score": 0.6})
        if cells:
            outs.append({**key, "n_effectors": sum(c.kind == "effector" for c in cells),
                         "n_targets": sum(c.kind == "target" for c in cells), "et_group": "other", "n_frames": T,
                         "contact_frames": 0, "contact_rich": False, "n_targets_died": 0, "n_targets_killed": 0,
                         "n_effectors_died": 0, **(outcomes or {}).get((row, col), {})})
    tables = {
        "cell_masks": pd.DataFrame(masks, columns=["chip_id", "field_id", "row", "col", "frame", "instance", "score"]),
        "cell_tracks": pd.DataFrame(tracks, columns=TRACK_COLUMNS), "cell_types": pd.DataFrame(types, columns=TYPE_COLUMNS),
        "cell_deaths": pd.DataFrame(deaths, columns=DEATH_COLUMNS),
        "well_outcomes": pd.DataFrame(outs, columns=["chip_id", "field_id", "row", "col", "n_effectors", "n_targets",
                                                     "et_group", "n_frames", "contact_frames", "contact_rich",
                                                     "n_targets_died", "n_targets_killed", "n_effectors_died"]),
    }
    tables["cell_deaths"]["death_frame"] = tables["cell_deaths"]["death_frame"].astype("Int64")
    tables["cell_tracks"] = tables["cell_tracks"].astype({"row": "int64", "col": "int64", "track_id": "int64",
                                                          "frame": "int64", "area": "int64", "instance": "int64",
                                                          "fb_agree": "bool", "n_expected": "int64"})
    for name, columns in VERSIONS.items():
        for column, version in columns.items():
            tables[name][column] = np.int64(version)
    occupied = pd.DataFrame([{"chip_id": CHIP, "field_id": FIELD, "row": r, "col": c} for r, c in wells],
                            columns=["chip_id", "field_id", "row", "col"])
    return occupied, tables
