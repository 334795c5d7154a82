"""The review window's tests: a small pipeline chip, and a screen for Qt.

napari draws with OpenGL, which Qt's ``offscreen`` platform does not provide here, so the
session starts a virtual X server (``Xvfb``, Debian package ``xvfb``; ``.ci/run`` installs it)
when there is no ``DISPLAY``, and Qt uses it (``QT_QPA_PLATFORM=xcb``). Without Xvfb the
tests fall back to ``QT_QPA_PLATFORM=offscreen``: the window's logic on a bare
``napari.components.ViewerModel`` and its Qt panel still run, the tests that need a drawn
``napari.Viewer`` skip (and fail under ``CI``, where Xvfb must be there); so do they when Qt
cannot start on the display (X libraries missing: ``.ci/run`` lists them). The platform is
chosen once per session, before pytest-qt makes the QApplication.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lftiming_ml.store.layout import ChipStore, DataLayout
from lftiming_ml.store.masks import write_well_masks
from lftiming_ml.store.movies import list_well_movies
from lftiming_ml.store.tables import read_chip_table
from lftiming_ml.store.tracks import open_well_track_masks
from tests.interactions.pipeline_chip import build_pipeline_chip

CHIP_ID = "review-s3"
N_FRAMES = 10


def _start_xvfb() -> tuple[subprocess.Popen, str] | None:
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        return None
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([xvfb, "-displayfd", str(write_fd), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        number = f.readline().strip()  # '' when Xvfb exits without a display
    if not number:
        proc.kill()
        return None
    return proc, f":{number}"


def _xcb_works() -> bool:
    """Qt starts on the display (a missing X library would abort the test process itself)."""
    code = "from qtpy.QtWidgets import QApplication; QApplication([])"
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120).returncode == 0


@pytest.fixture(scope="session", autouse=True)
def qt_screen() -> Iterator[str]:
    """``xcb`` (a display with OpenGL: Xvfb started here, or the session's own) or ``offscreen``."""
    saved = {k: os.environ.get(k) for k in ("DISPLAY", "QT_QPA_PLATFORM")}
    xvfb = None
    if not os.environ.get("DISPLAY"):
        xvfb = _start_xvfb()
        if xvfb is not None:
            os.environ["DISPLAY"] = xvfb[1]
    platform = "xcb" if os.environ.get("DISPLAY") and _xcb_works() else "offscreen"
    os.environ["QT_QPA_PLATFORM"] = platform
    yield platform
    if xvfb is not None:
        xvfb[0].terminate()
        xvfb[0].wait(timeout=10)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def gl_screen(qt_screen: str) -> str:
    """Skip when there is no display napari can draw on; fail instead when
    ``LFTIMING_REQUIRE_GUI`` is set (``.ci/run`` sets it once Xvfb is installed)."""
    if qt_screen != "xcb":
        message = "no display with OpenGL for napari: install Xvfb (apt-get install xvfb)"
        if os.environ.get("LFTIMING_REQUIRE_GUI"):
            pytest.fail(message)
        pytest.skip(message)
    return qt_screen


@pytest.fixture(scope="session")
def built_chip_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated 3 x 3 chip as the pipeline leaves it (truth standing in for the models),
    with LOCSNET instances written from the track masks so the instances layer has data."""
    root = tmp_path_factory.mktemp("review-chip")
    chip = build_pipeline_chip(root, CHIP_ID, seed=3, n_frames=N_FRAMES)
    for info in list_well_movies(chip.store_path):
        if info.cropped:
            masks = open_well_track_masks(chip.store_path, info.field_id, info.row, info.col)
            scores = np.where(masks.any(axis=(2, 3)), 0.9, np.nan).astype(np.float32)
            write_well_masks(chip.store_path, info, masks, scores)
    return root


@pytest.fixture
def data_root(built_chip_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(built_chip_root, root)
    return root


@pytest.fixture
def chip(data_root: Path) -> ChipStore:
    return DataLayout(data_root).chip(CHIP_ID)


def busiest_wells(chip: ChipStore) -> list[str]:
    """The chip's tracked wells, most tracks first (ties by name)."""
    tracks = read_chip_table(chip.tables_dir, "cell_tracks", chip.chip_id)
    n = tracks.groupby(["field_id", "row", "col"])["track_id"].nunique().reset_index()
    n["well"] = [f"{f}/r{r}c{c}" for f, r, c in zip(n["field_id"], n["row"], n["col"])]
    return list(n.sort_values(["track_id", "well"], ascending=[False, True])["well"])
