"""One typed settings object, read from environment variables and ``local.settings.json``.

Each field reads the environment variable of the same name in upper case (``auth_mode`` ->
``AUTH_MODE``). Values in the environment win; otherwise the ``Values`` of ``local.settings.json``
(the file Azure Functions Core Tools use, found via ``LOCAL_SETTINGS_FILE`` or at the app root)
are used; otherwise the default, which is the working local default documented in
``local.settings.sample.json``. In Azure, app settings are environment variables.

Loading happens on first use (:func:`get_settings`), never at import. A malformed value fails
then with a :class:`~shared.errors.ConfigurationError` naming the variable; a setting that is only
needed by some features is optional here and checked by :meth:`Settings.require` where it is used,
so a missing one fails at first use with its name.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from shared.errors import ConfigurationError

APP_ROOT = Path(__file__).resolve().parent.parent


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseModel):
    """Every setting of the service. See ``local.settings.sample.json`` for each one's meaning."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # --- Storage (our own SDK clients; the Functions host uses AzureWebJobsStorage itself) ---
    storage_connection_string: SecretStr | None = None
    storage_table_endpoint: str | None = None
    storage_queue_endpoint: str | None = None
    table_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9]{0,20}$")

    # --- Secret store ---
    secret_store: Literal["local", "keyvault"] = "local"
    local_secrets_dir: str = ".local/secrets"
    local_secrets_key: SecretStr | None = None
    key_vault_url: str | None = None
    key_vault_purge_on_delete: bool = True
    key_vault_verify_challenge_resource: bool = True

    # --- Caller authentication (the host app's identity provider) ---
    auth_mode: Literal["local", "jwks"] = "local"
    auth_shared_secret: SecretStr | None = None
    auth_issuer: str = "calendar-integration-local"
    auth_audience: str = "calendar-integration"
    auth_jwks_url: str | None = None
    auth_leeway_seconds: int = Field(default=30, ge=0, le=300)

    # --- Where the service is reached, and where it may send people back to ---
    public_base_url: str = "http://localhost:7071"
    allowed_return_urls: list[str] = Field(default_factory=list)

    # --- Providers (real endpoints by default; the simulator's locally) ---
    provider_ca_bundle: str | None = None
    microsoft_authority_host: str = "https://login.microsoftonline.com"
    microsoft_graph_url: str = "https://graph.microsoft.com/v1.0"
    microsoft_client_id: str | None = None
    microsoft_client_secret: SecretStr | None = None
    google_auth_uri: str = "https://accounts.google.com/o/oauth2/auth"
    google_token_uri: str = "https://oauth2.googleapis.com/token"
    google_revoke_uri: str = "https://oauth2.googleapis.com/revoke"
    google_calendar_url: str = "https://www.googleapis.com/calendar/v3/"
    google_admin_url: str = "https://admin.googleapis.com/"
    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None

    # --- Sync engine: change notifications ---
    # Graph event subscriptions have had a documented maximum of 4230 minutes; renewed when
    # less than about a day remains.
    graph_subscription_minutes: int = Field(default=4230, ge=45, le=10080)
    # Google push channels: requested lifetime in hours (Google may grant less).
    google_channel_hours: int = Field(default=168, ge=1, le=720)

    # --- Sync engine: pull window ---
    # The rolling window of Graph calendarView/delta and Google's initial listing: busy
    # intervals are kept for this span only.
    sync_window_days_back: int = Field(default=1, ge=0, le=31)
    sync_window_days_ahead: int = Field(default=180, ge=1, le=730)

    # --- Sync engine: bounded work (docs/sync-design.md, "Bounded work") ---
    # Calendars packed into one sync queue message by the 5-minute cycle.
    sync_calendars_per_message: int = Field(default=50, ge=1, le=500)
    # Calendars one worker instance syncs at once (each is one mailbox: at most one provider
    # call in flight per mailbox from here, inside Graph's limit of 4 per mailbox).
    sync_concurrency: int = Field(default=32, ge=1, le=256)
    # Seconds a worker spends on one message before it hands the calendars it has not started
    # to a continuation message (the Functions host's default timeout is far longer; the
    # calendar lease lasts 10 minutes and is renewed while a long pull runs).
    sync_message_budget_seconds: int = Field(default=240, ge=1, le=3600)
    # Provider pages one calendar's pull reads per run; the rest continues in the next message.
    sync_max_pages: int = Field(default=20, ge=1, le=1000)
    # Seconds a host-app request spends pushing an event to people's calendars in real time;
    # the people not done by then are queued for the worker (the answer says "queued").
    push_inline_deadline_seconds: float = Field(default=10.0, ge=0, le=120)

    # --- Service (app-only) integrations ---
    # People matching: up to this many people, one directory filter per person (20 per Graph
    # $batch); above it, one paged listing of the whole directory matched locally.
    service_match_list_above: int = Field(default=200, ge=1, le=1_000_000)

    # --- Host-app notification feed ---
    # Days a notification (and its de-duplication key) is kept; the hourly maintenance timer
    # deletes older ones. See docs/decisions.md, "Notification retention".
    notification_retention_days: int = Field(default=30, ge=1, le=3650)

    # --- HTTP edge (docs/decisions.md, "Input limits and edges") ---
    # Largest request body read, in bytes (413 above). 1 MiB holds a Graph notification batch
    # (about 1 KB per basic notification) many times over and any body of this API.
    max_request_body_bytes: int = Field(default=1_048_576, ge=16_384, le=104_857_600)

    # --- Sync failures reported to the host app (docs/decisions.md, "Deadlines") ---
    # A calendar whose runs all failed (any kind, throttling included) for this long, or that
    # has not synced at all for this long, is reported as sync_failing.
    sync_failing_after_minutes: int = Field(default=30, ge=5, le=1440)

    # --- Deadlines (docs/decisions.md, "Deadlines") ---
    # Every outbound call has a connect and a read timeout; storage and Key Vault retry once.
    storage_connect_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    storage_read_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    key_vault_connect_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    key_vault_read_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    provider_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    provider_read_timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    # Graph counts a notification endpoint that takes longer than 3 s as slow; past this the
    # webhook answers 503 so that Graph delivers the notification again.
    webhook_deadline_seconds: float = Field(default=2.5, gt=0, le=30)
    # /health answers within this; a dependency that has not answered by then is "failing".
    health_deadline_seconds: float = Field(default=3.0, gt=0, le=30)

    # --- Operations ---
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"

    _split = field_validator("allowed_return_urls", mode="before")(_split_list)

    def require(self, name: str) -> Any:
        """The value of an optional setting that this code path needs; fails naming it."""
        value = getattr(self, name)
        if value is None or value == "":
            raise ConfigurationError(name.upper(), "is required here but not set")
        if isinstance(value, SecretStr) and not value.get_secret_value():
            raise ConfigurationError(name.upper(), "is required here but empty")
        return value

    def secret(self, name: str) -> str:
        """The plain value of a required secret setting (never log it)."""
        value = self.require(name)
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def resolve_path(value: str) -> Path:
    """A path setting: relative values are relative to the app root."""
    path = Path(value)
    return path if path.is_absolute() else APP_ROOT / path


def outbound_ssl_context(settings: Settings) -> ssl.SSLContext:
    """TLS trust for outbound calls: the system CAs plus ``PROVIDER_CA_BUNDLE`` when set."""
    context = ssl.create_default_context()
    if settings.provider_ca_bundle:
        context.load_verify_locations(cafile=str(resolve_path(settings.provider_ca_bundle)))
    return context


def _local_settings_values(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError("LOCAL_SETTINGS_FILE", f"{path} is not valid JSON: {exc}") from exc
    values = data.get("Values", {}) if isinstance(data, dict) else {}
    return {str(k): str(v) for k, v in values.items() if v is not None}


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``environ`` (default ``os.environ``) and local.settings.json."""
    env = dict(os.environ if environ is None else environ)
    file = Path(env.get("LOCAL_SETTINGS_FILE", str(APP_ROOT / "local.settings.json")))
    merged = {k.upper(): v for k, v in _local_settings_values(file).items()}
    merged.update({k.upper(): v for k, v in env.items()})
    raw = {name: merged[name.upper()] for name in Settings.model_fields if name.upper() in merged}
    # An empty variable means "not set", as in Azure app settings left blank.
    raw = {k: v for k, v in raw.items() if v != ""}
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "SETTINGS"
        problems = "; ".join(
            f"{str(e['loc'][0]).upper() if e['loc'] else '?'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(name, f"malformed ({problems})") from exc


_lock = threading.Lock()
_cached: Settings | None = None


def get_settings() -> Settings:
    """The process's settings, loaded on first call.

    In Azure, settings meant for local development only are refused here, naming each one
    (see :mod:`shared.hosting`): every later call fails the same way, so nothing runs on them.
    """
    global _cached
    with _lock:
        if _cached is None:
            from shared.hosting import refuse_local_settings_in_azure

            loaded = load_settings()
            refuse_local_settings_in_azure(loaded)
            _cached = loaded
        return _cached


def reset_settings_cache() -> None:
    """Forget the loaded settings (the local host reloads after changing the environment)."""
    global _cached
    with _lock:
        _cached = None
