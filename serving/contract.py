"""The request contract: pydantic models built from a spec's features and validation rules.

Defines `feature_model(spec)` (the features of one request) and `request_model(spec)` (a whole request:
`{"request_id", "unit_id", "event_time", "features"}`), which `serving.app` uses as FastAPI body types so a bad
request is refused with a 422 naming every bad field before it reaches `serving.router.Router`.

The features are `spec.features.columns`, typed strictly (float accepts an integer, nothing accepts a string that
merely looks like a number). Where a rule in `spec.schema_.rules` names a column that is also a feature, it applies
at the door too: `ranges` become ge/le bounds, `allowed` becomes a set of literal values, and `not_null` makes the
feature required and non-null. Every other feature may be null or left out (then it is null, which the model treats
as missing, as in training). Unknown feature keys are refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, create_model

from platform_assets.spec import ModelSpec

__all__ = ["PredictRequestBase", "feature_model", "request_model"]

_TYPES: dict[str, Any] = {"float": StrictFloat, "int": StrictInt, "str": StrictStr, "bool": StrictBool}
_NUMERIC = frozenset({"float", "int"})


class PredictRequestBase(BaseModel):
    """The request fields every model shares; `request_model` adds `features`."""

    model_config = ConfigDict(extra="forbid")

    request_id: Annotated[str, Field(min_length=1, max_length=256, description="the caller's id for this request")]
    unit_id: Annotated[
        str | None,
        Field(default=None, max_length=256, description="the A/B unit (e.g. a customer): same unit, same model"),
    ] = None
    event_time: Annotated[
        dt.datetime | None, Field(default=None, description="when the event happened (UTC if no zone); default now")
    ] = None


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _feature_type(spec: ModelSpec, name: str, dtype: str, description: str) -> tuple[Any, Any]:
    rules = spec.schema_.rules
    allowed = rules.allowed.get(name)
    if allowed:
        # A string feature compares with the allowed values as strings (YAML may have read `1` as an int).
        values = tuple(str(value) for value in allowed) if dtype == "str" else tuple(allowed)
        base: Any = Literal[values]  # type: ignore[valid-type]
    else:
        base = _TYPES[dtype]
    constraints: dict[str, Any] = {}
    bounds = rules.ranges.get(name)
    # An allowed set is already exact; bounds and the finiteness check apply to free numeric values.
    if not allowed and bounds is not None and dtype in _NUMERIC:
        if bounds.min is not None:
            constraints["ge"] = bounds.min
        if bounds.max is not None:
            constraints["le"] = bounds.max
    if not allowed and dtype == "float":
        constraints["allow_inf_nan"] = False  # JSON has no NaN; an infinite input is a client bug
    if name in rules.not_null:
        return Annotated[base, Field(description=description, **constraints)], ...
    return Annotated[base | None, Field(description=description, **constraints)], None


def feature_model(spec: ModelSpec) -> type[BaseModel]:
    """The pydantic model of one request's features for `spec`."""
    fields = {
        column.name: _feature_type(spec, column.name, column.dtype, column.description)
        for column in spec.features.columns
    }
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{_camel(spec.name)}Features",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )


def request_model(spec: ModelSpec) -> type[PredictRequestBase]:
    """The pydantic model of one prediction request for `spec`: the shared fields plus typed `features`."""
    features = feature_model(spec)
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{_camel(spec.name)}PredictRequest",
        __base__=PredictRequestBase,
        features=(features, Field(description=f"the features of {spec.name}, as `features.columns` declares them")),
    )
