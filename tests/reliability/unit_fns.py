"""Work-unit functions for the worker tests (module level, so worker processes import them)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pandas as pd

from lftiming_ml.store.masks import write_well_masks
from lftiming_ml.store.movies import list_well_movies, open_well_phase

ROWS = {"field_id": "object", "row": "int32", "col": "int32", "mean_phase": "float64"}


def mean_phase_field(store_path: str, field_id: str, log: str, kill_marker: str = "", fail_field: str = "",
                     ) -> tuple[dict, pd.DataFrame]:
    """One field's unit: per well, a masks group of one instance where the phase is above
    its mean, and a row with the mean. Appends the field to ``log`` first. If ``fail_field``
    is this field, raises ValueError; if ``kill_marker`` exists and this process claims it
    (rename), the process kills itself (SIGKILL) half-way."""
    with open(log, "a") as f:
        f.write(f"{field_id}\n")
    if field_id == fail_field:
        raise ValueError(f"field {field_id} is bad")
    rows = []
    wells = [w for w in list_well_movies(store_path) if w.cropped and w.field_id == field_id]
    for i, info in enumerate(wells):
        if i == 1 and kill_marker:
            try:
                os.rename(kill_marker, kill_marker + ".taken")
            except FileNotFoundError:
                pass
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        phase, _ = open_well_phase(store_path, info.field_id, info.row, info.col)
        masks = (phase > phase.mean())[:, None]
        write_well_masks(store_path, info, masks, np.ones((len(phase), 1), np.float32))
        rows.append({"field_id": field_id, "row": info.row, "col": info.col, "mean_phase": float(phase.mean())})
    return {"wells": len(wells)}, pd.DataFrame(rows, columns=list(ROWS)).astype(ROWS)


def logged(log: str | Path) -> list[str]:
    path = Path(log)
    return path.read_text().split() if path.is_file() else []


class TwoPartError(Exception):
    """An error pickle cannot rebuild (its constructor wants two arguments, ``args`` holds one)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")


def square_or_fail(x: int, bad: int) -> int:
    """``x * x``; raises ``TwoPartError`` for ``bad``."""
    if x == bad:
        raise TwoPartError(f"item {x}", "cannot be squared")
    return x * x
