"""Code location of ``test_launched_runs``: one job whose op writes its process id to a file
and then waits (up to a minute) to be killed, run in process so that the op's process is the
run's worker."""

import os
import time
from pathlib import Path

import dagster as dg


class WaitConfig(dg.Config):
    pid_file: str


@dg.op
def write_pid_and_wait(config: WaitConfig) -> None:
    Path(config.pid_file).write_text(str(os.getpid()))
    time.sleep(60)


@dg.job(executor_def=dg.in_process_executor)
def waiting_job() -> None:
    write_pid_and_wait()


defs = dg.Definitions(jobs=[waiting_job])
