"""Service integrations inside the sync engine: which calendars they have, and a client for one.

:func:`service_calendars` lists the calendars of a service integration (matched people with
sync on); :func:`service_client` opens one person's calendar with the integration's app-only
credential. A credential the identity platform refuses (wrong, expired, revoked) is recorded on
the integration and told to the host app once per credential version (``credentials_invalid``);
rotating the credential through ``PATCH .../credentials`` clears it.
"""

from __future__ import annotations

import logging
import threading

from shared.consent.context import ConsentContext
from shared.errors import ConcurrencyConflict, ProviderError
from shared.integrations.model import Integration, Kind, Status
from shared.providers.base import CalendarClient, TokenSource
from shared.service.config import ServiceConfigs
from shared.service.model import ServiceConfig
from shared.service.people_map import PersonMapping, ServicePeople
from shared.service.ports import AppCredential
from shared.service.registry import service_provider

log = logging.getLogger(__name__)


def active_service_integrations(ctx: ConsentContext, org: str) -> list[Integration]:
    return [
        i
        for i in ctx.integrations.for_org(org)
        if i.kind is Kind.SERVICE and i.status is Status.ENABLED
    ]


def synced_people(ctx: ConsentContext, integration: Integration) -> list[PersonMapping]:
    """The people whose calendars this (enabled) service integration syncs."""
    if integration.status is not Status.ENABLED or integration.kind is not Kind.SERVICE:
        return []
    return [
        m
        for m in ServicePeople(ctx.tables).of_integration(integration.org, integration.id)
        if m.syncs
    ]


def covered_people(ctx: ConsentContext, org: str) -> set[str]:
    """People an enabled service integration syncs: their workspace connections are not
    synced (exactly one path per person; docs/decisions.md, "Service integrations")."""
    return {m.person for i in active_service_integrations(ctx, org) for m in synced_people(ctx, i)}


def is_covered(ctx: ConsentContext, org: str, person: str) -> bool:
    """``person in covered_people(ctx, org)`` with a point read per enabled service integration
    instead of listing each one's people: the worker asks this for every calendar it syncs, and
    an organisation of 10,000 people would otherwise read 10,000 rows per calendar."""
    people = ServicePeople(ctx.tables)
    for integration in active_service_integrations(ctx, org):
        mapping = people.get(org, integration.id, person)
        if mapping is not None and mapping.syncs:
            return True
    return False


# The app-only credential of each (integration, credential version), built once per process:
# it holds the provider's token cache, so its secret is read from the secret store once, not
# per calendar run. A rotation raises the version, so the old one is never used again.
_credentials: dict[tuple[str, int], AppCredential] = {}
_credentials_lock = threading.Lock()


def _credential(ctx: ConsentContext, config: ServiceConfig) -> AppCredential:
    key = (config.integration_id, config.credential_version)
    with _credentials_lock:
        found = _credentials.get(key)
    if found is not None:
        return found
    secret = ServiceConfigs(ctx.tables, ctx.secrets).secret(config)
    built = service_provider(ctx.settings, config.provider).credential(config, secret)
    with _credentials_lock:
        for old in [k for k in _credentials if k[0] == config.integration_id and k != key]:
            del _credentials[old]
        _credentials[key] = built
    return built


def service_client(ctx: ConsentContext, integration: Integration, mailbox: str) -> CalendarClient:
    """A calendar client for ``mailbox`` (a directory id) under ``integration``."""
    config = ServiceConfigs(ctx.tables, ctx.secrets).get(integration.org, integration.id)
    provider = service_provider(ctx.settings, config.provider)
    credential = _credential(ctx, config)
    tokens = _watched(ctx, integration, config, credential.token_source(mailbox))
    return provider.calendar(config, _Fixed(tokens), mailbox)


class _Fixed:
    """An :class:`~shared.service.ports.AppCredential` handing out one token source."""

    def __init__(self, tokens: TokenSource) -> None:
        self._tokens = tokens

    def token_source(self, mailbox: str | None = None) -> TokenSource:
        del mailbox
        return self._tokens

    def check(self) -> None:
        self._tokens(force_refresh=True)


def _watched(
    ctx: ConsentContext, integration: Integration, config: ServiceConfig, tokens: TokenSource
) -> TokenSource:
    provider = service_provider(ctx.settings, config.provider)

    def source(*, force_refresh: bool = False) -> str:
        try:
            return tokens(force_refresh=force_refresh)
        except ProviderError as exc:
            if provider.credential_invalid(exc):
                report_credential_invalid(ctx, integration, config, exc)
            raise

    return source


def report_credential_invalid(
    ctx: ConsentContext, integration: Integration, config: ServiceConfig, exc: ProviderError
) -> None:
    """A refused credential met during sync: told, recorded, the integration Inactive."""
    provider = service_provider(ctx.settings, config.provider)
    code = provider.issue_code(exc, "token", config, "")
    credential_refused(ctx, integration, config, code, exc.provider_code or "")


def credential_refused(
    ctx: ConsentContext,
    integration: Integration,
    config: ServiceConfig,
    code: str,
    provider_code: str,
    actor: str = "sync",
) -> None:
    """Tell the host app (``credentials_invalid``, once per credential version), record the
    reason on the settings row and make the integration Inactive: every calendar would fail
    the same way until someone enters a working credential (``PATCH .../credentials``)."""
    ctx.outbox.append(
        integration.org,
        "credentials_invalid",
        {
            "integration_id": integration.id,
            "name": integration.name,
            "provider": config.provider,
            "error": code,
            "provider_code": provider_code,
        },
        dedupe_key=f"credentials_invalid:{integration.id}:{config.credential_version}",
    )
    configs = ServiceConfigs(ctx.tables, ctx.secrets)
    fresh = configs.find(integration.org, integration.id)
    if fresh is None or fresh.credential_version != config.credential_version:
        return  # rotated meanwhile: the new credential is not the refused one
    if fresh.credential_error != code:
        fresh.credential_error = code
        try:
            configs.save(fresh)
        except ConcurrencyConflict:
            log.info("integration %s credential state changed meanwhile", integration.id)
    current = ctx.integrations.get(integration.org, integration.id)
    if current.status is Status.ENABLED:
        try:
            ctx.lifecycle.service_check_finished(current, actor, passed=False, tenant=None)
        except ConcurrencyConflict:
            log.info("integration %s changed meanwhile", integration.id)
