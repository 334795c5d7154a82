"""Log trained models to MLflow, register them, and load them back by alias.

Every model of the project (well detector, LOCSNET, classifiers) is stored the same way:
one MLflow run with params, metrics (per epoch and final), ``model/state_dict.pt`` (a plain
``torch.save`` of the ``state_dict``, no pickled classes) and ``model/config.json`` (what is
needed to rebuild the architecture), registered as a model version whose source is the
run's ``model/`` folder, with an alias (``champion`` by default) that the pipeline resolves.
Loading uses ``torch.load(..., weights_only=True)``: a file holding anything but tensors and
plain containers is refused.

Training opens its run before it starts (``training_run``): the run shows as running with
its params, its duration grows and every epoch's metrics appear as they are logged; the
model is logged and registered at the end (``TrainingRun.finish``), and a failure marks the
run FAILED. ``log_and_register`` (and ``register_bundle``, for a model trained elsewhere)
does all of it at once. Experiments are tagged ``mlflow.experimentKind =
custom_model_development`` (``EXPERIMENT_KIND``), MLflow's "Machine learning" type.

Functions take a tracking URI string (e.g. ``sqlite:///.../mlflow.db``); no global MLflow
state is changed.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import torch
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException

from lftiming_ml.models.bundle import TrainingBundle, UnsafeWeightsError, load_state_dict_file

__all__ = ["EXPERIMENT_KIND", "ModelNotRegisteredError", "ModelVersionInfo", "TrainingRun", "UnsafeWeightsError",
           "VersionRun", "compare_versions", "load_by_alias", "load_state_dict_file", "load_version", "log_and_register", "log_held_out", "HELD_OUT_PREFIX",
           "move_alias", "register_bundle", "registry_exists", "resolve_alias", "resolve_version", "train_live",
           "training_run", "version_runs"]

EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
"""The experiment tag MLflow 3's UI reads as the experiment's type ("Machine learning", not
"GenAI apps & agents"). MLflow 3.17's sidebar still opens in its GenAI view: the README says
where to click (or open ``#/models?workflowType=machine_learning``)."""
MODEL_DIR = "model"
STATE_DICT_FILE = "state_dict.pt"
CONFIG_FILE = "config.json"
_PARAM_MAX_CHARS = 6000
_BATCH = 900  # MLflow caps a log_batch at 1000 entries


class ModelNotRegisteredError(LookupError):
    """No model version answers to this name and alias."""


@dataclass(frozen=True)
class ModelVersionInfo:
    """A registered model version: ``name``, ``version`` (1, 2, ...), the MLflow ``run_id`` that
    produced it and the ``alias`` it was registered or loaded under (None if none was set)."""

    name: str
    version: int
    run_id: str
    alias: str | None


def _client(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def default_artifact_location(tracking_uri: str) -> str | None:
    """For ``sqlite:///<dir>/x.db``: ``<dir>/artifacts`` as a file URI (where ``MLflowTracking``
    puts them); None (the server's default) for other stores."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme != "sqlite":
        return None
    db_path = Path(tracking_uri[len("sqlite:///"):])
    return (db_path.parent / "artifacts").resolve().as_uri()


def ensure_experiment(tracking_uri: str, experiment: str, artifact_location: str | None = None) -> str:
    """Id of ``experiment``, created (with ``artifact_location`` or the default) if missing,
    and tagged ``EXPERIMENT_KIND`` (an older experiment gets the tag now)."""
    client = _client(tracking_uri)
    key, kind = EXPERIMENT_KIND
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        if found.tags.get(key) != kind:
            client.set_experiment_tag(found.experiment_id, key, kind)
        return found.experiment_id
    return client.create_experiment(experiment, tags={key: kind},
                                    artifact_location=artifact_location or default_artifact_location(tracking_uri))


def flatten_params(params: Mapping[str, object], prefix: str = "") -> dict[str, str]:
    """Nested mapping -> ``{"a.b": "value"}`` strings (MLflow params), long values truncated."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, prefix=f"{name}."))
        else:
            flat[name] = str(value)[:_PARAM_MAX_CHARS]
    return flat


def _metric_list(metrics: Mapping[str, float], step: int, timestamp_ms: int) -> list[Metric]:
    return [Metric(k, float(v), timestamp_ms, step) for k, v in metrics.items()
            if isinstance(v, (int, float)) and math.isfinite(float(v))]


def log_metric_history(tracking_uri: str, run_id: str, history: Sequence[Mapping[str, float]]) -> None:
    """Log ``history[i]`` (e.g. one dict per epoch) with ``step = i``; non-numeric entries are skipped."""
    now = int(time.time() * 1000)
    metrics = [m for step, row in enumerate(history) for m in _metric_list(row, step, now)]
    client = _client(tracking_uri)
    for start in range(0, len(metrics), _BATCH):
        client.log_batch(run_id, metrics=metrics[start:start + _BATCH])


def state_dict_bytes(state_dict: Mapping[str, torch.Tensor]) -> bytes:
    """``torch.save`` of a plain dict of tensors (moved to CPU), as bytes."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() if torch.is_tensor(v) else v for k, v in state_dict.items()}, buf)
    return buf.getvalue()


class TrainingRun:
    """An MLflow run opened before training (``training_run``).

    ``log_epoch(step, row)`` logs a history row's numeric entries with that step (buffered,
    written at least every ``flush_seconds``, so per-step logging stays cheap);
    ``epoch_logger(log_fn)`` is a ``log_fn`` for the training engines that logs and then
    calls ``log_fn``; ``finish(...)`` logs the params not logged yet, the final metrics, the
    model and its artifacts, registers a new version and (``set_alias``) points ``alias`` at it.
    """

    def __init__(self, tracking_uri: str, run_id: str, model_name: str, *, flush_seconds: float = 5.0,
                 tags: Mapping[str, str] | None = None) -> None:
        self.tracking_uri, self.run_id, self.model_name = tracking_uri, run_id, model_name
        self.tags = dict(tags or {})
        self._client = _client(tracking_uri)
        self._params: dict[str, str] = {}
        self._pending: list[Metric] = []
        self._last_flush = time.monotonic()
        self._flush_seconds = flush_seconds
        self.last_step = -1
        self.info: ModelVersionInfo | None = None

    def log_params(self, params: Mapping[str, object]) -> None:
        """Log ``params`` (nested allowed); keys logged before are skipped (MLflow params are write-once)."""
        new = {k: v for k, v in flatten_params(params).items() if k not in self._params}
        for start in range(0, len(new), _BATCH):
            chunk = list(new.items())[start:start + _BATCH]
            self._client.log_batch(self.run_id, params=[Param(k, v) for k, v in chunk])
        self._params.update(new)

    def log_epoch(self, step: int, row: Mapping[str, float]) -> None:
        """Log one history row with ``step``; written now if ``flush_seconds`` have passed."""
        self._pending += _metric_list(row, step, int(time.time() * 1000))
        self.last_step = max(self.last_step, step)
        if time.monotonic() - self._last_flush >= self._flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Write the buffered metrics."""
        for start in range(0, len(self._pending), _BATCH):
            self._client.log_batch(self.run_id, metrics=self._pending[start:start + _BATCH])
        self._pending, self._last_flush = [], time.monotonic()

    def epoch_logger(self, log_fn: Callable[[int, dict[str, float]], object] | None = None
                     ) -> Callable[[int, dict[str, float]], None]:
        """A training engine's ``log_fn``: log the row to this run, then pass it to ``log_fn``."""
        def log(step: int, row: dict[str, float]) -> None:
            self.log_epoch(step, row)
            if log_fn is not None:
                log_fn(step, row)
        return log

    def finish(self, *, state_dict: Mapping[str, torch.Tensor], config: Mapping[str, object],
               params: Mapping[str, object] | None = None, metrics: Mapping[str, float] | None = None,
               history: Sequence[Mapping[str, float]] | None = None,
               artifacts: Mapping[str, bytes | str | Path] | None = None, alias: str = "champion",
               set_alias: bool = True, run_name: str | None = None) -> ModelVersionInfo:
        """Log what is left and register the model (see the class docstring). ``history``:
        rows not logged through ``log_epoch`` (a bundle's), logged with step = index;
        ``metrics`` are logged at the last step."""
        client = self._client
        if run_name:
            client.update_run(self.run_id, name=run_name)
        self.log_params(params or {})
        for step, row in enumerate(history or []):
            self.log_epoch(step, row)
        final_step = max(self.last_step, 0)
        self._pending += _metric_list(metrics or {}, final_step, int(time.time() * 1000))
        self.flush()
        with tempfile.TemporaryDirectory() as tmp:
            model_dir = Path(tmp) / MODEL_DIR
            model_dir.mkdir()
            (model_dir / STATE_DICT_FILE).write_bytes(state_dict_bytes(state_dict))
            (model_dir / CONFIG_FILE).write_text(json.dumps(config, indent=1, default=str))
            client.log_artifacts(self.run_id, str(model_dir), artifact_path=MODEL_DIR)
            for name, content in (artifacts or {}).items():
                path = Path(tmp) / "extra" / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content if isinstance(content, bytes) else Path(content).read_bytes())
                parent = str(Path(name).parent)
                client.log_artifact(self.run_id, str(path), artifact_path=None if parent == "." else parent)
        try:
            client.get_registered_model(self.model_name)
        except MlflowException:
            client.create_registered_model(self.model_name)
        source = f"{client.get_run(self.run_id).info.artifact_uri.rstrip('/')}/{MODEL_DIR}"
        mv = client.create_model_version(self.model_name, source=source, run_id=self.run_id, tags=self.tags)
        if set_alias:
            client.set_registered_model_alias(self.model_name, alias, mv.version)
        self.info = ModelVersionInfo(self.model_name, int(mv.version), self.run_id, alias if set_alias else None)
        return self.info


@contextmanager
def training_run(*, tracking_uri: str, experiment: str, model_name: str, run_name: str | None = None,
                 params: Mapping[str, object] | None = None, artifact_location: str | None = None,
                 flush_seconds: float = 5.0, tags: Mapping[str, str] | None = None) -> Iterator[TrainingRun]:
    """Open an MLflow run for a training about to start and yield its ``TrainingRun``.

    The run is RUNNING (with ``params``) while the block trains; it ends FINISHED when the
    block returns, FAILED (and the exception goes on) when it raises. Call ``finish`` in the
    block to register the model. ``tags``: on the run and on the version ``finish`` registers."""
    client = _client(tracking_uri)
    exp_id = ensure_experiment(tracking_uri, experiment, artifact_location)
    run = client.create_run(exp_id, run_name=run_name, tags={"lftiming.model_name": model_name, **dict(tags or {})})
    live = TrainingRun(tracking_uri, run.info.run_id, model_name, flush_seconds=flush_seconds, tags=tags)
    try:
        live.log_params(params or {})
        yield live
        live.flush()
    except BaseException:
        try:
            live.flush()  # the epochs that ran stay visible
        finally:
            client.set_terminated(live.run_id, status="FAILED")
        raise
    client.set_terminated(live.run_id, status="FINISHED")


def train_live(train: Callable[[Callable[[int, dict[str, float]], None]], TrainingBundle], *, tracking_uri: str,
               model_name: str, alias: str = "champion", artifact_location: str | None = None,
               log_fn: Callable[[int, dict[str, float]], object] | None = None) -> tuple[ModelVersionInfo, TrainingBundle]:
    """Open ``model_name``'s training run, call ``train(log)`` (an offline ``train_bundle``
    whose per-epoch rows ``log`` records in the run as they come, then passes to ``log_fn``),
    and register the bundle it returns from that run (params, final metrics, artifacts, run
    name): the run is RUNNING while it trains, with its loss curve, and FAILED if it raises."""
    with training_run(tracking_uri=tracking_uri, experiment=model_name, model_name=model_name,
                      artifact_location=artifact_location) as run:
        bundle = train(run.epoch_logger(log_fn))
        info = run.finish(state_dict=bundle.state_dict, config=bundle.config, params=bundle.params,
                          metrics=bundle.metrics, artifacts=bundle.artifacts, alias=alias, run_name=bundle.run_name)
    return info, bundle


def log_and_register(
    *,
    tracking_uri: str,
    experiment: str,
    model_name: str,
    state_dict: Mapping[str, torch.Tensor],
    config: Mapping[str, object],
    params: Mapping[str, object],
    metrics: Mapping[str, float],
    artifacts: Mapping[str, bytes | str | Path] | None = None,
    history: Sequence[Mapping[str, float]] | None = None,
    alias: str = "champion",
    set_alias: bool = True,
    run_name: str | None = None,
    artifact_location: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> ModelVersionInfo:
    """Log one finished training as a run and register its model as a new version of
    ``model_name``, all at once (a model trained elsewhere; training here opens its run first
    with ``training_run``).

    - ``config``: JSON-serialisable; saved as ``model/config.json`` and needed to rebuild the
      architecture on load (e.g. the detector profile).
    - ``params`` (nested allowed, flattened with dots), ``metrics`` (final values, step 0 ... or
      the last epoch), ``history`` (one metrics dict per epoch, logged with step = epoch).
    - ``artifacts``: extra run files by name (bytes, or a local file path), e.g. a preview PNG.
    - ``set_alias``: point ``alias`` at the new version (the previous holder loses it).
    - ``artifact_location``: only used when the experiment is created; default for a sqlite
      store is ``artifacts/`` beside the database.
    - ``tags``: set on the run and on the new model version (e.g. ``source=bundled``).
    """
    with training_run(tracking_uri=tracking_uri, experiment=experiment, model_name=model_name, run_name=run_name,
                      params=params, artifact_location=artifact_location, tags=tags) as run:
        return run.finish(state_dict=state_dict, config=config, metrics=metrics, history=history,
                          artifacts=artifacts, alias=alias, set_alias=set_alias)


def register_bundle(bundle: TrainingBundle, *, tracking_uri: str, alias: str = "champion", set_alias: bool = True,
                    artifact_location: str | None = None, source: str | None = None,
                    tags: Mapping[str, str] | None = None, extra_params: Mapping[str, object] | None = None
                    ) -> ModelVersionInfo:
    """Log a training bundle (``models.bundle``) as one run and register it as a new version
    of ``bundle.model_name``, exactly as if it had been trained here; ``source`` (where the
    bundle came from) is recorded as the param ``bundle_source``, ``extra_params`` (e.g. a
    model card's fields) beside the bundle's own, ``tags`` on the run and the version."""
    params = {**dict(bundle.params), **dict(extra_params or {})}
    if source is not None:
        params["bundle_source"] = source
    return log_and_register(
        tracking_uri=tracking_uri, experiment=bundle.model_name, model_name=bundle.model_name,
        state_dict=bundle.state_dict, config=bundle.config, params=params, metrics=bundle.metrics,
        history=bundle.history, artifacts=bundle.artifacts, alias=alias, set_alias=set_alias,
        run_name=bundle.run_name, artifact_location=artifact_location, tags=tags)


HELD_OUT_PREFIX = "heldout_"
"""Metrics a benchmark scored a registered version with on held-out chips, logged on the
version's run (``log_held_out``), so that ``compare_versions`` shows them beside training's."""


def log_held_out(*, tracking_uri: str, model_name: str, version: int, scores: Mapping[str, float]) -> list[str]:
    """Log ``scores`` (finite numbers; e.g. ``{"miou_all": 0.92}``) on the run of ``version``
    of ``model_name`` as metrics ``heldout_<name>``, replacing an earlier benchmark's value
    (a new step). Returns the metric names. ``ModelNotRegisteredError`` if there is no
    such version."""
    info = resolve_version(tracking_uri=tracking_uri, model_name=model_name, version=version)
    client = _client(tracking_uri)
    step = max((m.step for key in scores for m in client.get_metric_history(info.run_id, HELD_OUT_PREFIX + key)),
               default=-1) + 1
    metrics = _metric_list({HELD_OUT_PREFIX + k: v for k, v in scores.items()}, step, int(time.time() * 1000))
    client.log_batch(info.run_id, metrics=metrics)
    return [m.key for m in metrics]


def compare_versions(*, tracking_uri: str, model_name: str, versions: tuple[int, int],
                     all_params: bool = False) -> pd.DataFrame:
    """Two registered versions of ``model_name`` side by side: one row per run field (run id,
    name, status, start, duration, aliases), param (only those that differ unless
    ``all_params``) and final metric (the latest value of each), columns ``section, name,
    v<a>, v<b>, differs``. ``ModelNotRegisteredError`` names the versions that exist;
    ValueError when the two versions are the same."""
    if versions[0] == versions[1]:
        raise ValueError(f"compare two different versions of {model_name!r}, not {versions[0]} with itself")
    client = _client(tracking_uri)
    runs = []
    for version in versions:
        resolve_version(tracking_uri=tracking_uri, model_name=model_name, version=version)  # or names those that exist
        mv = client.get_model_version(model_name, str(version))
        runs.append((mv, client.get_run(mv.run_id)))
    rows = []

    def add(section: str, name: str, values: list[object]) -> None:
        rows.append({"section": section, "name": name, **{f"v{v}": x for v, x in zip(versions, values)},
                     "differs": "*" if len({str(x) for x in values}) > 1 else ""})

    def minutes(run) -> str:
        end = run.info.end_time or int(time.time() * 1000)
        return f"{(end - run.info.start_time) / 60000:.1f}"

    add("run", "run_id", [r.info.run_id for _, r in runs])
    add("run", "run_name", [r.info.run_name for _, r in runs])
    add("run", "status", [r.info.status for _, r in runs])
    add("run", "start (UTC)", [time.strftime("%Y-%m-%d %H:%M", time.gmtime(r.info.start_time / 1000)) for _, r in runs])
    add("run", "duration_min", [minutes(r) for _, r in runs])
    add("run", "aliases", [", ".join(sorted(mv.aliases)) for mv, _ in runs])
    for name in sorted(set().union(*(r.data.params for _, r in runs))):
        values = [r.data.params.get(name, "") for _, r in runs]
        if all_params or len(set(values)) > 1:
            add("param", name, values)
    for name in sorted(set().union(*(r.data.metrics for _, r in runs))):
        values = [r.data.metrics.get(name, float("nan")) for _, r in runs]
        add("metric", name, [f"{v:.4g}" for v in values])
    return pd.DataFrame(rows)


def move_alias(*, tracking_uri: str, model_name: str, version: int, alias: str = "champion") -> ModelVersionInfo:
    """Point ``alias`` at ``version`` of ``model_name`` (the previous holder loses it);
    ``ModelNotRegisteredError`` naming the versions that exist if there is no such version."""
    info = resolve_version(tracking_uri=tracking_uri, model_name=model_name, version=version)
    _client(tracking_uri).set_registered_model_alias(model_name, alias, str(version))
    return ModelVersionInfo(model_name, info.version, info.run_id, alias)


def resolve_alias(*, tracking_uri: str, model_name: str, alias: str = "champion") -> ModelVersionInfo:
    """The version ``alias`` points at; ``ModelNotRegisteredError`` naming model and alias if none."""
    client = _client(tracking_uri)
    try:
        mv = client.get_model_version_by_alias(model_name, alias)
    except MlflowException as e:
        try:
            known = sorted(client.get_registered_model(model_name).aliases)
            detail = f"model {model_name!r} exists with aliases {known or 'none'}"
        except MlflowException:
            detail = f"no registered model named {model_name!r}"
        raise ModelNotRegisteredError(
            f"no version of model {model_name!r} has alias {alias!r} in {tracking_uri} ({detail}); "
            f"train and register one first: `lftiming train {model_name}` (or `make demo`, which trains every "
            f"model the pipeline needs)") from e
    return ModelVersionInfo(model_name, int(mv.version), mv.run_id, alias)


def load_by_alias(
    *, tracking_uri: str, model_name: str, alias: str = "champion"
) -> tuple[dict[str, torch.Tensor], dict, ModelVersionInfo]:
    """``(state_dict, config, info)`` of the version ``alias`` points at.

    Weights are read with ``torch.load(weights_only=True)`` onto the CPU; move the model
    after ``load_state_dict``.
    """
    info = resolve_alias(tracking_uri=tracking_uri, model_name=model_name, alias=alias)
    return (*_load(tracking_uri, info, what=f"model {model_name!r} version {info.version} ({alias!r})"), info)


def resolve_version(*, tracking_uri: str, model_name: str, version: int) -> ModelVersionInfo:
    """The registered ``version`` of ``model_name`` (alias None); ``ModelNotRegisteredError``
    naming the versions that exist if there is none."""
    client = _client(tracking_uri)
    try:
        mv = client.get_model_version(model_name, str(version))
    except MlflowException as e:
        try:
            known = sorted(int(v.version) for v in client.search_model_versions(f"name='{model_name}'"))
        except MlflowException:
            known = []
        raise ModelNotRegisteredError(
            f"model {model_name!r} has no version {version} in {tracking_uri} (versions: {known or 'none'})") from e
    return ModelVersionInfo(model_name, int(mv.version), mv.run_id, None)


def load_version(
    *, tracking_uri: str, model_name: str, version: int
) -> tuple[dict[str, torch.Tensor], dict, ModelVersionInfo]:
    """``(state_dict, config, info)`` of registered ``version`` of ``model_name`` (as ``load_by_alias``)."""
    info = resolve_version(tracking_uri=tracking_uri, model_name=model_name, version=version)
    return (*_load(tracking_uri, info, what=f"model {model_name!r} version {version}"), info)


def _load(tracking_uri: str, info: ModelVersionInfo, *, what: str) -> tuple[dict[str, torch.Tensor], dict]:
    client = _client(tracking_uri)
    source = client.get_model_version(info.name, str(info.version)).source
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(client.download_artifacts(info.run_id, MODEL_DIR, tmp)) if source.startswith("runs:/") else \
            Path(_download(source, tmp, tracking_uri))
        state_dict = load_state_dict_file(local / STATE_DICT_FILE, what=what)
        config = json.loads((local / CONFIG_FILE).read_text())
    return state_dict, config


def registry_exists(tracking_uri: str) -> bool:
    """A registry can be read at ``tracking_uri`` without creating one: a sqlite file that
    exists, or a server or database URI (http, https, file, databricks, postgresql, mysql)."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme == "sqlite":
        return Path(tracking_uri[len("sqlite:///"):]).is_file()
    return parsed.scheme.split("+")[0] in ("http", "https", "file", "databricks", "postgresql", "mysql")


@dataclass(frozen=True)
class VersionRun:
    """What MLflow knows of a registered version: its ``run_id``, ``run_name``, the run's
    ``experiment`` and ``status``, when it started (``start_time``, ISO text) and the
    ``aliases`` pointing at the version now."""

    name: str
    version: int
    run_id: str
    run_name: str
    experiment: str
    status: str
    start_time: str
    aliases: tuple[str, ...]


def version_runs(*, tracking_uri: str, versions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], VersionRun]:
    """``(model name, version) -> VersionRun`` for each of ``versions`` that the registry
    holds (others are left out: a chip made by a model registered elsewhere still reports)."""
    from datetime import datetime, timezone

    out: dict[tuple[str, int], VersionRun] = {}
    if not registry_exists(tracking_uri):
        return out
    client = _client(tracking_uri)
    for name, version in versions:
        try:
            mv = client.get_model_version(name, str(version))
            run = client.get_run(mv.run_id)
            experiment = client.get_experiment(run.info.experiment_id).name
        except MlflowException:
            continue
        started = datetime.fromtimestamp(run.info.start_time / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        out[(name, int(version))] = VersionRun(name, int(version), mv.run_id, run.info.run_name or "", experiment,
                                              run.info.status, started, tuple(sorted(mv.aliases)))
    return out


def _download(artifact_uri: str, dst: str, tracking_uri: str) -> str:
    import mlflow.artifacts

    return mlflow.artifacts.download_artifacts(artifact_uri=artifact_uri, dst_path=dst, tracking_uri=tracking_uri)
