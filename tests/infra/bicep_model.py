"""infra/*.bicep parsed with pycep (the Bicep parser Checkov uses), and helpers to read it.

The Bicep compiler cannot be installed from the registries this project reaches, so the templates
are checked offline by parsing: pycep turns a file into a dict of ``parameters``, ``variables``,
``resources``, ``modules`` and ``outputs``; expressions become nested dicts (a property access is
``{"operator": {"type": "property_accessor", ...}}``, a call ``{"function": {...}}``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

from shared.settings import APP_ROOT

INFRA = APP_ROOT / "infra"


@cache
def parse(path: Path) -> dict[str, Any]:
    parsed: dict[str, Any] = BicepParser().parse(text=path.read_text(encoding="utf-8"))
    return parsed


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@dataclass(frozen=True)
class Resource:
    file: str
    symbol: str
    type: str
    api_version: str
    config: dict[str, Any]

    @property
    def body(self) -> dict[str, Any]:
        """The resource body (inside a ``for`` loop or an ``if`` condition, the inner one)."""
        inner = self.config.get("config")
        wrapped = "loop_type" in self.config or "condition" in self.config
        return inner if wrapped and isinstance(inner, dict) else self.config


def resources() -> list[Resource]:
    found = []
    for path in bicep_files():
        for symbol, item in parse(path).get("resources", {}).items():
            found.append(
                Resource(
                    file=path.name,
                    symbol=symbol,
                    type=item["type"],
                    api_version=item["api_version"],
                    config=item["config"],
                )
            )
    return found


def resource(file: str, symbol: str) -> Resource:
    for item in resources():
        if item.file == file and item.symbol == symbol:
            return item
    raise KeyError(f"{file}: no resource {symbol}")


def variable(file: str, name: str) -> Any:
    return parse(INFRA / file)["variables"][name]["value"]


def unquote(key: str) -> str:
    """Object keys that need quotes in Bicep keep them in pycep's output."""
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == "'" else key


def expression_text(value: Any) -> str:
    """A readable rendering of an expression, e.g. ``storage.properties.primaryEndpoints.queue``."""
    if isinstance(value, dict) and "operator" in value:
        operator = value["operator"]
        if operator["type"] == "property_accessor":
            operands = operator["operands"]
            left = expression_text(operands["operand_1"])
            right = expression_text(operands["operand_2"])
            return f"{left}.{right}"
    if isinstance(value, dict) and "function" in value:
        function = value["function"]
        args = ", ".join(expression_text(a) for a in function["parameters"].values())
        return f"{function['type']}({args})"
    return str(value)


def walk(value: Any) -> Iterator[Any]:
    """Every value nested in an expression or object, the value itself first."""
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def referenced_names(value: Any) -> set[str]:
    """Symbols an expression mentions (plain identifiers and ``${...}`` interpolations)."""
    names: set[str] = set()
    for item in walk(value):
        if isinstance(item, str):
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", item):
                names.add(item)
            names.update(_INTERPOLATION.findall(item))
    return names


def secure_parameters(file: str) -> set[str]:
    params = parse(INFRA / file).get("parameters", {})
    return {
        name
        for name, item in params.items()
        if any(d.get("type") == "secure" for d in item.get("decorators", []))
    }
