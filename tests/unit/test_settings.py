"""Settings: environment over local.settings.json over defaults; bad values name the variable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.errors import ConfigurationError
from shared.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_environment_wins_over_local_settings_file(tmp_path: Path) -> None:
    file = tmp_path / "local.settings.json"
    file.write_text(json.dumps({"Values": {"AUTH_AUDIENCE": "from-file", "LOG_LEVEL": "DEBUG"}}))
    settings = load_settings({"LOCAL_SETTINGS_FILE": str(file), "AUTH_AUDIENCE": "from-env"})
    assert settings.auth_audience == "from-env"
    assert settings.log_level == "DEBUG"


def test_a_malformed_setting_fails_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(
            {"LOCAL_SETTINGS_FILE": str(tmp_path / "none"), "AUTH_LEEWAY_SECONDS": "soon"}
        )
    assert caught.value.setting == "AUTH_LEEWAY_SECONDS"
    assert "AUTH_LEEWAY_SECONDS" in str(caught.value)


def test_a_missing_required_setting_fails_at_first_use_naming_it(tmp_path: Path) -> None:
    settings = load_settings({"LOCAL_SETTINGS_FILE": str(tmp_path / "none")})
    with pytest.raises(ConfigurationError, match="MICROSOFT_CLIENT_SECRET"):
        settings.secret("microsoft_client_secret")


def test_lists_are_read_from_comma_separated_values(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "LOCAL_SETTINGS_FILE": str(tmp_path / "none"),
            "ALLOWED_RETURN_URLS": "https://app.example/, https://admin.example/",
        }
    )
    assert settings.allowed_return_urls == ["https://app.example/", "https://admin.example/"]


def test_secret_settings_do_not_show_in_reprs(tmp_path: Path) -> None:
    settings = load_settings(
        {"LOCAL_SETTINGS_FILE": str(tmp_path / "none"), "AUTH_SHARED_SECRET": "hunter2-secret"}
    )
    assert "hunter2-secret" not in repr(settings)
    assert settings.secret("auth_shared_secret") == "hunter2-secret"


def test_the_sample_documents_every_setting_with_a_working_default() -> None:
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())
    values, docs = sample["Values"], sample["Documentation"]
    for name in Settings.model_fields:
        assert name.upper() in values, f"{name.upper()} missing from the sample's Values"
        assert docs.get(name.upper()), f"{name.upper()} is not documented in the sample"
    # The sample's values, with the two secrets `make run` generates, load without error.
    generated = {"LOCAL_SECRETS_KEY": "k" * 43, "AUTH_SHARED_SECRET": "s" * 43}
    settings = load_settings({"LOCAL_SETTINGS_FILE": "/nonexistent", **values, **generated})
    assert settings.secret_store == "local"
