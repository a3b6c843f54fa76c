"""Where the app runs: in Azure or on a developer's machine, decided in this one place.

Azure App Service, and Azure Functions on it, set environment variables describing the site on
every instance: ``WEBSITE_INSTANCE_ID`` (the instance the site runs on) and ``WEBSITE_SITE_NAME``
(the app's name) are documented in Kudu's "Azure runtime environment" page. Neither is set by
Azure Functions Core Tools or by this repository's local host, so either means "running in
Azure". Not used: ``WEBSITE_HOSTNAME`` (Core Tools sets it locally) and ``CONTAINER_NAME`` (Linux
consumption hosts set it, but so do ordinary container runtimes a developer may work in).

In Azure the local conveniences are refused when the app starts, naming each setting:
:func:`refuse_local_settings_in_azure` raises :class:`~shared.errors.ConfigurationError` listing
every local-only value found, and :func:`loopback_allowed` tells callers (the host app's webhook
delivery, for example) whether loopback addresses may be reached at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.errors import ConfigurationError

if TYPE_CHECKING:
    from shared.settings import Settings

# function_app.py imports this module on every cold start: URL and address parsing is imported
# only by the checks that need it.

# Set by the platform on every Azure instance; never by Core Tools or devhost.
AZURE_PLATFORM_VARIABLES = ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME")

# Every URL setting the app calls or hands out; in Azure each must be https to a non-loopback
# host (the local defaults point at the simulator on 127.0.0.1 and at Azurite).
_URL_SETTINGS = (
    "public_base_url",
    "key_vault_url",
    "storage_table_endpoint",
    "storage_queue_endpoint",
    "auth_jwks_url",
    "microsoft_authority_host",
    "microsoft_graph_url",
    "google_auth_uri",
    "google_token_uri",
    "google_revoke_uri",
    "google_calendar_url",
    "google_admin_url",
)


def running_in_azure(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the platform says this process is an Azure App Service / Functions instance."""
    env = os.environ if environ is None else environ
    return any(env.get(name) for name in AZURE_PLATFORM_VARIABLES)


def loopback_allowed(environ: Mapping[str, str] | None = None) -> bool:
    """Whether loopback addresses (127.0.0.0/8, ::1, localhost) may be called: only locally."""
    return not running_in_azure(environ)


@dataclass(frozen=True)
class LocalOnly:
    """A setting whose value only makes sense on a developer's machine."""

    setting: str
    reason: str

    def __str__(self) -> str:
        return f"{self.setting} {self.reason}"


def is_loopback_host(host: str) -> bool:
    """``localhost``, ``*.localhost`` or a loopback IP literal (IPv4 or IPv6)."""
    import ipaddress

    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _url_problem(value: str) -> str | None:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme != "https":
        return f"is {value!r}: only https is allowed in Azure"
    if parts.hostname is None or is_loopback_host(parts.hostname):
        return f"is {value!r}: a loopback address (the local simulator or emulator)"
    return None


def local_only_settings(settings: Settings) -> list[LocalOnly]:
    """Every setting in ``settings`` holding a value meant for local development only."""
    from urllib.parse import urlsplit

    found: list[LocalOnly] = []
    if settings.secret_store == "local":
        found.append(
            LocalOnly(
                "SECRET_STORE",
                "is 'local' (an encrypted folder on one instance's disk): set 'keyvault'",
            )
        )
    if settings.auth_mode == "local":
        found.append(
            LocalOnly(
                "AUTH_MODE",
                "is 'local' (tokens signed with a shared secret anyone holding it can mint): "
                "set 'jwks' and AUTH_JWKS_URL",
            )
        )
    if settings.storage_connection_string is not None:
        text = settings.storage_connection_string.get_secret_value()
        if "UseDevelopmentStorage" in text or "devstoreaccount1" in text:
            found.append(
                LocalOnly(
                    "STORAGE_CONNECTION_STRING",
                    "points at the Azurite emulator: leave it empty and set "
                    "STORAGE_TABLE_ENDPOINT and STORAGE_QUEUE_ENDPOINT (managed identity)",
                )
            )
    if settings.provider_ca_bundle:
        found.append(
            LocalOnly(
                "PROVIDER_CA_BUNDLE",
                "is set: extra trusted CAs are for the local provider simulator only",
            )
        )
    if not settings.key_vault_verify_challenge_resource:
        found.append(
            LocalOnly(
                "KEY_VAULT_VERIFY_CHALLENGE_RESOURCE",
                "is false: only the local simulated vault needs the check off",
            )
        )
    for name in _URL_SETTINGS:
        value = getattr(settings, name)
        if value:
            problem = _url_problem(str(value))
            if problem:
                found.append(LocalOnly(name.upper(), problem))
    for prefix in settings.allowed_return_urls:
        host = urlsplit(prefix).hostname
        if host is None or is_loopback_host(host):
            found.append(
                LocalOnly("ALLOWED_RETURN_URLS", f"holds {prefix!r}: a loopback return address")
            )
    return found


def refuse_local_settings_in_azure(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> None:
    """In Azure, fail naming every local-only setting; elsewhere do nothing."""
    if not running_in_azure(environ):
        return
    found = local_only_settings(settings)
    if found:
        raise ConfigurationError(
            found[0].setting,
            "local development values are refused in Azure: "
            + "; ".join(str(item) for item in found),
        )
