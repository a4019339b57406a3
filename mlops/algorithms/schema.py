"""Small builders for parameter forms (JSON Schema with the console's UI hints).

UI hints: `x-widget` (slider, log-slider, select, switch, number) and `x-group` (the form section:
'training', 'model', 'data', 'output'). `x-order` keeps the form in the order parameters were declared.
"""

from __future__ import annotations

from typing import Any

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def integer(
    title: str,
    default: int,
    minimum: int,
    maximum: int,
    description: str,
    *,
    group: str,
    widget: str = "slider",
) -> dict[str, Any]:
    return {
        "type": "integer",
        "title": title,
        "default": default,
        "minimum": minimum,
        "maximum": maximum,
        "description": description,
        "x-widget": widget,
        "x-group": group,
    }


def number(
    title: str,
    default: float,
    minimum: float,
    maximum: float,
    description: str,
    *,
    group: str,
    widget: str = "slider",
    exclusive_minimum: bool = False,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "number",
        "title": title,
        "default": default,
        "maximum": maximum,
        "description": description,
        "x-widget": widget,
        "x-group": group,
    }
    spec["exclusiveMinimum" if exclusive_minimum else "minimum"] = minimum
    return spec


def choice(title: str, default: Any, options: list[Any], description: str, *, group: str) -> dict[str, Any]:
    if all(isinstance(o, bool) for o in options):
        kind = "boolean"
    elif all(isinstance(o, int) and not isinstance(o, bool) for o in options):
        kind = "integer"
    elif all(isinstance(o, int | float) and not isinstance(o, bool) for o in options):
        kind = "number"
    else:
        kind = "string"
    return {
        "type": kind,
        "title": title,
        "default": default,
        "enum": options,
        "description": description,
        "x-widget": "select",
        "x-group": group,
    }


def boolean(title: str, default: bool, description: str, *, group: str) -> dict[str, Any]:
    return {
        "type": "boolean",
        "title": title,
        "default": default,
        "description": description,
        "x-widget": "switch",
        "x-group": group,
    }


def form(title: str, properties: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A closed object schema: unknown parameters are errors, so typos do not pass silently."""
    return {
        "$schema": SCHEMA_DIALECT,
        "title": title,
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "x-order": list(properties),
    }
