"""In Azure, local-only settings are refused at start, naming each one; locally nothing changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.errors import ConfigurationError
from shared.hosting import (
    is_loopback_host,
    local_only_settings,
    loopback_allowed,
    refuse_local_settings_in_azure,
    running_in_azure,
)
from shared.settings import APP_ROOT, load_settings

AZURE = {"WEBSITE_INSTANCE_ID": "a1b2c3", "WEBSITE_SITE_NAME": "func-api-x"}

# What infra/main.bicep sets on the function app (no secrets, identity-based endpoints).
PRODUCTION = {
    "SECRET_STORE": "keyvault",
    "KEY_VAULT_URL": "https://kv-abc.vault.azure.net/",
    "AUTH_MODE": "jwks",
    "AUTH_JWKS_URL": "https://login.example.com/.well-known/jwks.json",
    "STORAGE_TABLE_ENDPOINT": "https://stabc.table.core.windows.net",
    "STORAGE_QUEUE_ENDPOINT": "https://stabc.queue.core.windows.net",
    "PUBLIC_BASE_URL": "https://func-api-abc.azurewebsites.net",
    "ALLOWED_RETURN_URLS": "https://portal.example.com/",
}


def _settings(tmp_path: Path, values: dict[str, str]) -> object:
    return load_settings({"LOCAL_SETTINGS_FILE": str(tmp_path / "none"), **values})


@pytest.mark.parametrize("name", ["WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME"])
def test_each_platform_variable_means_azure(name: str) -> None:
    assert running_in_azure({name: "x"})
    assert not loopback_allowed({name: "x"})


def test_a_developer_machine_is_not_azure() -> None:
    # Core Tools sets WEBSITE_HOSTNAME locally, container runtimes CONTAINER_NAME: neither counts.
    env = {"WEBSITE_HOSTNAME": "localhost:7071", "CONTAINER_NAME": "dev", "WEBSITE_SITE_NAME": ""}
    assert not running_in_azure(env)
    assert loopback_allowed(env)


def test_the_defaults_are_refused_in_azure_naming_secret_store_and_auth_mode(
    tmp_path: Path,
) -> None:
    settings = load_settings({"LOCAL_SETTINGS_FILE": str(tmp_path / "none")})
    with pytest.raises(ConfigurationError) as caught:
        refuse_local_settings_in_azure(settings, AZURE)
    message = str(caught.value)
    assert caught.value.setting == "SECRET_STORE"
    assert "SECRET_STORE is 'local'" in message
    assert "AUTH_MODE is 'local'" in message


def test_the_defaults_run_locally(tmp_path: Path) -> None:
    settings = load_settings({"LOCAL_SETTINGS_FILE": str(tmp_path / "none")})
    refuse_local_settings_in_azure(settings, {})


def test_the_local_sample_is_refused_in_azure_naming_every_local_value(tmp_path: Path) -> None:
    values = json.loads((APP_ROOT / "local.settings.sample.json").read_text())["Values"]
    values["LOCAL_SETTINGS_FILE"] = str(tmp_path / "none")
    named = {item.setting for item in local_only_settings(load_settings(values))}
    assert named == {
        "SECRET_STORE",
        "AUTH_MODE",
        "STORAGE_CONNECTION_STRING",
        "PROVIDER_CA_BUNDLE",
        "KEY_VAULT_VERIFY_CHALLENGE_RESOURCE",
        "KEY_VAULT_URL",
        "PUBLIC_BASE_URL",
        "ALLOWED_RETURN_URLS",
        "MICROSOFT_AUTHORITY_HOST",
        "MICROSOFT_GRAPH_URL",
        "GOOGLE_AUTH_URI",
        "GOOGLE_TOKEN_URI",
        "GOOGLE_REVOKE_URI",
        "GOOGLE_CALENDAR_URL",
        "GOOGLE_ADMIN_URL",
    }


def test_production_settings_pass_in_azure(tmp_path: Path) -> None:
    settings = load_settings({"LOCAL_SETTINGS_FILE": str(tmp_path / "none"), **PRODUCTION})
    assert local_only_settings(settings) == []
    refuse_local_settings_in_azure(settings, AZURE)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("api.localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("[::1]", True),
        ("::1", True),
        ("kv.vault.azure.net", False),
        ("10.0.0.4", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def _import_app(tmp_path: Path, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k.isupper() and not k.startswith("AZURE")}
    for name in ("SECRET_STORE", "AUTH_MODE", "WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME"):
        env.pop(name, None)
    env.update({"LOCAL_SETTINGS_FILE": str(tmp_path / "none"), **extra})
    return subprocess.run(
        [sys.executable, "-c", "import function_app; print(len(function_app.app.get_functions()))"],
        cwd=APP_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_app_refuses_to_start_in_azure_with_local_defaults(tmp_path: Path) -> None:
    result = _import_app(tmp_path, AZURE)
    assert result.returncode != 0
    assert "SECRET_STORE" in result.stderr
    assert "AUTH_MODE" in result.stderr


def test_the_app_starts_in_azure_with_production_settings(tmp_path: Path) -> None:
    result = _import_app(tmp_path, {**AZURE, **PRODUCTION})
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) > 0
