"""Training bundles: a trained model written to a folder, to be registered in MLflow later.

A lab trains its big models where the GPU is (a cluster node, a cloud box) and runs the
pipeline where the data and MLflow are. A bundle carries one training run between the two
without MLflow or Dagster on the training machine::

    <bundle>/state_dict.pt   plain torch.save of the state_dict (tensors only)
    <bundle>/bundle.json     model name, config (rebuilds the architecture), params,
                             final metrics, per-epoch history, names of the artifacts
    <bundle>/artifacts/...   extra run files (e.g. the validation overlay PNG)

``write_bundle`` builds the folder under a temporary name and renames it into place;
``read_bundle`` checks every part and names the file and the problem when one is wrong.
Weights are read with ``torch.load(weights_only=True)``. ``weights_dtype="float16"`` stores
floating-point tensors at half precision (half the size: the bundled models in ``models/``
are stored so); ``read_bundle`` casts them back to float32, so a model is always rebuilt
and run in float32. ``models.registry.register_bundle``
logs a bundle as a new registered version (``lftiming register <bundle>``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import torch

from lftiming_ml.io import atomic_dir

BUNDLE_JSON = "bundle.json"
BUNDLE_WEIGHTS = "state_dict.pt"
BUNDLE_ARTIFACTS = "artifacts"
BUNDLE_FORMAT = 1


class BundleError(ValueError):
    """A training bundle folder is missing a part or holds something malformed."""


class UnsafeWeightsError(BundleError):
    """A weights file is not a plain tensor state_dict (refused by ``weights_only``)."""


@dataclass
class TrainingBundle:
    """One training run: what ``log_and_register`` needs, without MLflow."""

    model_name: str
    state_dict: dict[str, torch.Tensor]
    config: dict
    params: dict
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    artifacts: dict[str, bytes] = field(default_factory=dict)
    run_name: str | None = None


def load_state_dict_file(path: Path | str, *, what: str = "") -> dict[str, torch.Tensor]:
    """``torch.load(path, weights_only=True)`` on CPU; anything else than tensors/containers is refused."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # weights_only raises UnpicklingError/RuntimeError on foreign objects
        raise UnsafeWeightsError(f"{what or path}: refusing to load weights ({type(e).__name__}: {e})") from e
    if not isinstance(obj, Mapping) or not all(torch.is_tensor(v) for v in obj.values()):
        raise UnsafeWeightsError(f"{what or path}: expected a dict of tensors, got {type(obj).__name__}")
    return dict(obj)


def _finite(values: Mapping[str, object], where: str) -> dict[str, float]:
    out = {}
    for k, v in values.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise BundleError(f"{where}: metric {k!r} is {v!r}, not a finite number")
        out[str(k)] = float(v)
    return out


def _artifact_path(name: str, where: str) -> PurePosixPath:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise BundleError(f"{where}: artifact name {name!r} must be a relative path inside the bundle")
    return p


WEIGHTS_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def cast_floating(state_dict: Mapping[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """``state_dict`` with every floating-point tensor cast to ``dtype`` (others unchanged)."""
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in state_dict.items()}


def write_bundle(target: Path | str, bundle: TrainingBundle, *, overwrite: bool = False,
                 weights_dtype: str = "float32") -> Path:
    """Write ``bundle`` to the folder ``target`` atomically (staged, then renamed); floating
    weights stored as ``weights_dtype`` (``float32`` or ``float16``). Returns the folder."""
    target = Path(target)
    if weights_dtype not in WEIGHTS_DTYPES:
        raise BundleError(f"{target}: weights_dtype must be one of {sorted(WEIGHTS_DTYPES)}, not {weights_dtype!r}")
    metrics = _finite(bundle.metrics, f"{target}: metrics")
    history = [_finite(row, f"{target}: history row {i}") for i, row in enumerate(bundle.history)]
    names = {name: _artifact_path(name, str(target)) for name in bundle.artifacts}
    with atomic_dir(target, overwrite=overwrite) as tmp:
        weights = cast_floating({k: v.detach().cpu() for k, v in bundle.state_dict.items()},
                                WEIGHTS_DTYPES[weights_dtype])
        torch.save(weights, tmp / BUNDLE_WEIGHTS)
        for name, content in bundle.artifacts.items():
            path = tmp / BUNDLE_ARTIFACTS / names[name]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        (tmp / BUNDLE_JSON).write_text(json.dumps({
            "format": BUNDLE_FORMAT, "model_name": bundle.model_name, "run_name": bundle.run_name,
            "weights_dtype": weights_dtype,
            "config": bundle.config, "params": bundle.params, "metrics": metrics, "history": history,
            "artifacts": sorted(bundle.artifacts)}, indent=1, default=str))
    return target


def read_bundle(path: Path | str) -> TrainingBundle:
    """Read and check a bundle folder; ``BundleError`` names the file and the problem."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"{path}: no such bundle folder")
    meta_path = path / BUNDLE_JSON
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise BundleError(f"{meta_path}: missing (not a training bundle)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{meta_path}: not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{meta_path}: expected a bundle of format {BUNDLE_FORMAT}, "
                          f"got {meta.get('format') if isinstance(meta, dict) else type(meta).__name__!r}")
    for key, kind in (("model_name", str), ("config", dict), ("params", dict), ("metrics", dict),
                      ("history", list), ("artifacts", list)):
        if not isinstance(meta.get(key), kind):
            raise BundleError(f"{meta_path}: {key!r} must be a {kind.__name__}")
    weights = path / BUNDLE_WEIGHTS
    if not weights.is_file():
        raise BundleError(f"{weights}: missing (the bundle holds no weights)")
    dtype = meta.get("weights_dtype", "float32")
    if dtype not in WEIGHTS_DTYPES:
        raise BundleError(f"{meta_path}: weights_dtype {dtype!r} is not one of {sorted(WEIGHTS_DTYPES)}")
    artifacts = {}
    for name in meta["artifacts"]:
        file = path / BUNDLE_ARTIFACTS / _artifact_path(name, str(meta_path))
        if not file.is_file():
            raise BundleError(f"{file}: listed in {BUNDLE_JSON} but missing")
        artifacts[name] = file.read_bytes()
    return TrainingBundle(
        model_name=meta["model_name"], state_dict=cast_floating(load_state_dict_file(weights), torch.float32),
        config=meta["config"],
        params=meta["params"], metrics=_finite(meta["metrics"], f"{meta_path}: metrics"),
        history=[_finite(row, f"{meta_path}: history row {i}") for i, row in enumerate(meta["history"])],
        artifacts=artifacts, run_name=meta.get("run_name"))
