"""A Key Vault (secrets only) at ``{base_url}/keyvault``, enough for azure-keyvault-secrets.

REST subset (https://learn.microsoft.com/rest/api/keyvault/secrets), every request with an
``api-version`` query parameter::

    PUT    /keyvault/secrets/{name}                   set a new version {value, tags?, contentType?}
    GET    /keyvault/secrets/{name}[/{version}]       get (latest or one version)
    GET    /keyvault/secrets                          list (paged: maxresults, $skiptoken, nextLink)
    DELETE /keyvault/secrets/{name}                   soft-delete -> deleted secret bundle
    GET    /keyvault/deletedsecrets/{name}            the deleted secret
    DELETE /keyvault/deletedsecrets/{name}            purge -> 204 (403 when purge is not allowed)
    POST   /keyvault/deletedsecrets/{name}/recover    undo a soft-delete

Authentication is Key Vault's challenge protocol: a request without a bearer token gets 401 and
``WWW-Authenticate: Bearer authorization="{base_url}/{tenant}", resource="https://vault.azure.net"``
(the SDK's ``ChallengeAuthPolicy`` takes the tenant from the authorization URL's first path
segment and asks its credential for ``{resource}/.default``). A token must be one this world
issued (:func:`simulator.tokens.verify`) for audience ``https://vault.azure.net`` and the vault's
tenant; when :attr:`VaultState.allowed_object_ids` is set, only those principals (``oid``) pass
(403 ``ForbiddenByRbac`` otherwise). Names are case-insensitive, as in Key Vault.

Identifiers: the SDK parses a secret id as ``{vault}/secrets/{name}[/{version}]`` and rejects
any other path depth, so ids are issued as ``{base_url}/secrets/...`` (without the ``/keyvault``
mount) while requests go to ``{base_url}/keyvault/...``. Nothing dereferences an id.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from simulator import tokens
from simulator.world import World

AUDIENCE = "https://vault.azure.net"
DEFAULT_TENANT_ID = "00000000-0000-4000-8000-00000000c0de"
RECOVERABLE_DAYS = 90
_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_PAGE_MAX = 25


@dataclass
class SecretVersion:
    version: str
    value: str
    content_type: str | None
    tags: dict[str, str]
    created: int
    updated: int
    enabled: bool = True


@dataclass
class StoredSecret:
    name: str  # as first written (names compare case-insensitively)
    versions: list[SecretVersion] = field(default_factory=list)
    deleted_date: int | None = None
    scheduled_purge_date: int | None = None


@dataclass
class VaultState:
    """The vault's contents and its knobs (tests change these directly or via :func:`configure`)."""

    tenant_id: str = DEFAULT_TENANT_ID
    purge_allowed: bool = True
    allowed_object_ids: set[str] | None = None
    secrets: dict[str, StoredSecret] = field(default_factory=dict)  # lower-case name -> secret
    deleted: dict[str, StoredSecret] = field(default_factory=dict)


def state(world: World) -> VaultState:
    """The world's vault, created on first use."""
    return world.area("keyvault", VaultState)


def configure(
    world: World,
    *,
    tenant_id: str | None = None,
    purge_allowed: bool | None = None,
    allowed_object_ids: set[str] | None = None,
) -> VaultState:
    """Change the vault's tenant, purge permission and access list; returns the state."""
    with world.lock:
        vault = state(world)
        if tenant_id is not None:
            vault.tenant_id = tenant_id
        if purge_allowed is not None:
            vault.purge_allowed = purge_allowed
        if allowed_object_ids is not None:
            vault.allowed_object_ids = set(allowed_object_ids)
        return vault


# -- responses ------------------------------------------------------------------------------


def _error(status: int, code: str, message: str, inner: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if inner:
        body["innererror"] = {"code": inner}
    return JSONResponse({"error": body}, status_code=status)


def _not_found(name: str) -> JSONResponse:
    return _error(
        404,
        "SecretNotFound",
        f"A secret with (name/id) {name} was not found in this key vault.",
    )


def _attributes(version: SecretVersion) -> dict[str, Any]:
    return {
        "enabled": version.enabled,
        "created": version.created,
        "updated": version.updated,
        "recoveryLevel": "Recoverable+Purgeable",
        "recoverableDays": RECOVERABLE_DAYS,
    }


def _bundle(world: World, secret: StoredSecret, version: SecretVersion) -> dict[str, Any]:
    body: dict[str, Any] = {
        "value": version.value,
        "id": f"{world.base_url}/secrets/{secret.name}/{version.version}",
        "attributes": _attributes(version),
        "tags": dict(version.tags),
    }
    if version.content_type:
        body["contentType"] = version.content_type
    return body


def _deleted_bundle(world: World, secret: StoredSecret) -> dict[str, Any]:
    body = _bundle(world, secret, secret.versions[-1])
    del body["value"]
    body["recoveryId"] = f"{world.base_url}/deletedsecrets/{secret.name}"
    body["deletedDate"] = secret.deleted_date
    body["scheduledPurgeDate"] = secret.scheduled_purge_date
    return body


# -- authentication -------------------------------------------------------------------------


def _challenge(world: World, vault: VaultState, message: str, error: str | None) -> Response:
    header = f'Bearer authorization="{world.base_url}/{vault.tenant_id}", resource="{AUDIENCE}"'
    if error:
        header += f', error="{error}"'
    response = _error(401, "Unauthorized", message)
    response.headers["WWW-Authenticate"] = header
    return response


def _authorize(world: World, request: Request) -> Response | None:
    """``None`` when the request may proceed, else the 401/403 answer."""
    vault = state(world)
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        return _challenge(world, vault, "AKV10000: Request is missing a Bearer or PoP token.", None)
    try:
        claims = tokens.verify(world, auth[7:].strip(), audience=AUDIENCE)
    except tokens.InvalidToken as exc:
        return _challenge(world, vault, f"AKV10022: Invalid token: {exc}", "invalid_token")
    if claims.get("tid") != vault.tenant_id:
        return _challenge(
            world, vault, "AKV10032: Invalid issuer: the token is for another tenant.", None
        )
    if vault.allowed_object_ids is not None and claims.get("oid") not in vault.allowed_object_ids:
        return _error(
            403,
            "Forbidden",
            "Caller is not authorized to perform action on resource. "
            f"Caller: oid={claims.get('oid')}",
            "ForbiddenByRbac",
        )
    return None


def _guard(world: World, request: Request) -> Response | None:
    denied = _authorize(world, request)
    if denied is not None:
        return denied
    if not request.query_params.get("api-version"):
        return _error(400, "BadParameter", "The 'api-version' query parameter is missing.")
    name = request.path_params.get("name")
    if name is not None and not _NAME.match(name):
        return _error(
            400,
            "BadParameter",
            "The request URI contains an invalid name: " + name,
        )
    return None


# -- handlers -------------------------------------------------------------------------------


def routes(world: World) -> list[BaseRoute]:
    """The vault's routes, mounted at ``/keyvault``."""

    async def set_secret(request: Request) -> Response:
        denied = _guard(world, request)
        if denied is not None:
            return denied
        try:
            body = await request.json()
            value = body["value"]
            if not isinstance(value, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return _error(400, "BadParameter", "Property value must be a string.")
        name: str = request.path_params["name"]
        key = name.lower()
        now = int(world.timestamp())
        with world.lock:
            vault = state(world)
            if key in vault.deleted:
                return _error(
                    409,
                    "Conflict",
                    f"Secret {name} is currently in a deleted but recoverable state, and its name "
                    "cannot be reused; in this state, the secret can only be recovered or purged.",
                    "ObjectIsDeletedButRecoverable",
                )
            secret = vault.secrets.setdefault(key, StoredSecret(name))
            version = SecretVersion(
                version=uuid.uuid4().hex,
                value=value,
                content_type=body.get("contentType"),
                tags={str(k): str(v) for k, v in (body.get("tags") or {}).items()},
                created=now,
                updated=now,
            )
            secret.versions.append(version)
            return JSONResponse(_bundle(world, secret, version))

    async def get_secret(request: Request) -> Response:
        denied = _guard(world, request)
        if denied is not None:
            return denied
        name: str = request.path_params["name"]
        wanted = request.path_params.get("version") or ""
        with world.lock:
            secret = state(world).secrets.get(name.lower())
            if secret is None:
                return _not_found(name)
            if not wanted:
                return JSONResponse(_bundle(world, secret, secret.versions[-1]))
            for version in secret.versions:
                if version.version == wanted:
                    return JSONResponse(_bundle(world, secret, version))
            return _not_found(f"{name}/{wanted}")

    async def list_secrets(request: Request) -> Response:
        denied = _guard(world, request)
        if denied is not None:
            return denied
        try:
            size = min(int(request.query_params.get("maxresults") or _PAGE_MAX), _PAGE_MAX)
            start = int(request.query_params.get("$skiptoken") or 0)
        except ValueError:
            return _error(400, "BadParameter", "maxresults and $skiptoken must be integers.")
        with world.lock:
            secrets = sorted(state(world).secrets.values(), key=lambda s: s.name.lower())
            page = secrets[start : start + size]
            items = []
            for secret in page:
                latest = secret.versions[-1]
                item: dict[str, Any] = {
                    "id": f"{world.base_url}/secrets/{secret.name}",
                    "attributes": _attributes(latest),
                    "tags": dict(latest.tags),
                }
                if latest.content_type:
                    item["contentType"] = latest.content_type
                items.append(item)
        next_link = None
        if start + size < len(secrets):
            api_version = quote(request.query_params["api-version"])
            next_link = (
                f"{world.base_url}/keyvault/secrets?api-version={api_version}"
                f"&$skiptoken={start + size}&maxresults={size}"
            )
        return JSONResponse({"value": items, "nextLink": next_link})

    async def delete_secret(request: Request) -> Response:
        denied = _guard(world, request)
        if denied is not None:
            return denied
        name: str = request.path_params["name"]
        now = int(world.timestamp())
        with world.lock:
            vault = state(world)
            secret = vault.secrets.pop(name.lower(), None)
            if secret is None:
                return _not_found(name)
            secret.deleted_date = now
            secret.scheduled_purge_date = now + RECOVERABLE_DAYS * 86400
            vault.deleted[name.lower()] = secret
            return JSONResponse(_deleted_bundle(world, secret))

    async def get_deleted(request: Request) -> Response:
        denied = _guard(world, request)
        if denied is not None:
            return denied
        name: str = request.path_params["name"]
        with world.lock:
            secret = state(world).deleted.get(name.lower())
            if secret is None:
                return _error(404, "SecretNotFound", f"Deleted Secret not found: {name}")
            return JSONResponse(_deleted_bundle(world, secret))

    async def purge_deleted(request: Request) -> Response:
        denied = _guard(world, request)
        if denied is not None:
            return denied
        name: str = request.path_params["name"]
        with world.lock:
            vault = state(world)
            if name.lower() not in vault.deleted:
                return _error(404, "SecretNotFound", f"Deleted Secret not found: {name}")
            if not vault.purge_allowed:
                return _error(
                    403,
                    "Forbidden",
                    "Operation purge is not allowed on this vault (purge protection or a "
                    "missing secrets/purge permission).",
                    "ForbiddenByPolicy",
                )
            del vault.deleted[name.lower()]
        return Response(status_code=204)

    async def recover_deleted(request: Request) -> Response:
        denied = _guard(world, request)
        if denied is not None:
            return denied
        name: str = request.path_params["name"]
        with world.lock:
            vault = state(world)
            secret = vault.deleted.pop(name.lower(), None)
            if secret is None:
                return _error(404, "SecretNotFound", f"Deleted Secret not found: {name}")
            secret.deleted_date = secret.scheduled_purge_date = None
            vault.secrets[name.lower()] = secret
            return JSONResponse(_bundle(world, secret, secret.versions[-1]))

    return [
        Route("/keyvault/secrets", list_secrets, methods=["GET"]),
        Route("/keyvault/secrets/{name}", set_secret, methods=["PUT"]),
        Route("/keyvault/secrets/{name}", get_secret, methods=["GET"]),
        Route("/keyvault/secrets/{name}", delete_secret, methods=["DELETE"]),
        Route("/keyvault/secrets/{name}/{version}", get_secret, methods=["GET"]),
        Route("/keyvault/deletedsecrets/{name}", get_deleted, methods=["GET"]),
        Route("/keyvault/deletedsecrets/{name}", purge_deleted, methods=["DELETE"]),
        Route("/keyvault/deletedsecrets/{name}/recover", recover_deleted, methods=["POST"]),
    ]
