"""docs/spec-reference.md against platform_assets/spec.py: every field, its default, and examples that load.

The page is written by hand; these tests keep it from drifting. Every field of every model reachable from
`ModelSpec` (by YAML name, so `schema` rather than `schema_`) must have exactly one table row, and no row may
name a field that does not exist. A row's default must be the code's default (or "required"). Every YAML
example must load through `load_spec`: a complete spec as it is, a fragment merged into the page's complete
example.
"""

from __future__ import annotations

import copy
import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo

from platform_assets.spec import ModelSpec, load_spec
from tests.docs import DOCS, fenced_blocks

pytestmark = pytest.mark.unit

PAGE = DOCS / "spec-reference.md"
REQUIRED_SECTIONS = ("name", "source", "schema", "features", "gate")
_KEY = "<key>"  # a key the user chooses (a column, a metric); the page may name it as it likes: <column>, <metric>


def _models(annotation: Any, suffix: str = "") -> list[tuple[type[BaseModel], str]]:
    """The pydantic models inside an annotation, each with the path suffix that reaches it ([] or .<key>)."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, suffix)]
    if origin is list:
        return _models(typing.get_args(annotation)[0], suffix + "[]")
    if origin is dict:
        return _models(typing.get_args(annotation)[1], f"{suffix}.{_KEY}")
    if origin in (typing.Union, types.UnionType):
        return [found for argument in typing.get_args(annotation) for found in _models(argument, suffix)]
    return []


def spec_fields(model: type[BaseModel] = ModelSpec, prefix: str = "") -> dict[str, FieldInfo]:
    """Every field reachable from `model`, by its dotted YAML path (aliases used), sections included."""
    fields: dict[str, FieldInfo] = {}
    for name, info in model.model_fields.items():
        path = prefix + (info.alias or name)
        fields[path] = info
        for nested, suffix in _models(info.annotation):
            fields.update(spec_fields(nested, f"{path}{suffix}."))
    return fields


def documented_rows() -> dict[str, list[str]]:
    """Table rows of the page whose first cell is one `code` span: field path -> the row's cells."""
    rows: dict[str, list[str]] = {}
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\|\s*`([^`]+)`\s*\|", line)
        if not match:
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        path = re.sub(r"<[a-z_]+>", _KEY, match[1])
        assert path not in rows, f"{match[1]} has two rows"
        rows[path] = cells
    return rows


def test_every_field_has_a_row_and_every_row_a_field() -> None:
    fields, rows = set(spec_fields()), set(documented_rows())
    assert not fields - rows, f"fields of platform_assets/spec.py missing from {PAGE.name}: {sorted(fields - rows)}"
    assert not rows - fields, f"{PAGE.name} documents fields that do not exist: {sorted(rows - fields)}"


def test_every_row_has_a_type_a_default_and_a_meaning() -> None:
    for path, cells in documented_rows().items():
        assert len(cells) == 4 and all(cells), f"{path}: expected | field | type | default | meaning |, got {cells}"


def _default(info: FieldInfo) -> Any:
    """The field's default as YAML would write it (JSON mode: dates as strings, models as mappings)."""
    value = info.get_default(call_default_factory=True)
    return TypeAdapter(info.annotation).dump_python(value, mode="json")


@pytest.mark.parametrize("path", sorted(spec_fields()))
def test_documented_default_is_the_code_default(path: str) -> None:
    info = spec_fields()[path]
    cell = documented_rows()[path][2]
    if info.is_required():
        assert cell == "required", f"{path} has no default, the page says {cell!r}"
        return
    literal = re.match(r"^`([^`]*)`", cell)
    if literal is None:
        # Prose ("all defaults") only for a section, whose fields have rows of their own.
        assert _models(info.annotation), f"{path}: give the default as a `literal`, got {cell!r}"
        return
    documented, actual = yaml.safe_load(literal[1]), _default(info)
    assert documented == actual, f"{path}: the page says {literal[1]}, the code {actual}"


def _merge(base: dict[str, Any], fragment: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in fragment.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def test_yaml_examples_load(tmp_path: Path) -> None:
    documents = [yaml.safe_load(block.text) for block in fenced_blocks(PAGE, "yaml")]
    complete = [document for document in documents if set(REQUIRED_SECTIONS) <= set(document)]
    assert complete, "the page shows a complete spec"
    aliases = {info.alias or name for name, info in ModelSpec.model_fields.items()}
    for index, document in enumerate(documents):
        assert set(document) <= aliases, f"example {index} has keys that are no spec sections: {set(document)}"
        spec = document if document in complete else _merge(complete[0], document)
        path = tmp_path / f"example_{index}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        load_spec(path)  # raises SpecError naming the field if the example is wrong


def test_walk_reaches_nested_and_aliased_fields() -> None:
    """The walk itself: a test that found no fields would pass against any page."""
    fields = spec_fields()
    for path in (
        "schema.rules.shift.max_std",
        "schema.rules.ranges.<key>.min",
        "gate.rules.<key>.compare_to_champion",
        "features.columns[].dtype",
        "source.synthetic.scenarios[].corruptions",
        "monitoring.health.input_psi.window_minutes",
    ):
        assert path in fields
    assert not any(path.startswith("schema_") for path in fields)
