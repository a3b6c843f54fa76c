"""Route templates of HTTP triggers, matched the way the Functions host (ASP.NET Core) does.

Supported syntax, from ASP.NET Core routing
(https://learn.microsoft.com/aspnet/core/fundamentals/routing#route-templates):
``{name}``, optional ``{name?}``, defaults ``{name=value}``, constraints ``{name:int}`` (several may
be chained: ``{n:int:min(1)}``), catch-all ``{*rest}``/``{**rest}`` as the last segment, and
segments mixing text and parameters (``{name}.{ext}``). Literal text matches case-insensitively and
a trailing slash is ignored, as in ASP.NET Core.

When several templates match, the most specific wins (literal before constrained parameter before
parameter before catch-all, segment by segment), which is ASP.NET Core's route precedence.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


def _integer(value: str, bounds: tuple[int, int]) -> int | None:
    if not re.fullmatch(r"[+-]?\d+", value):
        return None
    number = int(value)
    return number if bounds[0] <= number <= bounds[1] else None


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return value.strip().lower() not in ("nan", "inf", "-inf", "infinity", "-infinity")


def _is_datetime(value: str) -> bool:
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _args(raw: str | None, count: int, name: str) -> list[str]:
    parts = [p.strip() for p in (raw or "").split(",")] if raw else []
    if len(parts) != count:
        raise ValueError(f"route constraint {name} takes {count} argument(s), got {raw!r}")
    return parts


def _constraint(spec: str) -> Callable[[str], bool]:
    """Build a checker for one constraint like ``int`` or ``range(1,10)``."""
    match = re.fullmatch(r"(\w+)(?:\((.*)\))?", spec, re.DOTALL)
    if match is None:
        raise ValueError(f"unreadable route constraint {spec!r}")
    name, raw = match.group(1).lower(), match.group(2)
    if name == "int":
        return lambda v: _integer(v, _INT32) is not None
    if name == "long":
        return lambda v: _integer(v, _INT64) is not None
    if name == "bool":
        return lambda v: v.lower() in ("true", "false")
    if name == "guid":
        return _is_guid
    if name == "datetime":
        return _is_datetime
    if name in ("decimal", "double", "float"):
        return _is_float
    if name == "alpha":
        return lambda v: re.fullmatch(r"[A-Za-z]+", v) is not None
    if name in ("min", "max"):
        (limit,) = (int(a) for a in _args(raw, 1, name))
        if name == "min":
            return lambda v: (n := _integer(v, _INT64)) is not None and n >= limit
        return lambda v: (n := _integer(v, _INT64)) is not None and n <= limit
    if name == "range":
        low, high = (int(a) for a in _args(raw, 2, name))
        return lambda v: (n := _integer(v, _INT64)) is not None and low <= n <= high
    if name in ("minlength", "maxlength"):
        (size,) = (int(a) for a in _args(raw, 1, name))
        return (lambda v: len(v) >= size) if name == "minlength" else (lambda v: len(v) <= size)
    if name == "length":
        sizes = [int(a) for a in (raw or "").split(",")]
        if len(sizes) == 1:
            return lambda v: len(v) == sizes[0]
        if len(sizes) == 2:
            return lambda v: sizes[0] <= len(v) <= sizes[1]
        raise ValueError(f"route constraint length takes 1 or 2 arguments, got {raw!r}")
    if name == "regex":
        # ASP.NET Core's regex constraint is case-insensitive and not anchored unless the
        # pattern itself uses ^ and $.
        pattern = re.compile(raw or "", re.IGNORECASE)
        return lambda v: pattern.search(v) is not None
    raise ValueError(f"route constraint {name!r} is not supported by the local host")


@dataclass
class _Param:
    name: str
    group: str
    optional: bool = False
    default: str | None = None
    catch_all: bool = False
    checks: list[Callable[[str], bool]] = field(default_factory=list)


def _split_top_level(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside parentheses (constraint arguments may contain it)."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == separator and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _parse_param(body: str, group: str) -> _Param:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    head, *constraints = _split_top_level(body, ":")
    default = None
    optional = False
    # The ? or =default sits after the name or after the last constraint.
    tail = constraints[-1] if constraints else head
    if "=" in tail:
        tail, default = tail.split("=", 1)
        optional = True
    elif tail.endswith("?"):
        tail, optional = tail[:-1], True
    if constraints:
        constraints[-1] = tail
    else:
        head = tail
    if not re.fullmatch(r"\w+", head):
        raise ValueError(f"bad route parameter name {head!r}")
    return _Param(
        name=head,
        group=group,
        optional=optional or catch_all,
        default=default,
        catch_all=catch_all,
        # Braces inside a template are doubled ({{ }}), including inside regex constraints.
        checks=[_constraint(c.replace("{{", "{").replace("}}", "}")) for c in constraints if c],
    )


def _tokenize(segment: str) -> list[str | tuple[str]]:
    """Split a segment into literal text (str) and parameter bodies (1-tuples)."""
    tokens: list[str | tuple[str]] = []
    literal, i = "", 0
    while i < len(segment):
        char = segment[i]
        if segment.startswith("{{", i) or segment.startswith("}}", i):
            literal += char
            i += 2
            continue
        if char == "{":
            depth, j = 0, i + 1
            while j < len(segment) and not (segment[j] == "}" and depth == 0):
                depth += {"(": 1, ")": -1}.get(segment[j], 0)
                j += 1
            if j == len(segment):
                raise ValueError(f"unclosed {{ in route segment {segment!r}")
            if literal:
                tokens.append(literal)
                literal = ""
            tokens.append((segment[i + 1 : j],))
            i = j + 1
            continue
        literal += char
        i += 1
    if literal:
        tokens.append(literal)
    return tokens


class RouteTemplate:
    """One compiled route template; ``match`` gives route values or None."""

    def __init__(self, template: str) -> None:
        self.template = template.strip("/")
        self.params: list[_Param] = []
        self.precedence: tuple[int, ...] = ()
        pattern, precedence = "", []
        segments = self.template.split("/") if self.template else []
        for index, segment in enumerate(segments):
            tokens = _tokenize(segment)
            if not tokens:
                raise ValueError(f"empty segment in route {template!r}")
            if len(tokens) == 1 and isinstance(tokens[0], tuple):
                param = _parse_param(tokens[0][0], f"p{len(self.params)}")
                self.params.append(param)
                if param.catch_all and index != len(segments) - 1:
                    raise ValueError(f"catch-all must be the last segment: {template!r}")
                value = ".*" if param.catch_all else "[^/]+"
                piece = f"/(?P<{param.group}>{value})"
                pattern += f"(?:{piece})?" if param.optional else piece
                precedence.append(5 if param.catch_all else 3 if param.checks else 4)
                continue
            # A complex segment such as {name}.{ext}: every part is required.
            piece = "/"
            for token in tokens:
                if isinstance(token, str):
                    piece += re.escape(token)
                    continue
                param = _parse_param(token[0], f"p{len(self.params)}")
                if param.optional or param.catch_all:
                    raise ValueError(
                        f"optional parts of complex segments unsupported: {template!r}"
                    )
                self.params.append(param)
                piece += f"(?P<{param.group}>[^/]+?)"
            pattern += piece
            precedence.append(1 if all(isinstance(t, str) for t in tokens) else 2)
        self.precedence = tuple(precedence)
        self._regex = re.compile(f"^{pattern}/?$", re.IGNORECASE | re.DOTALL)

    def match(self, raw_path: str) -> dict[str, str] | None:
        """Route values for a raw (still percent-encoded) request path, or None if no match."""
        found = self._regex.match(raw_path if raw_path.startswith("/") else "/" + raw_path)
        if found is None:
            return None
        values: dict[str, str] = {}
        for param in self.params:
            raw = found.group(param.group)
            if raw is None or raw == "":
                if param.default is not None:
                    values[param.name] = param.default
                continue
            value = unquote(raw)
            if not all(check(value) for check in param.checks):
                return None
            values[param.name] = value
        return values

    def sort_key(self) -> tuple[tuple[int, ...], int, str]:
        """Most specific first: per-segment precedence, then longer templates, then text."""
        return (self.precedence, -len(self.precedence), self.template.lower())
