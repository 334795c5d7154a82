"""Per-chip locks: one writer of a chip's outputs at a time, across processes.

A lock is an exclusive ``flock`` on a file in the chip's work folder
(``layout.chip_work_dir``); the kernel drops it when its process dies (``kill -9``
included), so a crashed run never leaves a chip locked. The holder writes who it is into
the file (pid, host, what, since) so that the next one can say who holds the chip.

Two locks per chip:

- ``write.lock``: held by every commit (``store.commit.chip_commit``) for as long as it
  stages and commits; a second writer waits. Nothing else writes a chip's outputs.
- ``run.lock``: held by ``lftiming run`` for its whole run; a second ``lftiming run`` of the
  same chip is refused (or waits with ``--wait``).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path


class ChipBusyError(RuntimeError):
    """The chip is locked by another process (the message names it)."""


def lock_holder(lock_path: Path | str) -> dict:
    """What the lock file says about its last holder: ``pid``, ``host``, ``what``, ``since``
    (empty when unreadable)."""
    try:
        return json.loads(Path(lock_path).read_text() or "{}")
    except (OSError, ValueError):
        return {}


def describe_holder(holder: dict) -> str:
    """``"lftiming run (pid 123 on host, since 2026-12-01T10:00:00Z)"``."""
    if not holder:
        return "another process"
    return (f"{holder.get('what') or 'a process'} (pid {holder.get('pid')} on {holder.get('host')}, "
            f"since {holder.get('since')})")


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise


@contextmanager
def chip_lock(lock_path: Path | str, chip_id: str, *, what: str, timeout_s: float | None = 0.0,
              on_wait: Callable[[str], None] | None = None, poll_s: float = 0.2) -> Iterator[Path]:
    """Hold the exclusive lock ``lock_path`` of chip ``chip_id`` for the block.

    ``timeout_s``: 0 refuses at once when another process holds it, None waits for ever, a
    number waits that long; then ``ChipBusyError`` names the chip and the holder. ``on_wait``
    is called once with that description when the lock is busy and we wait. ``what`` says
    who holds it (recorded in the file for the next one)."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        start = time.monotonic()
        told = False
        while not _try_lock(fd):
            busy = f"chip {chip_id} is in use by {describe_holder(lock_holder(lock_path))}"
            if timeout_s is not None and time.monotonic() - start >= timeout_s:
                raise ChipBusyError(busy)
            if on_wait is not None and not told:
                on_wait(busy)
                told = True
            time.sleep(poll_s)
        record = {"pid": os.getpid(), "host": socket.gethostname(), "what": what,
                  "since": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        try:
            yield lock_path
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


__all__ = ["ChipBusyError", "chip_lock", "describe_holder", "lock_holder"]
