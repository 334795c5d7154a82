"""Per-field work units (``store.units``, ``workers``): a failed or killed stage keeps its
finished fields, the re-run computes only the rest, and the result equals an uninterrupted
run; units in worker processes give the in-process result; nothing is visible before the
stage's commit."""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lftiming_ml.segmentation.serving import CELL_COLUMNS, chip_cell_masks
from lftiming_ml.store.commit import chip_commit
from lftiming_ml.store.masks import open_well_masks
from lftiming_ml.store.movies import WellMovieInfo, list_well_movies, write_well_movie
from lftiming_ml.store.units import finished_unit, stage_units_dir
from lftiming_ml.workers import WorkerPool, field_unit_key, run_field_units
from tests.assets.fakes import FakeSegmenter
from tests.reliability.unit_fns import ROWS, logged, mean_phase_field

FIELDS = ("f000", "f001", "f002")


def _info(field: str, row: int, col: int, n_frames: int = 3) -> WellMovieInfo:
    return WellMovieInfo(chip_id="units-chip", field_id=field, row=row, col=col, channels=["phase", "pkh67"],
                         channel_roles=["phase", "effector_dye"], frame_interval_min=5.0, um_per_px=0.65,
                         field_px_per_crop_px=1.0, crop_origins_px=[(10.0, 20.0)] * n_frames,
                         well_box_px=(9.0, 9.0, 86.0, 86.0), occupied=True, cropped=True, detection_score=0.9)


def _store(root: Path) -> Path:
    """A store of 3 fields x 2 wells of 3-frame 96 px movies (blobs on noise)."""
    store = root / "units-chip.zarr"
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[:96, :96]
    for f in FIELDS:
        for col in (0, 1):
            movie = rng.integers(900, 1100, (3, 2, 96, 96)).astype(np.uint16)
            for t in range(3):
                cy, cx = rng.uniform(30, 66, 2)
                movie[t, 0][(yy - cy) ** 2 + (xx - cx) ** 2 < 64] = 3000
            write_well_movie(store, _info(f, 0, col), movie)
    return store


def _run(store: Path, log: Path, pool: WorkerPool | None = None, **kw) -> pd.DataFrame:
    outputs = run_field_units(store, "mean_phase", FIELDS, mean_phase_field,
                              lambda f: (str(store), f, str(log), kw.get("kill_marker", ""), kw.get("fail_field", "")),
                              {"fn": "mean_phase v1"}, pool=pool)
    return pd.concat([o.rows for o in outputs], ignore_index=True)


def _masks(store: Path) -> dict[str, np.ndarray]:
    out = {}
    for w in list_well_movies(store):
        try:
            out[w.group_path] = open_well_masks(store, w.field_id, w.row, w.col)[0]
        except FileNotFoundError:
            pass
    return out


def _finished(store: Path) -> list[str]:
    return [f for f in FIELDS if finished_unit(store, "mean_phase", field_unit_key(
        store, "mean_phase", f, {"fn": "mean_phase v1"}), f) is not None]


@pytest.fixture
def reference(tmp_path: Path) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    store = _store(tmp_path / "ref")
    rows = _run(store, tmp_path / "ref.log")
    return rows, _masks(store)


def test_failed_stage_keeps_finished_fields_and_rerun_computes_only_the_rest(tmp_path, reference):
    store = _store(tmp_path)
    log = tmp_path / "run.log"
    with pytest.raises(ValueError, match="field f001 is bad") as err:
        _run(store, log, fail_field="f001")
    assert any("mean_phase unit f001" in note for note in err.value.__notes__)
    assert _masks(store) == {}, "a failed stage changed the store"
    assert _finished(store) == ["f000"]
    assert logged(log) == ["f000", "f001"]
    pool = WorkerPool()
    rows = _run(store, log, pool=pool)
    assert logged(log) == ["f000", "f001", "f001", "f002"], "the re-run recomputed a finished field"
    assert pool.last_run == "2 of 3 fields run in this process, 1 finished by an earlier run reused"
    pd.testing.assert_frame_equal(rows, reference[0])
    masks = _masks(store)
    assert masks.keys() == reference[1].keys() and all((masks[k] == reference[1][k]).all() for k in masks)
    assert not stage_units_dir(store, "mean_phase").exists(), "the commit left the units behind"


def test_units_of_changed_inputs_are_recomputed(tmp_path):
    store = _store(tmp_path)
    log = tmp_path / "run.log"
    with pytest.raises(ValueError):
        _run(store, log, fail_field="f002")
    assert _finished(store) == ["f000", "f001"]
    movie = np.full((3, 2, 96, 96), 1000, np.uint16)  # f000's first well re-materialized with other data
    write_well_movie(store, _info("f000", 0, 0), movie)
    _run(store, log)
    assert logged(log)[3:] == ["f000", "f002"], "a unit whose inputs changed was reused (or f001 redone)"


def test_a_killed_worker_fails_the_stage_and_the_rerun_redoes_only_unfinished_fields(tmp_path, reference):
    store = _store(tmp_path)
    log = tmp_path / "run.log"
    marker = tmp_path / "kill-once"
    marker.write_text("")
    with WorkerPool(workers=2, threads=1) as pool:
        with pytest.raises(BrokenProcessPool, match="a worker process died"):
            _run(store, log, pool=pool, kill_marker=str(marker))
        assert _masks(store) == {}
        done_before = _finished(store)
        assert len(done_before) < len(FIELDS)
        first = len(logged(log))
        rows = _run(store, log, pool=pool)  # the pool restarts after the break
        assert pool.last_run.endswith("finished by an earlier run reused") == bool(done_before)
    assert sorted(logged(log)[first:]) == sorted(set(FIELDS) - set(done_before))
    pd.testing.assert_frame_equal(rows, reference[0])
    masks = _masks(store)
    assert all((masks[k] == reference[1][k]).all() for k in reference[1])


def test_cell_masks_in_two_worker_processes_equal_the_in_process_run(tmp_path):
    here, there = _store(tmp_path / "a"), _store(tmp_path / "b")
    with chip_commit(here):
        cells_here, wells_here = chip_cell_masks(here, FakeSegmenter())
    with WorkerPool(workers=2, threads=1) as pool, chip_commit(there):
        cells_there, wells_there = chip_cell_masks(there, FakeSegmenter(), pool=pool)
    assert list(cells_here.columns) == list(CELL_COLUMNS) and len(cells_here)
    pd.testing.assert_frame_equal(cells_here.drop(columns="score"), cells_there.drop(columns="score"))
    np.testing.assert_allclose(cells_here["score"], cells_there["score"], atol=1e-5)
    assert [(w.field_id, w.row, w.col, w.n_frames) for w in wells_here] == \
        [(w.field_id, w.row, w.col, w.n_frames) for w in wells_there]
    for w in wells_there:
        assert w.path.is_relative_to(there) and (w.path / "zarr.json").is_file()


def test_a_model_built_here_cannot_be_sent_to_workers(tmp_path):
    store = _store(tmp_path)
    segment = FakeSegmenter()()
    with WorkerPool(workers=2) as pool, pytest.raises(ValueError, match="built in this process"):
        chip_cell_masks(store, segment, pool=pool)


def test_units_on_a_dask_local_cluster_equal_the_in_process_run(tmp_path, reference):
    distributed = pytest.importorskip("distributed", reason="the dask extra (pip install -e '.[dask]')")
    store = _store(tmp_path)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster:
        with WorkerPool(dask_scheduler=cluster.scheduler_address) as pool:
            rows = _run(store, tmp_path / "run.log", pool=pool)
            pids = set(pool._client.run(lambda: __import__("os").getpid()).values())  # type: ignore[union-attr]
    assert len(pids) == 2
    pd.testing.assert_frame_equal(rows, reference[0])
    masks = _masks(store)
    assert masks.keys() == reference[1].keys() and all((masks[k] == reference[1][k]).all() for k in masks)


def test_default_workers_from_the_environment(monkeypatch):
    from lftiming_ml import workers

    monkeypatch.setattr(workers, "available_cores", lambda: 8)
    monkeypatch.setattr(workers, "total_memory_bytes", lambda: 10 * 2 ** 30)
    monkeypatch.delenv(workers.DEFAULT_WORKERS_ENV, raising=False)
    assert workers.default_workers() == 3, "auto: one per core, at most one per 3 GB"
    monkeypatch.setattr(workers, "total_memory_bytes", lambda: 64 * 2 ** 30)
    assert workers.default_workers() == 8
    monkeypatch.setenv(workers.DEFAULT_WORKERS_ENV, "1")
    assert workers.default_workers() == 1
    for bad in ("0", "two"):
        monkeypatch.setenv(workers.DEFAULT_WORKERS_ENV, bad)
        with pytest.raises(ValueError, match="LFTIMING_WORKERS"):
            workers.default_workers()


def _rss_mb() -> float:
    return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmRSS from /proc")
def test_release_memory_gives_a_fragmented_heap_back():
    """Freed blocks pinned between live ones stay resident until ``release_memory``."""
    from lftiming_ml.workers import release_memory

    blocks = [bytes(4096) for _ in range(60_000)]  # ~240 MB of heap blocks
    keep = blocks[::50]  # every 50th stays: the heap cannot shrink from its top
    del blocks
    before = _rss_mb()
    assert release_memory()
    assert before - _rss_mb() > 100, "malloc_trim released less than 100 MB of ~235 MB freed"
    assert len(keep) == 1200


def test_each_unit_releases_memory_after_it_ran(tmp_path, monkeypatch):
    """``run_unit`` releases memory after every unit it runs."""
    import lftiming_ml.workers as workers

    calls = []
    monkeypatch.setattr(workers, "release_memory", lambda: calls.append(1) or True)
    store = _store(tmp_path)
    _run(store, tmp_path / "log.txt")
    assert len(calls) == len(FIELDS)
