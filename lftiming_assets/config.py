"""Asset run config built from the library's parameter models, without repeating their fields.

``params_config(TrackerParams)`` is a ``dg.Config`` subclass with exactly the fields of the
library's pydantic model (type, default, constraints and description, which the launchpad
shows); ``config.to_params()`` validates the values with the library model itself (its own
validators included) and returns it, and ``params_metadata(params)`` is the JSON entry each
materialization records. A field added to the library model appears in the launchpad
without a change here. Literal fields become Dagster enums, ``X | None`` optional fields.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import ClassVar

import dagster as dg
import pydantic
from pydantic import BaseModel


class ParamsConfig(dg.Config):
    """Base of the configs ``params_config`` builds: the fields of ``params_model``."""

    params_model: ClassVar[type[BaseModel]]

    def to_params(self) -> BaseModel:
        """The library's parameter model of these values (pydantic ValidationError naming the
        field when a value breaks one of its constraints)."""
        return self.params_model.model_validate({name: getattr(self, name) for name in self.params_model.model_fields})


def params_config(model: type[BaseModel], *, defaults: Mapping[str, object] | None = None,
                  doc: str | None = None) -> type[ParamsConfig]:
    """A ``dg.Config`` subclass named ``<Model>Config`` whose fields are ``model``'s, with
    ``defaults`` replacing some defaults (the pipeline's choice where it differs from the
    library's); ``doc`` (default: the model's docstring) is its description."""
    defaults = dict(defaults or {})
    unknown = set(defaults) - set(model.model_fields)
    if unknown:
        raise ValueError(f"{model.__name__} has no field {sorted(unknown)}")
    fields = {}
    for name, info in model.model_fields.items():
        field = copy.copy(info)  # keeps the constraints (ge, gt, ...) and the description
        if name in defaults:
            field.default = defaults[name]
        fields[name] = (info.annotation, field)
    config = pydantic.create_model(f"{model.__name__.removesuffix('Params')}Config", __base__=ParamsConfig,
                                   __doc__=doc or model.__doc__, __module__=__name__, **fields)
    config.params_model = model
    return config


def params_metadata(params: BaseModel) -> dg.MetadataValue:
    """The effective parameters of a materialization, as a JSON metadata entry."""
    return dg.MetadataValue.json(params.model_dump(mode="json"))


__all__ = ["ParamsConfig", "params_config", "params_metadata"]
