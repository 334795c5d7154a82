"""What ``lftiming run`` / ``demo`` / ``train`` print while Dagster runs: one line per step with
its time and each asset's key figures (``progress_logger``), instead of Dagster's DEBUG
event stream. The whole event log of a run goes to a file (``runs.write_run_log``) and stays in
the instance (the UI's Runs page); ``-v`` prints the stream as Dagster does."""

from __future__ import annotations

import logging
import sys

import dagster as dg

KEY_FIGURES: dict[str, tuple[str, ...]] = {
    "raw_chip": ("fields", "frames"),
    "well_grid": ("wells", "occupied", "max_abs_drift_px"),
    "well_movies": ("wells_cropped",),
    "cell_masks": ("cells", "well_frames", "well_frames_per_s"),
    "cell_tracks": ("tracks", "interpolated_frames", "forward_backward_agreement"),
    "cell_types": ("effectors", "targets"),
    "cell_deaths": ("deaths",),
    "contacts": ("contact_events",),
    "well_outcomes": ("wells_with_kill", "targets_killed"),
    "killing_kinetics": ("interactions", "killed"),
    "review_queue": ("wells_queued",),
}
"""Per asset, the metadata entries its progress line shows (others: the first two numbers);
model assets show version and validation scores."""


def _figures(asset: str, metadata: dict) -> str:
    values = {k: getattr(v, "value", v) for k, v in metadata.items()}
    keys = KEY_FIGURES.get(asset) or (
        ["version", *[k for k in values if k.startswith("val_")][:2]] if "version" in values
        else [k for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)][:2])
    shown = []
    for k in keys:
        v = values.get(k)
        if isinstance(v, float):
            shown.append(f"{k} {v:.3g}")
        elif isinstance(v, (int, str)):
            shown.append(f"{k} {v}")
    return ", ".join(shown)


class _StepLines(logging.Handler):
    def __init__(self, stream) -> None:
        super().__init__()
        self.stream, self.assets, self.checks = stream, {}, {}

    def emit(self, record: logging.LogRecord) -> None:
        event = (getattr(record, "dagster_meta", None) or {}).get("dagster_event")
        if event is None:
            return
        kind, step = event.event_type_value, event.step_key
        if kind == "ASSET_MATERIALIZATION":
            m = event.event_specific_data.materialization
            self.assets.setdefault(step, []).append((m.asset_key.to_user_string(), dict(m.metadata)))
        elif kind == "STEP_SUCCESS":
            seconds = event.event_specific_data.duration_ms / 1000
            done = self.assets.pop(step, [])
            figures = "; ".join(f"{name}: {_figures(name, md)}" if len(done) > 1 else _figures(name, md)
                                for name, md in done)
            print(f"  {step:<22} {seconds:7.1f} s  {figures}", file=self.stream, flush=True)
            for check in self.checks.pop(step, []):
                print(f"  {'':<22} check {check} FAILED", file=self.stream, flush=True)
        elif kind == "STEP_FAILURE":
            error = event.event_specific_data.error
            cause = error.cause or error
            print(f"  {step:<22} FAILED: {cause.message.strip().splitlines()[-1]}", file=self.stream, flush=True)
        elif kind == "ASSET_CHECK_EVALUATION" and not event.event_specific_data.passed:
            data = event.event_specific_data
            self.checks.setdefault(step, []).append(f"{data.asset_key.to_user_string()}:{data.check_name}")


@dg.logger(description="One line per finished step (time, key figures), failures and failed checks.")
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    log = logging.Logger("lftiming.progress", level=logging.DEBUG)
    log.addHandler(_StepLines(sys.stdout))
    return log


RUN_LOGGERS = {"console": dg.colored_console_logger, "progress": progress_logger}
"""The loggers every ``Definitions`` whose jobs ``lftiming run``/``train`` execute must offer
(``quiet_run_config`` picks one of them)."""


def quiet_run_config(run_config: dict | None = None, *, verbose: bool = False) -> dict:
    """``run_config`` with the loggers set: Dagster's console stream when ``verbose``, else
    ``progress_logger`` alone."""
    config = dict(run_config or {})
    config["loggers"] = {"console": {"config": {"log_level": "DEBUG"}}} if verbose else {"progress": {}}
    return config


__all__ = ["KEY_FIGURES", "RUN_LOGGERS", "progress_logger", "quiet_run_config"]
