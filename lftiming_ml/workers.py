"""Where a stage's work units run: in this process, in local worker processes, or on a
Dask cluster; and the loop that runs a stage's units there (``run_units``).

A unit (``UnitTask``) is one field of a chip for one stage: a top-level function and its
arguments (picklable, so any process can run it), run inside ``store.units.unit_staging``
so its outputs wait on disk until the stage commits them. Units a previous run finished
with the same key are not run again (a killed run resumes per field).

- ``WorkerPool(workers=1)`` runs units one after another in this process (no pool);
- ``WorkerPool(workers=N)`` starts N ``spawn`` processes on first use, each with
  ``threads`` torch threads (default: this machine's cores / N), and keeps them until
  ``close`` (a run's units of every stage share them; a model is built once per worker
  process by its source (``models.sources.RegisteredModel``));
- ``WorkerPool(dask_scheduler="tcp://host:8786")`` sends units to that Dask cluster
  (``distributed.Client(...).get_executor()``; each worker process gets ``threads``
  torch threads, default 1: give the cluster one worker per core); its workers must see the
  same data paths and model registry (a shared file system), and ``distributed`` must be
  installed (``pip install -e '.[dask]'``).

A unit that raises fails the stage (the error keeps its type, with a note naming the unit); a worker process that dies (kill -9,
out of memory) fails the stage with ``BrokenProcessPool`` named likewise, and the pool is
restarted for the next stage. Either way the stage's commit is discarded and the finished
units stay for the re-run.
"""

from __future__ import annotations

import ctypes
import functools
import os
import pickle
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from lftiming_ml.progress import progress
from lftiming_ml.store.commit import chip_commit
from lftiming_ml.store.units import UnitOutput, adopt_units, finished_unit, input_stamps, unit_key, unit_staging

DEFAULT_WORKERS_ENV = "LFTIMING_WORKERS"
"""Default number of local worker processes (``auto``: one per core, memory allowing; 1: in this process)."""
DASK_SCHEDULER_ENV = "LFTIMING_DASK_SCHEDULER"
"""Default Dask scheduler address of the pipeline's pool (unset: local processes)."""


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


WORKER_MEMORY_BYTES = 3 * 2 ** 30
"""Memory ``auto`` allows per worker process (measured peak with the bundled models,
``benchmarks/scale.py``: 1.4-1.9 GB on chips of 2 and 8 fields; on 32 fields 2.3 GB before
``release_memory`` after each unit, 1.8 GB with it; on a 100-field chip 2.7 GB before it, 1.55 GB
with it)."""


def total_memory_bytes() -> int | None:
    """Physical memory of this machine (None when the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def default_workers() -> int:
    """``$LFTIMING_WORKERS`` (a number or ``auto``), else ``auto``: one per core, at most one per
    ``WORKER_MEMORY_BYTES`` of physical memory."""
    value = os.environ.get(DEFAULT_WORKERS_ENV, "auto").strip().lower()
    if value in ("", "auto"):
        memory = total_memory_bytes()
        by_memory = max(1, memory // WORKER_MEMORY_BYTES) if memory else available_cores()
        return max(1, min(available_cores(), by_memory))
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"${DEFAULT_WORKERS_ENV}={value!r}: a number of worker processes or 'auto'") from None
    if n < 1:
        raise ValueError(f"${DEFAULT_WORKERS_ENV}={value!r}: at least 1 worker")
    return n


@dataclass(frozen=True)
class UnitTask:
    """One unit of a stage: ``fn(*args) -> (result: dict, rows: DataFrame | None)``, run with
    its Zarr writes staged as unit ``unit`` (key ``key``) of ``stage`` in ``store_path``'s chip."""

    store_path: str
    stage: str
    key: str
    unit: str
    fn: Callable[..., tuple[dict, object]]
    args: tuple = ()

    def finished(self) -> UnitOutput | None:
        return finished_unit(self.store_path, self.stage, self.key, self.unit)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` from this process's own symbols, looked up once (None without glibc)."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # not glibc (musl, macOS): absent
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_memory() -> bool:
    """Give the memory this process freed back to the OS: glibc's ``malloc_trim(0)`` (the
    free pages of every arena). Whether glibc trimmed (False where there is no glibc, or
    nothing was released). No ``gc.collect()``: timed ad hoc (no benchmark) after fields of
    ``cell_tracks``, it cost ~450 ms per unit and found 0-28 objects; the trim ~12 ms.

    Why: units of different sizes (a field's wells, tracks, detections) leave glibc's heap
    fragmented: its mmap threshold rises with the first large block freed, and later blocks of
    new sizes extend the heap rather than reuse the holes. A worker process's peak memory then
    grew with the number of units it ran (``benchmarks/scale.py``, 32 fields: +400 MB in
    ``cell_tracks``); ``run_unit`` calls this after each unit so a worker starts every unit
    from the memory it holds for good (models, caches)."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False


def run_unit(task: UnitTask) -> str:
    """Run one unit (in whatever process this is) unless it is already finished; returns its
    name. Afterwards the process's freed memory goes back to the OS (``release_memory``)."""
    if task.finished() is not None:
        return task.unit
    try:
        with unit_staging(task.store_path, task.stage, task.key, task.unit) as staging:
            result, rows = task.fn(*task.args)
            staging.finish(result, rows)  # type: ignore[arg-type]
    finally:
        release_memory()
    return task.unit


def portable_call(fn: Callable[..., object], *args: object) -> object:
    """``fn(*args)`` in a worker process; an error that would not survive the trip back to the
    run (one that cannot be pickled and unpickled breaks the whole pool, hiding the problem)
    comes back as a ``RuntimeError`` with its type, message and notes."""
    try:
        return fn(*args)
    except Exception as e:
        try:
            pickle.loads(pickle.dumps(e))
        except Exception:
            portable = RuntimeError(f"{type(e).__module__}.{type(e).__qualname__}: {e}")
            for note in getattr(e, "__notes__", []):
                portable.add_note(note)
            raise portable from None
        raise


def _init_worker(threads: int) -> None:
    """Give this worker process ``threads`` torch threads."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import torch

    torch.set_num_threads(threads)


@dataclass
class WorkerPool:
    """Where units run (see the module docstring). ``workers`` 1 = this process."""

    workers: int = 1
    threads: int | None = None
    dask_scheduler: str | None = None
    last_run: str = field(default="", init=False)
    """What the last ``run`` did: how many units ran where, how many were reused."""
    _executor: Executor | None = field(default=None, init=False, repr=False)
    _client: object | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")

    @property
    def in_process(self) -> bool:
        return self.dask_scheduler is None and self.workers == 1

    def describe(self) -> str:
        if self.dask_scheduler:
            return f"Dask cluster {self.dask_scheduler}"
        return "this process" if self.in_process else f"{self.workers} worker processes x {self.worker_threads()} threads"

    def check_source(self, source: object, where: Path | str) -> None:
        """Refuse a model built in this process (``in_process_only``) when units run elsewhere."""
        if getattr(source, "in_process_only", False) and not self.in_process:
            raise ValueError(f"{where}: {getattr(source, 'identity', 'a model')} was built in this process and "
                             f"cannot run in {self.describe()}; give a models.sources.RegisteredModel")

    def worker_threads(self) -> int:
        return self.threads or max(1, available_cores() // self.workers)

    def executor(self) -> Executor:
        """The live executor, started on first use."""
        if self._executor is None:
            if self.dask_scheduler:
                try:
                    from distributed import Client
                except ImportError as e:
                    raise RuntimeError(f"dask_scheduler={self.dask_scheduler!r} needs the 'distributed' package "
                                       "(pip install -e '.[dask]')") from e
                self._client = Client(self.dask_scheduler)
                self._client.run(_init_worker, self.threads or 1)  # type: ignore[attr-defined]
                self._executor = self._client.get_executor()  # type: ignore[attr-defined]
            else:
                self._executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=get_context("spawn"),
                                                     initializer=_init_worker, initargs=(self.worker_threads(),))
        return self._executor

    def close(self) -> None:
        """Stop the worker processes (or disconnect from the cluster)."""
        if self._executor is not None:
            if isinstance(self._executor, ProcessPoolExecutor):
                self._executor.shutdown(wait=True, cancel_futures=True)
            else:  # Dask's executor: its futures are cancelled when the client closes
                self._executor.shutdown(wait=True)
            self._executor = None
        if self._client is not None:
            self._client.close()  # type: ignore[attr-defined]
            self._client = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, tasks: Sequence[UnitTask], *, desc: str = "units") -> list[UnitOutput]:
        """Run every unfinished unit of ``tasks`` here, in the workers or on the cluster, and
        return every unit's output in the order of ``tasks``. The first failure cancels what
        has not started and raises, naming the unit."""
        todo = [t for t in tasks if t.finished() is None]
        here = self.in_process or len(todo) <= 1
        if here:
            for t in progress(todo, desc=desc, unit="field", total=len(todo)):
                _named(lambda t=t: run_unit(t), t.stage, t.unit, t.store_path)
        else:  # one stage of one chip: the units share stage and store
            self._pooled([(t.unit, run_unit, (t,)) for t in todo], todo[0].stage, todo[0].store_path)
        reused = len(tasks) - len(todo)
        self.last_run = (f"{len(todo)} of {len(tasks)} fields run in {'this process' if here else self.describe()}"
                         + (f", {reused} finished by an earlier run reused" if reused else ""))
        outputs = [t.finished() for t in tasks]
        missing = [t.unit for t, o in zip(tasks, outputs) if o is None]
        if missing:  # a unit ran without finishing: a bug, never silently skipped
            raise RuntimeError(f"{tasks[0].store_path}: {tasks[0].stage} units {missing} ran but did not finish")
        return outputs  # type: ignore[return-value]

    def map(self, fn: Callable[..., object], calls: Sequence[tuple[str, tuple]], *, stage: str,
            store_path: Path | str) -> list[object]:
        """``fn(*args)`` for every ``(name, args)`` of ``calls`` (one per field of ``stage`` of
        the chip at ``store_path``), here or in the workers; the results in order. Unlike
        ``run``, nothing is kept between runs: a stage built on ``map`` redoes every call when
        it is re-run. A failure cancels what has not started and raises, naming the call."""
        if self.in_process or len(calls) <= 1:
            results = [_named(lambda a=args: fn(*a), stage, name, store_path, kept=False)
                       for name, args in progress(calls, desc=stage, unit="field", total=len(calls))]
            self.last_run = f"{len(calls)} fields run in this process"
            return results
        results = self._pooled([(name, fn, args) for name, args in calls], stage, store_path, kept=False)
        self.last_run = f"{len(calls)} fields run in {self.describe()}"
        return results

    def _cancel(self, futures: Iterable[Future]) -> None:
        for f in futures:
            f.cancel()
        if any(isinstance(f.exception(), BrokenProcessPool) for f in futures if f.done() and not f.cancelled()):
            self.close()  # a dead worker breaks the pool: start a fresh one for the next stage

    def _pooled(self, calls: Sequence[tuple[str, Callable[..., object], tuple]], stage: str, store_path: Path | str,
                *, kept: bool = True) -> list[object]:
        """``fn(*args)`` of every ``(name, fn, args)`` in the workers (``portable_call``), the
        results in order; the first failure cancels what has not started and raises, named."""
        try:
            futures = {self.executor().submit(portable_call, fn, *args): i for i, (_, fn, args) in enumerate(calls)}
        except BrokenProcessPool:
            self.close()
            raise
        results: list[object] = [None] * len(calls)
        try:
            for f in progress(as_completed(futures), desc=stage, unit="field", total=len(futures)):
                i = futures[f]
                results[i] = _named(f.result, stage, calls[i][0], store_path, kept=kept)
        except BaseException:
            self._cancel(futures)
            raise
        return results


def field_unit_key(store_path: Path | str, stage: str, field_id: str, key: Mapping[str, object],
                   models: Sequence[object] = (), input_groups: Sequence[str] = ("",)) -> str:
    """The key of ``field_id``'s unit of ``stage`` (see ``run_field_units``)."""
    return unit_key({**key, "stage": stage, "models": [getattr(m, "identity") for m in models],
                     "inputs": input_stamps(store_path, field_id, input_groups)})


def run_field_units(store_path: Path | str, stage: str, fields: Sequence[str], fn: Callable[..., tuple[dict, object]],
                    args: Callable[[str], tuple], key: Mapping[str, object], *, models: Sequence[object] = (),
                    pool: WorkerPool | None = None, input_groups: Sequence[str] = ("",)) -> list[UnitOutput]:
    """Run ``stage`` of a chip as one unit per field (``fn(*args(field))``) in ``pool``
    (default: this process), inside the stage's commit of the chip (its own when none is
    open), which takes every unit's Zarr groups. ``models``: the model sources the units use
    (``models.sources``; refused by a pool that is not this process when built here). A
    unit's key is ``key`` (the parameters), the models' identities, the stage and the stamps
    of the field's ``input_groups`` (``store.units.input_stamps``). Returns the units'
    outputs in the order of ``fields``."""
    pool = pool or WorkerPool()
    for model in models:
        pool.check_source(model, store_path)
    with chip_commit(store_path, what=stage) as commit:
        tasks = [UnitTask(str(store_path), stage, field_unit_key(store_path, stage, f, key, models, input_groups),
                          f, fn, args(f)) for f in fields]
        outputs = pool.run(tasks, desc=stage)
        adopt_units(commit, stage, outputs)
    return outputs


def _named(call: Callable[[], object], stage: str, unit: str, store_path: Path | str, *, kept: bool = True) -> object:
    """``call()``; an error keeps its type and gains a note naming the unit (``kept``: and
    that finished units stay for the re-run)."""
    chip = Path(store_path).name
    try:
        return call()
    except BrokenProcessPool as e:
        raise BrokenProcessPool(f"{stage} unit {unit} of {chip}: a worker process died ({e}); "
                                + ("finished units are kept, re-run the stage" if kept else "re-run the stage")) from e
    except Exception as e:
        e.add_note(f"in {stage} unit {unit} of {chip}"
                   + (" (units finished before it are kept for the re-run)" if kept else ""))
        raise


__all__ = ["DASK_SCHEDULER_ENV", "DEFAULT_WORKERS_ENV", "UnitTask", "WorkerPool", "available_cores", "default_workers",
           "field_unit_key", "portable_call", "release_memory", "run_field_units", "run_unit"]
