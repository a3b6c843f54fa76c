"""infra/ and azure.yaml agree with the code: settings, queues, roles, secrets, Flex, host.json.

Checked offline by parsing the Bicep files (tests/infra/bicep_model.py); `az bicep build` and
`azd provision --preview` are the online checks (docs/operations.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from lark.exceptions import LarkError
from pycep import BicepParser
from pydantic import SecretStr

from function_app import app
from shared.hosting import local_only_settings
from shared.settings import APP_ROOT, Settings, load_settings
from shared.sync import health, leases
from shared.sync.context import SYNC_QUEUE
from tests.infra.bicep_model import (
    INFRA,
    bicep_files,
    expression_text,
    parse,
    referenced_names,
    resource,
    resources,
    secure_parameters,
    unquote,
    variable,
    walk,
)

APP_SETTINGS: dict[str, Any] = variable("resources.bicep", "appSettings")
HOST = json.loads((APP_ROOT / "host.json").read_text(encoding="utf-8"))

# Learn, functions-app-settings, "Flex Consumption plan deprecations": the runtime is declared in
# functionAppConfig and these are rejected or ignored as app settings.
FLEX_REJECTED = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_NODE_DEFAULT_VERSION",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
    "WEBSITE_TIME_ZONE",
    "TZ",
    "AzureWebJobsFeatureFlags",
}

ROLE = {
    "storage_blob_data_owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "storage_queue_data_contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "storage_table_data_contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "key_vault_secrets_officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "monitoring_metrics_publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}

# Each data-plane SDK the app's code imports -> (role it needs, resource symbol it is scoped to).
SDK_ROLES = {
    "azure.data.tables": ("storage_table_data_contributor", "storage"),
    "azure.storage.queue": ("storage_queue_data_contributor", "storage"),
    "azure.keyvault.secrets": ("key_vault_secrets_officer", "vault"),
    # Telemetry with Entra ID authentication (local auth is off on the component).
    "azure.monitor.opentelemetry": ("monitoring_metrics_publisher", "appInsights"),
}
# Operations of azure-keyvault-secrets' SecretClient that Key Vault Secrets Officer allows
# (secrets/* data actions: get, list, set, delete, recover, purge, backup, restore).
SECRETS_OFFICER_OPERATIONS = {
    "get_secret",
    "set_secret",
    "list_properties_of_secrets",
    "list_properties_of_secret_versions",
    "begin_delete_secret",
    "begin_recover_deleted_secret",
    "purge_deleted_secret",
    "get_deleted_secret",
    "list_deleted_secrets",
    "update_secret_properties",
    "close",
}


def app_setting_names() -> set[str]:
    return {unquote(k) for k in APP_SETTINGS}


def documented_optional_settings() -> set[str]:
    """Names in the table of docs/operations.md, section "Settings left at their defaults"."""
    text = (APP_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text.split("### Settings left at their defaults", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `([A-Z0-9_]+)` \|", section, flags=re.MULTILINE))


def role_assignments() -> dict[str, str]:
    """Role definition GUID -> scope symbol, for every assignment in rbac.bicep."""
    roles = variable("rbac.bicep", "roles")
    found: dict[str, str] = {}
    for item in resources():
        if item.type != "Microsoft.Authorization/roleAssignments":
            continue
        definition = item.body["properties"]["roleDefinitionId"]["function"]
        assert definition["type"] == "subscription_resource_id", item.symbol
        key = expression_text(definition["parameters"]["resource_name_1"]).split(".")[-1]
        assert item.body["properties"]["principalType"] == "ServicePrincipal", item.symbol
        assert item.body["properties"]["principalId"] == "principalId", item.symbol
        found[roles[key]] = item.body["scope"]
    return found


def test_every_bicep_file_parses_and_a_broken_one_does_not() -> None:
    files = bicep_files()
    assert {f.name for f in files} >= {"main.bicep", "resources.bicep", "rbac.bicep"}
    for path in files:
        assert parse(path)["resources"] or parse(path)["modules"], path
    broken = (INFRA / "main.bicep").read_text(encoding="utf-8").rsplit("module", 1)[0] + "module {"
    with pytest.raises(LarkError):
        BicepParser().parse(text=broken)


def test_api_versions_are_pinned_and_modules_are_local() -> None:
    for item in resources():
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", item.api_version), (item.symbol, item.api_version)
    for path in bicep_files():
        for name, module in parse(path).get("modules", {}).items():
            assert module["type"] == "local", (path.name, name)
            assert (path.parent / module["detail"]["path"]).exists(), (path.name, name)


def test_a_flex_consumption_linux_plan_runs_the_python_app() -> None:
    plan = resource("resources.bicep", "plan").body
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    assert plan["properties"]["reserved"] is True
    site = resource("resources.bicep", "site").body
    assert site["kind"] == "functionapp,linux"
    config = site["properties"]["functionAppConfig"]
    python = re.search(r'python_version = "([\d.]+)"', (APP_ROOT / "pyproject.toml").read_text())
    assert python is not None
    assert config["runtime"] == {"name": "python", "version": python.group(1)}
    assert config["deployment"]["storage"]["type"] == "blobContainer"
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert site["identity"]["type"] == "UserAssigned"
    assert site["properties"]["httpsOnly"] is True


def test_no_app_setting_is_one_flex_consumption_rejects() -> None:
    assert app_setting_names().isdisjoint(FLEX_REJECTED)


def test_storage_vault_and_monitoring_use_identity_only() -> None:
    storage = resource("resources.bicep", "storage").body["properties"]
    assert storage["allowSharedKeyAccess"] is False
    assert storage["allowBlobPublicAccess"] is False
    vault = resource("resources.bicep", "vault").body["properties"]
    assert vault["enableRbacAuthorization"] is True
    assert vault["enableSoftDelete"] is True
    insights = resource("resources.bicep", "appInsights").body["properties"]
    assert insights["DisableLocalAuth"] is True
    assert expression_text(insights["WorkspaceResourceId"]) == "workspace.id"
    assert "APPINSIGHTS_INSTRUMENTATIONKEY" not in app_setting_names()


def test_every_setting_the_app_reads_is_set_by_infra_or_documented_optional() -> None:
    set_by_infra = app_setting_names()
    optional = documented_optional_settings()
    for name in Settings.model_fields:
        setting = name.upper()
        assert setting in set_by_infra or setting in optional, (
            f"{setting}: set it in infra/resources.bicep (appSettings) or list it in "
            "docs/operations.md under 'Settings left at their defaults'"
        )
        assert not (setting in set_by_infra and setting in optional), setting
    # Settings read by libraries rather than shared/settings.py.
    assert {"AZURE_CLIENT_ID", "APPLICATIONINSIGHTS_CONNECTION_STRING"} <= set_by_infra


def test_the_settings_infra_sets_pass_the_production_check() -> None:
    # Expressions are resolved by ARM at deployment: a variable by its value, a parameter or a
    # resource property by an https stand-in (parameters are checked again at start in Azure).
    template = parse(INFRA / "resources.bicep")

    def resolve(value: Any) -> str:
        if isinstance(value, str) and value in template["variables"]:
            return resolve(template["variables"][value]["value"])
        if isinstance(value, str) and value not in template["parameters"]:
            return re.sub(r"\$\{[^}]*\}", "resolved", value)
        return "https://resolved.example.net/"

    values = {unquote(k): resolve(v) for k, v in APP_SETTINGS.items()}
    settings = load_settings({"LOCAL_SETTINGS_FILE": str(APP_ROOT / "no-such-file"), **values})
    assert local_only_settings(settings) == []
    assert settings.secret_store == "keyvault"
    assert settings.auth_mode == "jwks"


def test_no_app_setting_holds_a_secret() -> None:
    secure = secure_parameters("resources.bicep")
    assert secure == {"microsoftClientSecret", "googleClientSecret"}
    secret_fields = {
        name.upper()
        for name, field in Settings.model_fields.items()
        if SecretStr in getattr(field.annotation, "__args__", (field.annotation,))
    }
    vault_secrets = {
        expression_text(resource("resources.bicep", symbol).body["name"])
        for symbol in ("microsoftSecret", "googleSecret")
    }
    for key, value in APP_SETTINGS.items():
        name = unquote(key)
        assert not referenced_names(value) & secure, name
        for item in walk(value):
            if isinstance(item, dict) and "function" in item:
                assert not item["function"]["type"].startswith("list"), name  # listKeys() etc.
        if name in secret_fields:
            # Only a Key Vault reference, naming a secret this template writes.
            assert isinstance(value, str), name
            match = re.fullmatch(
                r"@Microsoft\.KeyVault\(VaultName=\$\{vault\.name\};SecretName=\$\{(\w+)\}\)", value
            )
            assert match, name
            assert match.group(1) in vault_secrets, name
    assert "STORAGE_CONNECTION_STRING" not in app_setting_names()


def test_each_data_plane_client_has_its_role_and_no_role_is_unexplained() -> None:
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (APP_ROOT / "shared").rglob("*.py"))
    needed: dict[str, str] = {}
    for sdk, (role, scope) in SDK_ROLES.items():
        if re.search(rf"^\s*(from|import) {re.escape(sdk)}\b", sources, flags=re.MULTILINE):
            needed[ROLE[role]] = scope
    # Every azure.* data-plane SDK the code imports is in the table above.
    imported = set(re.findall(r"^\s*(?:from|import) (azure\.[a-z_]+\.[a-z_]+)", sources, re.M))
    unmapped = imported - set(SDK_ROLES) - {"azure.core.credentials", "azure.core.exceptions"}
    not_data_planes = ("azure.core.", "azure.identity", "azure.functions")
    unmapped = {m for m in unmapped if not m.startswith(not_data_planes)}
    assert unmapped == set()
    # The Functions host: the package and its locks in blobs (AzureWebJobsStorage).
    needed[ROLE["storage_blob_data_owner"]] = "storage"
    # Queue triggers receive, delete and move messages to -poison with the same identity.
    app.functions_bindings = {}
    if any(f.get_trigger().type == "queueTrigger" for f in app.get_functions()):
        needed[ROLE["storage_queue_data_contributor"]] = "storage"
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in app_setting_names()
    assert role_assignments() == needed


def test_key_vault_operations_are_allowed_and_purge_is_possible() -> None:
    store = (APP_ROOT / "shared" / "secrets" / "keyvault_store.py").read_text(encoding="utf-8")
    used = set(re.findall(r"self\._client\.(\w+)\(", store))
    assert used, "the Key Vault store calls its SecretClient"
    assert used <= SECRETS_OFFICER_OPERATIONS
    vault = resource("resources.bicep", "vault").body["properties"]
    if "purge_deleted_secret" in used and APP_SETTINGS.get("KEY_VAULT_PURGE_ON_DELETE") == "true":
        # Purge protection forbids purging: the app's erasure of tokens would fail.
        assert vault.get("enablePurgeProtection") in (None, False)


def test_every_queue_a_trigger_listens_on_and_its_poison_queue_exist() -> None:
    app.functions_bindings = {}
    triggers = [f.get_trigger() for f in app.get_functions()]
    listened = {t.queue_name for t in triggers if t.type == "queueTrigger"}
    assert SYNC_QUEUE in listened
    created = set(variable("resources.bicep", "queueNames"))
    for queue in listened:
        assert {queue, f"{queue}-poison"} <= created, queue
    assert f"{SYNC_QUEUE}-poison" == health.POISON_QUEUE
    for t in triggers:
        if t.type == "queueTrigger":
            assert t.connection == "AzureWebJobsStorage"
    # The app enqueues where the triggers listen: one storage account.
    assert expression_text(APP_SETTINGS["STORAGE_QUEUE_ENDPOINT"]) == expression_text(
        APP_SETTINGS["AzureWebJobsStorage__queueServiceUri"]
    )
    assert APP_SETTINGS["AzureWebJobsStorage__credential"] == "managedidentity"
    assert expression_text(APP_SETTINGS["AzureWebJobsStorage__clientId"]) == expression_text(
        APP_SETTINGS["AZURE_CLIENT_ID"]
    )


def test_host_json_matches_what_the_code_expects() -> None:
    queues = HOST["extensions"]["queues"]
    # shared/storage/azure_queues.py sends base64 (BinaryBase64EncodePolicy); the trigger decodes.
    adapter = (APP_ROOT / "shared" / "storage" / "azure_queues.py").read_text(encoding="utf-8")
    assert "message_encode_policy=BinaryBase64EncodePolicy()" in adapter
    assert queues["messageEncoding"] == "base64"
    # A failing message reaches -poison after maxDequeueCount attempts (counted by health).
    assert 1 <= queues["maxDequeueCount"] <= 10
    # A calendar's lease lasts as long as a run may (shared/sync/leases.py).
    hours, minutes, seconds = (int(x) for x in HOST["functionTimeout"].split(":"))
    assert leases.DEFAULT_TTL.total_seconds() == hours * 3600 + minutes * 60 + seconds
    assert HOST["extensionBundle"]["version"] == "[4.*, 5.0.0)"
    assert HOST["extensions"]["http"]["routePrefix"] == "api"


def test_azure_yaml_service_matches_the_sites_azd_service_name_tag() -> None:
    text = (APP_ROOT / "azure.yaml").read_text(encoding="utf-8")
    services = text.split("\nservices:\n", 1)[1]
    names = re.findall(r"^  ([A-Za-z0-9_-]+):\s*$", services, flags=re.MULTILINE)
    assert len(names) == 1
    assert re.search(r"^    host: function\s*$", services, flags=re.MULTILINE)
    assert re.search(r"^    language: python\s*$", services, flags=re.MULTILINE)
    tags = resource("resources.bicep", "site").body["tags"]["function"]
    assert tags["type"] == "union"
    tag = tags["parameters"]["arg_2"]["'azd-service-name'"]
    assert variable("resources.bicep", tag) == names[0]


def test_parameters_flow_from_azd_to_every_module() -> None:
    main = parse(INFRA / "main.bicep")
    params_file = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    given = params_file["parameters"]
    assert set(given) <= set(main["parameters"])
    for name, item in main["parameters"].items():
        if item["default"] is None:
            assert name in given, name
    for name, value in given.items():
        assert re.fullmatch(r"\$\{[A-Z_]+(=[^}]*)?\}", value["value"]), name
    module = main["modules"]["resources"]["config"]["params"]
    inner = parse(INFRA / "resources.bicep")["parameters"]
    assert set(module) == set(inner)
    rbac = parse(INFRA / "resources.bicep")["modules"]["rbac"]["config"]["params"]
    assert set(rbac) == set(parse(INFRA / "rbac.bicep")["parameters"])


def test_the_urls_to_register_are_routes_of_the_app() -> None:
    app.functions_bindings = {}
    routes = {
        f.get_trigger().route for f in app.get_functions() if f.get_trigger().type == "httpTrigger"
    }
    outputs = parse(INFRA / "main.bicep")["outputs"]
    urls = {k: v["value"] for k, v in outputs.items() if k.endswith(("_URI", "_URL"))}
    registered = {k: v for k, v in urls.items() if "REDIRECT" in k or "WEBHOOK" in k}
    assert len(registered) == 6
    for name, value in registered.items():
        prefix = "${resources.outputs.publicBaseUrl}/api/"
        assert value.startswith(prefix), name
        assert value.removeprefix(prefix) in routes, name


def test_the_developer_docs_name_every_output_to_register(tmp_path: Path) -> None:
    text = (APP_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for name in parse(INFRA / "main.bicep")["outputs"]:
        if "REDIRECT" in name or "WEBHOOK" in name:
            assert f"`{name}`" in text, name
