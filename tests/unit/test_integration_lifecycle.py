"""Lifecycle rules of workspace integrations, on the in-memory table store and a manual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.clock import ManualClock
from shared.errors import ConcurrencyConflict, Conflict
from shared.integrations.lifecycle import IntegrationLifecycle
from shared.integrations.model import Integration, Kind, Provider, Status
from shared.integrations.repository import IntegrationRepository
from shared.rooms.pairings import Room, RoomPairings
from shared.storage.memory_tables import MemoryTableStore

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class World:
    def __init__(self) -> None:
        self.tables = MemoryTableStore()
        self.clock = ManualClock(START)
        self.repo = IntegrationRepository(self.tables)
        self.rooms = RoomPairings(self.tables)
        self.lifecycle = IntegrationLifecycle(self.repo, self.rooms, self.clock)

    def passed(self, provider: Provider, org: str = "contoso") -> Integration:
        integration = self.lifecycle.create(org, "ada", kind=Kind.WORKSPACE, provider=provider)
        self.lifecycle.test_started(integration, "ada")
        return self.lifecycle.test_finished(integration, "ada", passed=True, tenant="t-1")


@pytest.fixture
def world() -> World:
    return World()


def test_an_integration_cannot_be_enabled_before_its_test_passes(world: World) -> None:
    integration = world.lifecycle.create(
        "contoso", "ada", kind=Kind.WORKSPACE, provider=Provider.MICROSOFT
    )
    world.lifecycle.test_started(integration, "ada")
    world.lifecycle.test_finished(integration, "ada", passed=False, tenant=None)
    with pytest.raises(Conflict) as refused:
        world.lifecycle.enable("contoso", integration.id, "ada")
    assert refused.value.code == "test_required"
    assert world.repo.get("contoso", integration.id).status is Status.TEST_FAILED


def test_enabling_a_second_suite_needs_confirmation_and_then_disables_the_first(
    world: World,
) -> None:
    microsoft = world.passed(Provider.MICROSOFT)
    world.lifecycle.enable("contoso", microsoft.id, "ada")
    world.rooms.put(
        Room("contoso", "r1", "Aurora", "aurora@contoso.example", START, microsoft.id, START)
    )
    google = world.passed(Provider.GOOGLE)

    with pytest.raises(Conflict) as refused:
        world.lifecycle.enable("contoso", google.id, "ada")
    assert refused.value.code == "another_integration_active"
    assert refused.value.extra["active"]["id"] == microsoft.id
    assert any("unpaired" in c for c in refused.value.extra["consequences"])
    assert world.repo.get("contoso", microsoft.id).is_enabled

    world.lifecycle.enable("contoso", google.id, "ada", confirm_replace=True)
    first = world.repo.get("contoso", microsoft.id)
    assert first.status is Status.DISABLED
    assert first.purge_at == START + timedelta(days=5)
    assert world.repo.get("contoso", google.id).is_enabled
    room = world.rooms.get("contoso", "r1")
    assert room is not None and not room.paired and room.email == "aurora@contoso.example"


def test_disabling_needs_confirmation_of_the_consequences(world: World) -> None:
    integration = world.passed(Provider.MICROSOFT)
    world.lifecycle.enable("contoso", integration.id, "ada")
    with pytest.raises(Conflict) as refused:
        world.lifecycle.disable("contoso", integration.id, "ada")
    assert refused.value.code == "confirmation_required"
    assert refused.value.extra["purge_at"] == (START + timedelta(days=5)).isoformat()
    assert world.repo.get("contoso", integration.id).is_enabled

    disabled = world.lifecycle.disable("contoso", integration.id, "grace", confirm=True)
    assert (disabled.status, disabled.disabled_by) == (Status.DISABLED, "grace")


def test_re_enabling_within_five_days_restores_and_after_is_refused(world: World) -> None:
    integration = world.passed(Provider.GOOGLE)
    world.lifecycle.enable("contoso", integration.id, "ada")
    world.lifecycle.disable("contoso", integration.id, "ada", confirm=True)
    world.clock.advance(timedelta(days=4, hours=23))
    restored = world.lifecycle.enable("contoso", integration.id, "ada")
    assert restored.is_enabled and restored.purge_at is None
    actions = [entry.action for entry in world.repo.history(restored)]
    assert actions == [
        "created",
        "test_started",
        "test_passed",
        "enabled",
        "disabled",
        "re-enabled",
    ]

    world.lifecycle.disable("contoso", integration.id, "ada", confirm=True)
    world.clock.advance(timedelta(days=5, minutes=1))
    with pytest.raises(Conflict) as refused:
        world.lifecycle.enable("contoso", integration.id, "ada")
    assert refused.value.code == "retention_over"


def test_two_admins_writing_at_once_cannot_both_win(world: World) -> None:
    integration = world.passed(Provider.MICROSOFT)
    stale = world.repo.get("contoso", integration.id)
    world.lifecycle.enable("contoso", integration.id, "ada")
    stale.name = "renamed on a stale copy"
    with pytest.raises(ConcurrencyConflict):
        world.repo.save(stale)


def test_organisations_do_not_see_each_others_integrations(world: World) -> None:
    ours = world.passed(Provider.MICROSOFT, org="contoso")
    world.passed(Provider.MICROSOFT, org="fabrikam")
    assert [i.id for i in world.repo.for_org("contoso")] == [ours.id]


def test_a_service_check_ending_after_a_sync_made_the_integration_inactive_still_lands(
    world: World,
) -> None:
    integration = world.lifecycle.create(
        "contoso", "ada", kind=Kind.SERVICE, provider=Provider.GOOGLE
    )
    integration = world.lifecycle.service_check_finished(
        integration, "ada", passed=True, tenant="example.com"
    )
    # The admin rotates the credential and its check starts from this row...
    held = world.repo.get("contoso", integration.id)
    # ...while a sync run meets the refused old credential and makes the integration Inactive.
    world.lifecycle.service_check_finished(
        world.repo.get("contoso", integration.id), "sync", passed=False, tenant=None
    )

    finished = world.lifecycle.service_check_finished(held, "ada", passed=True, tenant=None)

    assert finished.status is Status.ENABLED
    assert world.repo.get("contoso", integration.id).status is Status.ENABLED
