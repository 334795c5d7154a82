"""Progress bars for the long loops (wells of a chip, training epochs): ``tqdm`` on stderr.

Shown only when stderr is a terminal (a run in the Dagster UI or a test prints nothing);
``LFTIMING_PROGRESS=1`` forces them on, ``0`` off.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """``iterable`` with a transient progress bar labelled ``desc``."""
    flag = os.environ.get("LFTIMING_PROGRESS")
    disable = None if flag is None else flag == "0"
    return iter(tqdm(iterable, desc=desc, total=total, unit=unit, disable=disable, leave=False, dynamic_ncols=True))


__all__ = ["progress"]
