"""The diagnostics catalogue: known provider failures turned into explanations and exact fixes.

Product rule (../docs/product.md): known failures are *diagnosed, not just reported*. All texts
live in one data file, ``catalogue.toml`` next to this module, one entry per stable ``code``;
this module loads and validates it, fills the placeholders, and maps raw provider errors (an
OAuth ``error``/``error_description``, Entra's ``error_codes`` and ``suberror``) to entries::

    diagnosis = diagnose_microsoft("access_denied", "AADSTS50105: The signed-in user ...",
                                   app_name="Acme", user="ana@contoso.example")
    diagnosis.code           # "AADSTS50105"  (stable, part of the HTTP contract)
    diagnosis.fix            # ("Sign in to the Microsoft Entra admin center ...", ...)
    diagnosis.raw            # the provider's own words, never swallowed

An unknown code is never dropped: it becomes the ``unknown`` entry with the provider's text in
``raw`` and the original code in ``details["code"]``. Inputs are error codes and descriptions
only; no token ever passes through here, so nothing needs redacting.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal, get_args

Provider = Literal["microsoft", "google", "any"]
Severity = Literal["blocks", "degrades"]
WhoMustAct = Literal["user", "cloud_admin", "subscription_admin", "operator", "nobody"]

DEFAULT_PATH: Final = Path(__file__).with_name("catalogue.toml")
UNKNOWN: Final = "unknown"
# The only names a text may use; the loader rejects any other (a typo would otherwise reach a
# user as a literal "{usr}").
PLACEHOLDERS: Final = frozenset({"app_name", "client_id", "user", "tenant", "scope", "raw"})

_TEXT_FIELDS: Final = ("title", "user_message", "admin_message")
_REQUIRED: Final = ("code", "provider", "severity", "who_must_act", *_TEXT_FIELDS, "fix")
_ENTRY_FIELDS: Final = frozenset({*_REQUIRED, "learn_more", "matches"})
# "{{" and "}}" are literal braces; "{name}" a placeholder; any other brace is an error.
_TOKEN: Final = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_MATCH: Final = re.compile(r"AADSTS\d+|(?:microsoft|google):[A-Za-z0-9_.-]+")
_CODE: Final = re.compile(r"[A-Za-z0-9_.]+")


@dataclass(frozen=True)
class Diagnosis:
    """One explained failure, ready for the HTTP contract (:meth:`to_dict`) or an error page.

    ``code`` is the catalogue entry's stable id; ``raw`` the provider's original error text;
    ``details`` facts such as the original provider code, trace and correlation IDs, and the
    context the caller gave. ``contact`` says in plain words who has to act.
    """

    code: str
    provider: Provider
    severity: Severity
    who_must_act: WhoMustAct
    title: str
    user_message: str
    admin_message: str
    fix: tuple[str, ...]
    learn_more: str
    contact: str
    raw: str | None = None
    details: dict[str, str] = field(default_factory=dict)

    @property
    def blocks(self) -> bool:
        """True when this failure stops connecting or enabling (not just a lost feature)."""
        return self.severity == "blocks"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (one ``issue`` of a test result, or a problem+json extension)."""
        return {
            "code": self.code,
            "provider": self.provider,
            "severity": self.severity,
            "who_must_act": self.who_must_act,
            "title": self.title,
            "user_message": self.user_message,
            "admin_message": self.admin_message,
            "fix": list(self.fix),
            "learn_more": self.learn_more,
            "contact": self.contact,
            "raw": self.raw,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class Entry:
    """One validated catalogue entry, texts still holding their placeholders."""

    code: str
    provider: Provider
    severity: Severity
    who_must_act: WhoMustAct
    title: str
    user_message: str
    admin_message: str
    fix: tuple[str, ...]
    learn_more: str
    matches: tuple[str, ...] = ()


def _placeholders(text: str) -> set[str]:
    """The placeholder names ``text`` uses; ValueError on a stray brace or an odd name."""
    names: set[str] = set()
    for m in _TOKEN.finditer(text):
        token = m.group(0)
        if token in ("{{", "}}"):
            continue
        name = m.group(1)
        if name is None or not name.isidentifier():
            raise ValueError(f"malformed placeholder {token!r} (write {{{{ or }}}} for a brace)")
        names.add(name)
    return names


def fill(text: str, values: Mapping[str, str]) -> str:
    """Replace each ``{name}`` in ``text`` with ``values[name]`` in one pass.

    Escape-safe: a value is inserted literally, so braces inside a value (a provider message
    quoting ``{raw}``, say) are never expanded again, and no attribute or index lookup of
    ``str.format`` is possible. ``{{``/``}}`` become literal braces.
    """

    def one(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = m.group(1)
        if name is None or name not in values:
            raise ValueError(f"no value for placeholder {token!r}")
        return values[name]

    return _TOKEN.sub(one, text)


class Catalogue:
    """The loaded, validated catalogue. Build it with :func:`load_catalogue`."""

    def __init__(
        self,
        entries: Mapping[str, Entry],
        defaults: Mapping[str, str],
        contacts: Mapping[str, str],
        provider_contacts: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._entries = dict(entries)
        self._defaults = dict(defaults)
        self._contacts = dict(contacts)
        self._provider_contacts = {k: dict(v) for k, v in (provider_contacts or {}).items()}
        self._aliases = {alias: e.code for e in entries.values() for alias in e.matches}

    @property
    def codes(self) -> tuple[str, ...]:
        """Every stable code, in file order."""
        return tuple(self._entries)

    def __contains__(self, code: object) -> bool:
        return code in self._entries

    def entry(self, code: str) -> Entry:
        """The raw entry for ``code`` (KeyError when there is none)."""
        return self._entries[code]

    def resolve(self, identifier: str) -> str | None:
        """The code for ``identifier``: a code itself or one of an entry's ``matches``."""
        if identifier in self._entries:
            return identifier
        return self._aliases.get(identifier)

    def contact_text(self, entry: Entry) -> str:
        """Who must act, in the words for the entry's provider (a Microsoft entry never names
        Google's administrator, and the other way round)."""
        specific = self._provider_contacts.get(entry.provider, {})
        return specific.get(entry.who_must_act) or self._contacts[entry.who_must_act]

    def get(self, code: str, /, **context: str | None) -> Diagnosis:
        """The diagnosis for ``code`` with placeholders filled from ``context``.

        ``context`` may hold ``app_name``, ``client_id``, ``user``, ``tenant``, ``scope`` (the
        placeholders; missing ones take the catalogue's defaults) and ``raw`` (the provider's
        text, kept in :attr:`Diagnosis.raw`); every other non-None value goes to ``details``.
        ``code`` may also be an alias from an entry's ``matches``. An unknown code gives the
        ``unknown`` entry with the code in ``details["code"]``: never an exception.
        """
        given = {k: v for k, v in context.items() if v is not None}
        resolved = self.resolve(code)
        details = {k: v for k, v in given.items() if k != "raw"}
        if resolved != code:
            details["code"] = code
        return self._build(self._entries[resolved or UNKNOWN], given, details)

    def _build(self, entry: Entry, given: Mapping[str, str], details: dict[str, str]) -> Diagnosis:
        values = {**self._defaults, **{k: v for k, v in given.items() if k in PLACEHOLDERS}}
        return Diagnosis(
            code=entry.code,
            provider=entry.provider,
            severity=entry.severity,
            who_must_act=entry.who_must_act,
            title=fill(entry.title, values),
            user_message=fill(entry.user_message, values),
            admin_message=fill(entry.admin_message, values),
            fix=tuple(fill(step, values) for step in entry.fix),
            learn_more=entry.learn_more,
            contact=fill(self.contact_text(entry), values),
            raw=given.get("raw"),
            details=details,
        )


# --- loading and validation --------------------------------------------------------------------


def load_catalogue(path: Path | str | None = None) -> Catalogue:
    """Load and validate the catalogue (the packaged ``catalogue.toml`` unless ``path``).

    The packaged file is parsed once per process (cached); an explicit ``path`` is read every
    call. Raises ValueError naming the entry on any problem: duplicate code or alias, missing
    or unknown field, a value outside the allowed sets, an empty fix list, a non-https
    ``learn_more``, or a placeholder outside :data:`PLACEHOLDERS`.
    """
    if path is None:
        return _load_default()
    return _load(Path(path))


@lru_cache(maxsize=1)
def _load_default() -> Catalogue:
    return _load(DEFAULT_PATH)


def _load(path: Path) -> Catalogue:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path.name}: not valid TOML: {exc}") from exc
    unexpected = set(data) - {"placeholders", "who_must_act", "who_must_act_by_provider", "entry"}
    if unexpected:
        raise ValueError(f"{path.name}: unknown top-level keys {sorted(unexpected)}")
    defaults = _table(path, data, "placeholders", PLACEHOLDERS)
    contacts = _table(path, data, "who_must_act", frozenset(get_args(WhoMustAct)))
    provider_contacts = _provider_contacts(path, data.get("who_must_act_by_provider", {}))
    raw_entries = data.get("entry")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise ValueError(f"{path.name}: no [[entry]] tables")
    entries: dict[str, Entry] = {}
    aliases: dict[str, str] = {}
    for index, raw in enumerate(raw_entries, start=1):
        entry = _entry(path, index, raw)
        if entry.code in entries or entry.code in aliases:
            # A code may not repeat, nor equal an earlier entry's match (ambiguous lookup).
            raise ValueError(f"{path.name}: entry {entry.code!r}: duplicate code")
        for alias in entry.matches:
            if alias in entries or alias in aliases or alias == entry.code:
                raise ValueError(f"{path.name}: entry {entry.code!r}: duplicate match {alias!r}")
            aliases[alias] = entry.code
        entries[entry.code] = entry
    if UNKNOWN not in entries:
        raise ValueError(f"{path.name}: the {UNKNOWN!r} entry is required")
    return Catalogue(entries, defaults, contacts, provider_contacts)


def _provider_contacts(path: Path, data: Any) -> dict[str, dict[str, str]]:
    """``[who_must_act_by_provider.<provider>]``: optional overrides of some contacts."""
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: [who_must_act_by_provider] must be a table")
    allowed, found = frozenset(get_args(WhoMustAct)), {}
    for provider, table in data.items():
        where = f"{path.name}: [who_must_act_by_provider.{provider}]"
        if provider not in ("microsoft", "google") or not isinstance(table, dict):
            raise ValueError(f"{where} is not allowed")
        unknown = set(table) - allowed
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        for key, value in table.items():
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{where} {key!r} must be a non-empty string")
            _check_text(path, f"{where} {key}", value)
        found[provider] = dict(table)
    return found


def _table(path: Path, data: dict[str, Any], name: str, keys: frozenset[str]) -> dict[str, str]:
    table = data.get(name)
    if not isinstance(table, dict) or set(table) != keys:
        raise ValueError(f"{path.name}: [{name}] must define exactly {sorted(keys)}")
    for key, value in table.items():
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{path.name}: [{name}] {key!r} must be a non-empty string")
        _check_text(path, f"[{name}] {key}", value)
    return dict(table)


def _entry(path: Path, index: int, raw: Any) -> Entry:
    where = f"{path.name}: entry #{index}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: not a table")
    code = raw.get("code")
    if isinstance(code, str) and code:
        where = f"{path.name}: entry {code!r}"
    missing = [f for f in _REQUIRED if f not in raw] + (
        [] if "learn_more" in raw else ["learn_more"]
    )
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    extra = set(raw) - _ENTRY_FIELDS
    if extra:
        raise ValueError(f"{where}: unknown fields {sorted(extra)}")
    strings = ("code", "provider", "severity", "who_must_act", *_TEXT_FIELDS, "learn_more")
    for name in strings:
        if not isinstance(raw[name], str) or not raw[name].strip():
            raise ValueError(f"{where}: {name} must be a non-empty string")
    if not _CODE.fullmatch(raw["code"]):
        raise ValueError(f"{where}: code may hold only letters, digits, '_' and '.'")
    for name, allowed in (
        ("provider", get_args(Provider)),
        ("severity", get_args(Severity)),
        ("who_must_act", get_args(WhoMustAct)),
    ):
        if raw[name] not in allowed:
            raise ValueError(f"{where}: {name} {raw[name]!r} is not one of {list(allowed)}")
    fix, matches = raw["fix"], raw.get("matches", [])
    if (
        not isinstance(fix, list)
        or not fix
        or not all(isinstance(s, str) and s.strip() for s in fix)
    ):
        raise ValueError(f"{where}: fix must be a non-empty list of non-empty strings")
    if not isinstance(matches, list) or not all(
        isinstance(m, str) and _MATCH.fullmatch(m) for m in matches
    ):
        raise ValueError(f"{where}: matches must list 'AADSTSnnnn' or '<provider>:<value>' strings")
    if not raw["learn_more"].startswith("https://"):
        raise ValueError(f"{where}: learn_more must be an https URL")
    for name in _TEXT_FIELDS:
        _check_text(path, f"{where}: {name}", raw[name])
    for step in fix:
        _check_text(path, f"{where}: fix", step)
    return Entry(
        code=raw["code"],
        provider=raw["provider"],
        severity=raw["severity"],
        who_must_act=raw["who_must_act"],
        title=raw["title"],
        user_message=raw["user_message"],
        admin_message=raw["admin_message"],
        fix=tuple(fix),
        learn_more=raw["learn_more"],
        matches=tuple(matches),
    )


def _check_text(path: Path, where: str, text: str) -> None:
    prefix = where if where.startswith(path.name) else f"{path.name}: {where}"
    try:
        names = _placeholders(text)
    except ValueError as exc:
        raise ValueError(f"{prefix}: {exc}") from exc
    unknown = names - PLACEHOLDERS
    if unknown:
        found = ", ".join("{" + n + "}" for n in sorted(unknown))
        raise ValueError(f"{prefix}: unknown placeholder {found}")
