"""Where a fine-tuning run starts: the weights of a registered version or of a training bundle.

``lftiming train <model> --init champion`` (or a version number, ``3`` / ``v3``, another
alias, or a bundle folder) loads those weights into the freshly built model before the
first step (``apply_init``): a strict ``load_state_dict`` (same parameter names and
shapes), after checking that the model kind and the profile fields that change what the
network sees without changing any shape (``input_fields``, e.g. the segmenter's
``input_scale``) are the init's. Anything else is refused with ``InitMismatchError``
naming what differs and the init's profile, never loaded half-way. A caller that changes
an input field on purpose (e.g. ``input_scale`` to bring real cells to the size the init
learned) names it in ``allow_changed``; ``input_changes`` says what changed, to record.

``resolve_init`` needs MLflow only for a registry reference (imported lazily), so the
offline trainers on a GPU machine can start from a bundle folder without it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from lftiming_ml.models.bundle import BUNDLE_WEIGHTS, read_bundle

_VERSION = re.compile(r"^v?(\d+)$")


class InitMismatchError(ValueError):
    """The init's weights do not fit the model being trained (another architecture or input)."""


@dataclass(frozen=True)
class InitWeights:
    """Weights to start from: ``state_dict``, the ``config`` they were registered with
    (``registry_config`` of their model), and ``source``: what the manifest records
    (model, version and alias, MLflow run id; or the bundle folder and the sha256 of its
    weights file)."""

    state_dict: dict[str, torch.Tensor]
    config: dict
    source: dict

    def describe(self) -> str:
        s = self.source
        if s["kind"] == "bundle":
            return f"bundle {s['path']} ({s['model']})"
        alias = f" ({s['alias']})" if s.get("alias") else ""
        return f"{s['model']} version {s['version']}{alias}"


def resolve_init(spec: str, *, model_name: str, tracking_uri: str | None = None) -> InitWeights:
    """The weights ``spec`` names for ``model_name``: an existing folder is a training bundle
    (its model must be ``model_name``); ``3`` or ``v3`` a registered version; anything else
    an alias (e.g. ``champion``). Registry references need ``tracking_uri``."""
    path = Path(spec).expanduser()
    if path.is_dir():
        bundle = read_bundle(path)
        if bundle.model_name != model_name:
            raise InitMismatchError(f"--init {spec}: the bundle holds {bundle.model_name!r}, not {model_name!r}")
        digest = hashlib.sha256((path / BUNDLE_WEIGHTS).read_bytes()).hexdigest()
        return InitWeights(bundle.state_dict, bundle.config, {"kind": "bundle", "model": model_name,
                                                              "path": str(path.resolve()), "sha256": digest,
                                                              "run_name": bundle.run_name})
    if tracking_uri is None:
        raise ValueError(f"--init {spec}: a registered version or alias needs the MLflow tracking URI "
                         "(or give a bundle folder)")
    from lftiming_ml.models.registry import load_by_alias, load_version

    m = _VERSION.match(spec)
    if m:
        state_dict, config, info = load_version(tracking_uri=tracking_uri, model_name=model_name, version=int(m[1]))
    else:
        state_dict, config, info = load_by_alias(tracking_uri=tracking_uri, model_name=model_name, alias=spec)
    return InitWeights(state_dict, config, {"kind": "registry", "model": model_name, "version": info.version,
                                            "alias": info.alias, "run_id": info.run_id})


def input_changes(init: InitWeights, *, config: Mapping[str, object],
                  input_fields: Sequence[str]) -> dict[str, tuple[object, object]]:
    """The profile fields of ``input_fields`` whose value in ``config`` (a ``registry_config``)
    differs from the init's: ``{field: (init's value, ours)}``."""
    theirs, ours = dict(init.config.get("profile") or {}), dict(config.get("profile") or {})
    return {f: (theirs.get(f), ours.get(f)) for f in input_fields if theirs.get(f) != ours.get(f)}


def apply_init(model: torch.nn.Module, init: InitWeights, *, config: Mapping[str, object],
               input_fields: Sequence[str] = (), allow_changed: Sequence[str] = (),
               what: str = "model") -> dict[str, tuple[object, object]]:
    """Load ``init`` into ``model`` (built from ``config``, its ``registry_config``) or raise
    ``InitMismatchError``: another ``kind`` or ``task``, a profile field of ``input_fields``
    that differs (unless named in ``allow_changed``, an explicit opt-in limited to
    ``input_fields``), or parameters missing, unexpected or of another shape. Returns the
    allowed changes, ``{field: (init's value, ours)}`` (empty when none)."""
    stray = sorted(set(allow_changed) - set(input_fields))
    if stray:
        raise ValueError(f"allow_changed may name only input fields {tuple(input_fields)}, not {stray}")
    theirs, ours = init.config, config
    problems = [f"{key} {theirs.get(key)!r} vs {ours.get(key)!r}" for key in ("kind", "task")
                if key in ours and theirs.get(key) != ours.get(key)]
    their_profile = dict(theirs.get("profile") or {})
    changed = input_changes(init, config=config, input_fields=input_fields)
    problems += [f"profile.{f} {a!r} vs {b!r}" for f, (a, b) in changed.items() if f not in allow_changed]
    state = model.state_dict()
    missing = sorted(set(state) - set(init.state_dict))
    unexpected = sorted(set(init.state_dict) - set(state))
    shapes = [f"{k} {tuple(init.state_dict[k].shape)} vs {tuple(v.shape)}" for k, v in state.items()
              if k in init.state_dict and tuple(init.state_dict[k].shape) != tuple(v.shape)]

    def listed(name: str, items: list[str]) -> str:
        return f"{name} ({len(items)}): {', '.join(items[:4])}{' ...' if len(items) > 4 else ''}"

    problems += [listed(n, i) for n, i in (("missing parameters", missing), ("unexpected parameters", unexpected),
                                             ("other shapes", shapes)) if i]
    if problems:
        raise InitMismatchError(
            f"{what}: cannot start from {init.describe()}: not the same architecture ({'; '.join(problems)}). "
            f"Train with the init's profile {their_profile.get('name', '?')!r} (e.g. --profile "
            f"{their_profile.get('name', '?')}) or start from scratch (no --init)")
    model.load_state_dict(init.state_dict, strict=True)
    return changed


__all__ = ["InitMismatchError", "InitWeights", "apply_init", "input_changes", "resolve_init"]
