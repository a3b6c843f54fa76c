"""Values placed in provider URLs stay one path segment."""

from __future__ import annotations

import pytest

from shared.errors import BadRequest
from shared.providers.urls import InvalidProviderId, check_event_id, checked, segment


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("AAMkAGI2TG93AAA=", "AAMkAGI2TG93AAA%3D"),
        ("../../integrations", "..%2F..%2Fintegrations"),
        ("a?b#c%d", "a%3Fb%23c%25d"),
        ("alex@contoso.com", "alex%40contoso.com"),
        ("abc_20260101T100000Z", "abc_20260101T100000Z"),
    ],
)
def test_a_value_is_encoded_as_one_segment(value: str, encoded: str) -> None:
    assert segment(value) == encoded
    assert "/" not in segment(value)


@pytest.mark.parametrize("value", ["", ".", "..", "...", "a\nb", "x\x00", "a" * 5000])
def test_a_value_that_would_change_the_path_is_refused(value: str) -> None:
    with pytest.raises(InvalidProviderId) as refused:
        segment(value)
    assert refused.value.status == 400 and refused.value.code == "invalid_provider_id"
    with pytest.raises(InvalidProviderId):
        checked(value)


@pytest.mark.parametrize("value", ["../x", "a/b", "a b", "é", "x?y", "", "..", "a" * 1025])
def test_route_values_that_are_not_event_ids_are_a_400(value: str) -> None:
    with pytest.raises(BadRequest) as refused:
        check_event_id(value)
    assert refused.value.code == "invalid_event_id"


def test_graph_and_google_ids_are_event_ids() -> None:
    for value in (
        "AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OABGAAAAAAAiQ8W967B7T-_=",
        "7cbh8rpc10lrc0ckih9tafss99_20260105T090000Z",
        "abc",
    ):
        assert check_event_id(value) == value
