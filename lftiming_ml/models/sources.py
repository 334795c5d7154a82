"""Model sources: how a work unit (``lftiming_ml.workers``), in whatever process it runs,
gets the model it needs without the model itself travelling.

A source is called with no arguments and returns the ready model; ``identity`` names the
model in the work units' keys (a unit is reused only with the same model); sources that
hold a model built in this process say ``in_process_only``.

- ``RegisteredModel``: one registered version (tracking URI, name, version) and the
  ``build(state_dict, config)`` function that makes it ready; picklable; each process
  loads and builds it once (weights read with ``weights_only=True``) and keeps the last few.
- ``InMemoryModel``: a model already built here (tests, benchmarks), this process only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import torch

from lftiming_ml.models.registry import load_version


class ModelSource(Protocol):
    identity: str
    in_process_only: bool

    def __call__(self) -> Any: ...


@dataclass(frozen=True)
class RegisteredModel:
    """Registered ``version`` of ``model_name`` in ``tracking_uri``, made ready by ``build``
    (a module-level function, so the source pickles by reference)."""

    tracking_uri: str
    model_name: str
    version: int
    build: Callable[[Mapping[str, torch.Tensor], Mapping[str, object]], Any]
    in_process_only = False

    @property
    def identity(self) -> str:
        return f"{self.model_name} v{self.version} @ {self.tracking_uri}"

    def __call__(self) -> Any:
        return _built(self)


@lru_cache(maxsize=4)
def _built(source: RegisteredModel) -> Any:
    state_dict, config, _ = load_version(tracking_uri=source.tracking_uri, model_name=source.model_name,
                                         version=source.version)
    return source.build(state_dict, config)


@dataclass(frozen=True, eq=False)
class InMemoryModel:
    """A model built in this process; ``identity`` names it in unit keys."""

    model: Any
    identity: str
    in_process_only = True

    def __call__(self) -> Any:
        return self.model


def as_source(model_or_source: Any, what: str) -> ModelSource:
    """``model_or_source`` if it is a source, else the model wrapped as an ``InMemoryModel``
    (its identity unique to this object, so units made with it are never reused)."""
    if hasattr(model_or_source, "identity") and hasattr(model_or_source, "in_process_only"):
        return model_or_source
    return InMemoryModel(model_or_source, identity=f"in-memory {what} {id(model_or_source):x}")


__all__ = ["InMemoryModel", "ModelSource", "RegisteredModel", "as_source"]
