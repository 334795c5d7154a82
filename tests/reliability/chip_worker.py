"""Run a chip through ``lftiming run``'s code path (``cli.run_chip``) with the fake model
registry, in its own process, optionally stopping at a chosen point so that a test can
``kill -9`` it there::

    python -m tests.reliability.chip_worker --data D --chip C [--version 2] [--job chip_pipeline]
        [--pause-at POINT] [--wait] [--direct]

``--pause-at`` (the worker writes ``<data>/paused`` and sleeps there):

- ``movies:N`` / ``masks:N`` / ``tracks:N``: after staging the N-th well movie / masks / tracks group;
- ``commit:TABLE``: when a commit holding TABLE is about to write its journal;
- ``apply:TABLE:N``: after N renames of the journal of a commit holding TABLE (half applied);
- ``step:STEP``: at the start of a step (a run in progress, for the dead-run and concurrency tests).

The instance is ``$DAGSTER_HOME``'s. Exit code: ``run_chip``'s (0, 1, 3), 2 when refused.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import dagster as dg

from lftiming_assets.jobs import CHIP_ASSETS, MODEL_ASSETS, chip_pipeline, segment_chips
from lftiming_assets.progress import RUN_LOGGERS
from lftiming_assets.resources import build_resources
from lftiming_ml.store import commit as store_commit
from lftiming_ml.store import masks as store_masks
from lftiming_ml.store import movies as store_movies
from lftiming_ml.store import tracks as store_tracks
from tests.assets.fakes import FakeRegistry

MODELS = ["well_detector", "locsnet", "reid_embedding", "celltype_classifier", "apoptosis_classifier"]


def fake_defs(data: Path, chip: str, version: int = 1, registry: dg.ConfigurableResource | None = None
              ) -> dg.Definitions:
    """The code location's chip jobs over ``data`` with ``FakeRegistry`` models at ``version``."""
    registry = registry or FakeRegistry(chip_dir=str(data / "raw" / chip), versions={m: version for m in MODELS})
    return dg.Definitions(assets=[*CHIP_ASSETS, *MODEL_ASSETS], jobs=[chip_pipeline, segment_chips],
                          resources={**build_resources(str(data)), "registry": registry}, loggers=RUN_LOGGERS)


def pause(data: Path, point: str) -> None:
    (data / "paused").write_text(f"{os.getpid()} {point}")
    while True:
        time.sleep(60)


def install_pause(data: Path, spec: str) -> None:
    kind, _, rest = spec.partition(":")
    if kind in ("movies", "masks", "tracks"):
        module = {"movies": store_movies, "masks": store_masks, "tracks": store_tracks}[kind]
        real, count = module.replace_group, {"n": 0}

        def counted(store_path, target, fill):
            out = real(store_path, target, fill)
            count["n"] += 1
            if count["n"] == int(rest):
                pause(data, spec)
            return out

        module.replace_group = counted
    elif kind == "commit":
        real_commit = store_commit.ChipCommit.commit

        def commit(self):
            if any(Path(dst).name == f"{self.chip_id}.parquet" and Path(dst).parent.name == rest
                   for _, _, dst in self.ops):
                pause(data, spec)
            return real_commit(self)

        store_commit.ChipCommit.commit = commit
    elif kind == "apply":
        table, _, n = rest.partition(":")
        real_apply, real_replace = store_commit._apply, os.replace

        def apply(ops, trash):
            if not any(Path(dst).parent.name == table for _, _, dst in ops):
                return real_apply(ops, trash)
            count = {"n": 0}

            def replace(src, dst):
                real_replace(src, dst)
                count["n"] += 1
                if count["n"] == int(n):
                    pause(data, spec)

            store_commit.os.replace = replace
            try:
                return real_apply(ops, trash)
            finally:
                store_commit.os.replace = real_replace

        store_commit._apply = apply
    elif kind == "step":
        real_lock = store_commit.chip_lock

        def lock(path, chip_id, *, what, **kw):  # a step's first commit names the step
            if f"({rest})" in what:
                pause(data, spec)
            return real_lock(path, chip_id, what=what, **kw)

        store_commit.chip_lock = lock
    else:
        raise SystemExit(f"unknown pause point {spec!r}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--chip", required=True)
    p.add_argument("--version", type=int, default=1)
    p.add_argument("--job", default="chip_pipeline")
    p.add_argument("--pause-at", default=None)
    p.add_argument("--wait", action="store_true")
    p.add_argument("--direct", action="store_true",
                   help="execute the job directly, as a run launched from the UI would, without lftiming run's guards")
    args = p.parse_args(argv)
    if args.pause_at:
        install_pause(args.data, args.pause_at)
    if args.direct:
        from lftiming_assets.partitions import chips
        from lftiming_assets.runs import get_instance

        instance = get_instance()  # the UI's instance exists before its runs; here two workers may create it
        instance.add_dynamic_partitions(chips.name, [args.chip])
        result = fake_defs(args.data, args.chip, args.version).resolve_job_def(args.job).execute_in_process(
            partition_key=args.chip, instance=instance, raise_on_error=False)
        print(f"run {result.run_id} {'success' if result.success else 'failure'}")
        return 0 if result.success else 1
    from lftiming_assets.cli import ChipBusyError, MissingModelsError, run_chip

    try:
        run = run_chip(args.chip, args.job, defs=fake_defs(args.data, args.chip, args.version), wait=args.wait)
    except (ChipBusyError, MissingModelsError, ValueError) as e:
        print(f"lftiming run: {e}", file=sys.stderr)
        return 2
    print(f"run {run.run_id} exit {run.exit_code}")
    return run.exit_code


if __name__ == "__main__":
    sys.exit(main())
