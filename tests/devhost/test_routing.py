"""Route templates matched like ASP.NET Core routing, which the Functions host uses."""

from __future__ import annotations

import pytest

from devhost.routing import RouteTemplate


def test_parameters_constraints_and_defaults() -> None:
    template = RouteTemplate("api/orgs/{org}/people/{id:int:min(1)}/{view=summary}")

    assert template.match("/api/orgs/a/people/5") == {"org": "a", "id": "5", "view": "summary"}
    assert template.match("/API/Orgs/a/people/5/full/") == {"org": "a", "id": "5", "view": "full"}
    assert template.match("/api/orgs/a/people/0") is None  # min(1)
    assert template.match("/api/orgs/a/people/x") is None  # int
    assert template.match("/api/orgs/a/people/99999999999") is None  # beyond int32


def test_encoded_slash_stays_inside_one_segment() -> None:
    assert RouteTemplate("files/{name}").match("/files/a%2Fb") == {"name": "a/b"}


def test_complex_segments_and_regex_and_guid() -> None:
    assert RouteTemplate("dl/{name}.{ext}").match("/dl/report.tar.gz") == {
        "name": "report",
        "ext": "tar.gz",
    }
    code = RouteTemplate(r"codes/{code:regex(^[a-z]{{2}}\d$)}")
    assert code.match("/codes/AB1") == {"code": "AB1"}  # regex constraints ignore case
    assert code.match("/codes/abc") is None
    sized = RouteTemplate("s/{a:length(2)}/{b:length(1,3)}/{c:maxlength(2)}")
    assert sized.match("/s/ab/xyz/c") == {"a": "ab", "b": "xyz", "c": "c"}
    assert sized.match("/s/ab/wxyz/c") is None
    guid = RouteTemplate("x/{id:guid}")
    assert guid.match("/x/3f2504e0-4f89-11d3-9a0c-0305e82c3301") is not None
    assert guid.match("/x/nope") is None


def test_precedence_orders_literal_before_constrained_before_free_before_catch_all() -> None:
    templates = [RouteTemplate(t) for t in ("a/{*rest}", "a/{id}", "a/{id:int}", "a/new")]

    ordered = [t.template for t in sorted(templates, key=RouteTemplate.sort_key)]

    assert ordered == ["a/new", "a/{id:int}", "a/{id}", "a/{*rest}"]


def test_unsupported_templates_fail_at_load() -> None:
    with pytest.raises(ValueError, match="not supported"):
        RouteTemplate("a/{id:nonsense}")
    with pytest.raises(ValueError, match="catch-all"):
        RouteTemplate("a/{*rest}/b")
    with pytest.raises(ValueError, match="unclosed"):
        RouteTemplate("a/{id")
