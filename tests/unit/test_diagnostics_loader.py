"""The catalogue loader refuses a broken data file and names the entry at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.diagnostics import load_catalogue

HEADER = """
[placeholders]
app_name = "the host app"
client_id = "<client ID>"
user = "the user"
tenant = "your organisation"
scope = "see the technical details"
raw = "no details"

[who_must_act]
user = "You."
cloud_admin = "IT."
subscription_admin = "The admin of {app_name}."
operator = "The operator."
nobody = "Nobody."
"""

GOOD_ENTRY = """
[[entry]]
code = "@CODE@"
provider = "microsoft"
severity = "blocks"
who_must_act = "cloud_admin"
title = "Title for {app_name}"
user_message = "Ask IT about {app_name}."
admin_message = "{user} is blocked in {tenant}."
fix = ["Open {app_name} and fix it."]
learn_more = "https://example.org/doc"
matches = ["AADSTS1"]
"""

UNKNOWN_ENTRY = """
[[entry]]
code = "unknown"
provider = "any"
severity = "blocks"
who_must_act = "subscription_admin"
title = "Unknown"
user_message = "Unknown failure."
admin_message = "The provider said: {raw}"
fix = ["Read the details."]
learn_more = "https://example.org/unknown"
"""


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "catalogue.toml"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def good(code: str = "AADSTS2") -> str:
    return GOOD_ENTRY.replace("@CODE@", code)


def test_a_minimal_valid_catalogue_loads_and_fills(tmp_path: Path) -> None:
    catalogue = load_catalogue(path=write(tmp_path, good() + UNKNOWN_ENTRY))
    assert catalogue.codes == ("AADSTS2", "unknown")
    d = catalogue.get("AADSTS1", app_name="Acme", user="ana")
    assert (d.code, d.details["code"]) == ("AADSTS2", "AADSTS1")
    assert d.admin_message == "ana is blocked in your organisation."
    assert d.contact == "IT."
    assert (
        load_catalogue(path=str(write(tmp_path, good() + UNKNOWN_ENTRY))).codes == catalogue.codes
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            good().replace("{app_name}.", "{app_nmae}."),
            r"entry 'AADSTS2': user_message: unknown placeholder \{app_nmae\}",
        ),
        (
            good().replace('["Open {app_name}', '["Open {tenant.__class__}'),
            r"entry 'AADSTS2': fix: malformed placeholder",
        ),
        (
            good().replace("is blocked in", "is { blocked in"),
            r"entry 'AADSTS2': admin_message: malformed placeholder",
        ),
        (good() + good() + UNKNOWN_ENTRY, r"entry 'AADSTS2': duplicate code"),
        (good() + good("AADSTS1") + UNKNOWN_ENTRY, r"entry 'AADSTS1': duplicate code"),
        (good() + good("AADSTS3") + UNKNOWN_ENTRY, r"entry 'AADSTS3': duplicate match 'AADSTS1'"),
        (
            good().replace('"blocks"', '"annoys"'),
            r"entry 'AADSTS2': severity 'annoys' is not one of",
        ),
        (
            good().replace('"cloud_admin"', '"helpdesk"'),
            r"entry 'AADSTS2': who_must_act 'helpdesk'",
        ),
        (good().replace('"microsoft"', '"yahoo"'), r"entry 'AADSTS2': provider 'yahoo'"),
        (
            good().replace('fix = ["Open {app_name} and fix it."]', "fix = []"),
            r"entry 'AADSTS2': fix must be",
        ),
        (
            good().replace('fix = ["Open {app_name} and fix it."]\n', ""),
            r"entry 'AADSTS2': missing fix",
        ),
        (good().replace('title = "Title for {app_name}"\n', ""), r"entry 'AADSTS2': missing title"),
        (good().replace("learn_more", "see_also"), r"entry 'AADSTS2': missing learn_more"),
        (good() + 'colour = "red"\n', r"entry 'AADSTS2': unknown fields \['colour'\]"),
        (
            good().replace("https://example.org/doc", "http://example.org/doc"),
            r"entry 'AADSTS2': learn_more must be an https URL",
        ),
        (
            good().replace('["AADSTS1"]', '["microsoft invalid grant"]'),
            r"entry 'AADSTS2': matches must list",
        ),
        (
            good().replace('user_message = "Ask IT about {app_name}."', 'user_message = ""'),
            r"entry 'AADSTS2': user_message must be a non-empty string",
        ),
        (good(), r"the 'unknown' entry is required"),
        (good().replace('code = "AADSTS2"\n', ""), r"entry #1: missing code"),
    ],
)
def test_a_broken_catalogue_is_refused_naming_the_entry(
    tmp_path: Path, body: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_catalogue(path=write(tmp_path, body + ("" if "unknown" in message else UNKNOWN_ENTRY)))


def test_broken_header_tables_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.toml"
    path.write_text(HEADER.replace('raw = "no details"\n', "") + good() + UNKNOWN_ENTRY, "utf-8")
    with pytest.raises(ValueError, match=r"\[placeholders\] must define exactly"):
        load_catalogue(path=path)
    path.write_text(
        HEADER.replace('"The admin of {app_name}."', '"The admin of {product}."')
        + good()
        + UNKNOWN_ENTRY,
        "utf-8",
    )
    with pytest.raises(
        ValueError, match=r"\[who_must_act\] subscription_admin: unknown placeholder \{product\}"
    ):
        load_catalogue(path=path)
    path.write_text(HEADER + good() + UNKNOWN_ENTRY + "\n[extra]\nx = 1\n", "utf-8")
    with pytest.raises(ValueError, match=r"unknown top-level keys \['extra'\]"):
        load_catalogue(path=path)
    path.write_text(HEADER + "[[entry]\n", "utf-8")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_catalogue(path=path)
