"""Declaring HTTP functions: one decorator registers the Azure Function and its contract.

:class:`ApiBlueprint` is an Azure Functions ``Blueprint`` whose :meth:`~ApiBlueprint.api`
decorator turns a small handler ``(ApiRequest) -> model | Reply`` into an HTTP trigger and records
a :class:`RouteSpec` (route, methods, auth, pydantic models). The same specs build the OpenAPI
document, so the contract cannot drift from the functions. Every response goes through
:func:`_dispatch`, which

* sets a correlation id (``X-Correlation-Id`` in and out) for the logs,
* authenticates the caller and checks role and ``{org}`` before reading the body,
* reads the body within the edge's limits: at most ``MAX_REQUEST_BODY_BYTES`` (413
  ``payload_too_large``), declared as JSON when not empty (415 ``unsupported_media_type``),
  valid JSON (400 ``invalid_json``) nested at most :data:`MAX_JSON_DEPTH` deep (400
  ``json_too_deep``); this holds for every route, including the raw webhook bodies,
* parses query and body into the declared models (400 ``validation_failed`` naming each field),
* runs the handler within the route's deadline when it has one (``deadline=`` names the setting:
  the webhooks, whose senders need an answer in seconds): past it the answer is 503
  ``deadline_exceeded`` (with ``Retry-After``) and the sender delivers again,
* maps :class:`~shared.errors.ServiceError` to problem+json and anything else to a bare 500.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import azure.functions as func
from pydantic import BaseModel, ValidationError

from shared.auth.callers import ADMIN, SERVICE, Caller, bearer_token, require_org, require_role
from shared.deadlines import run_within
from shared.errors import (
    BadRequest,
    DeadlineExceeded,
    PayloadTooLarge,
    ServiceError,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationFailed,
    from_library,
)
from shared.http import problem
from shared.observability.logs import correlation, new_correlation_id
from shared.services import Services, get_services

log = logging.getLogger(__name__)

AuthKind = Literal["anonymous", "user", "admin", "service"]
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Deeper JSON is refused before any model sees it: no body of this API nests more than a few
# levels, and the parser's recursion must never be what stops a request.
MAX_JSON_DEPTH = 32
_JSON_MEDIA_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json$", re.IGNORECASE)
_ROUTE_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\??\}")


@dataclass(frozen=True)
class RouteSpec:
    """The contract of one HTTP function (the OpenAPI document is built from these)."""

    name: str
    route: str
    methods: tuple[str, ...]
    auth: AuthKind
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    content_type: str = "application/json"
    # The setting (seconds) that bounds the handler, e.g. ``webhook_deadline_seconds``.
    deadline: str | None = None

    @property
    def path_params(self) -> list[str]:
        return _ROUTE_PARAM.findall(self.route)


@dataclass
class ApiRequest:
    """What a handler receives: parsed, authenticated input and the services."""

    services: Services
    caller: Caller | None
    route: dict[str, str]
    query: Any
    body: Any
    headers: Mapping[str, str]
    url: str
    correlation_id: str
    params: dict[str, str] = field(default_factory=dict)
    raw_body: bytes = b""

    def require_caller(self) -> Caller:
        if self.caller is None:
            raise Unauthenticated("a bearer token is required", code="missing_token")
        return self.caller


@dataclass
class Reply:
    """A response other than "200 with this model": another status, a redirect, HTML."""

    status: int = 200
    body: BaseModel | dict[str, Any] | list[Any] | str | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls(status=status, headers={"Location": location, "Cache-Control": "no-store"})


Handler = Callable[[ApiRequest], "BaseModel | Reply"]


class ApiBlueprint(func.Blueprint):
    """A blueprint whose HTTP functions carry their contract."""

    def __init__(self, tag: str) -> None:
        super().__init__(http_auth_level=func.AuthLevel.ANONYMOUS)  # type: ignore[no-untyped-call]
        self.tag = tag
        self.specs: list[RouteSpec] = []

    def api(
        self,
        route: str,
        *,
        name: str,
        methods: tuple[str, ...] = ("GET",),
        auth: AuthKind,
        summary: str,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        content_type: str = "application/json",
        deadline: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register ``handler`` as the HTTP function ``name`` at ``/api/<route>``."""
        spec = RouteSpec(
            name=name,
            route=route,
            methods=methods,
            auth=auth,
            summary=summary,
            tag=self.tag,
            body=body,
            query=query,
            response=response,
            status=status,
            content_type=content_type,
            deadline=deadline,
        )

        def decorator(handler: Handler) -> Handler:
            def http_function(req: func.HttpRequest) -> func.HttpResponse:
                return _dispatch(spec, handler, req)

            # The Functions worker binds parameters by name and type; with postponed annotations
            # the strings would have to be resolved, so give it the real types.
            http_function.__annotations__ = {"req": func.HttpRequest, "return": func.HttpResponse}
            http_function.__name__ = http_function.__qualname__ = name
            http_function.__doc__ = summary
            self.function_name(name)(
                self.route(route=route, methods=list(methods), auth_level=func.AuthLevel.ANONYMOUS)(
                    http_function
                )
            )
            self.specs.append(spec)
            return handler

        return decorator


def _authenticate(spec: RouteSpec, req: func.HttpRequest, services: Services) -> Caller | None:
    if spec.auth == "anonymous":
        return None
    caller = services.tokens.validate(bearer_token(req.headers))
    if spec.auth == "admin":
        require_role(caller, ADMIN)
    elif spec.auth == "service":
        require_role(caller, SERVICE)
    org = req.route_params.get("org")
    if org is not None:
        require_org(caller, org)
    return caller


def _field_errors(exc: ValidationError, where: str) -> list[dict[str, str]]:
    return [
        {
            "field": ".".join([where, *(str(part) for part in error["loc"])]),
            "message": error["msg"],
        }
        for error in exc.errors()
    ]


def _parse_query(spec: RouteSpec, req: func.HttpRequest) -> Any:
    if spec.query is None:
        return None
    try:
        return spec.query.model_validate(dict(req.params))
    except ValidationError as exc:
        raise ValidationFailed(_field_errors(exc, "query")) from exc


def _depth(value: Any) -> int:
    """How deeply ``value`` nests arrays and objects (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children)
    return deepest


def _too_deep() -> BadRequest:
    return BadRequest(
        f"the body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep",
        code="json_too_deep",
        limit=MAX_JSON_DEPTH,
    )


def read_json_body(req: func.HttpRequest, max_bytes: int) -> tuple[bytes, Any]:
    """The raw body and its parsed JSON (``None`` when empty), within the edge's limits."""
    declared = req.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"the body is larger than {max_bytes} bytes", limit=max_bytes)
    raw = req.get_body() or b""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"the body is larger than {max_bytes} bytes", limit=max_bytes)
    if not raw.strip():
        return raw, None
    media_type = req.headers.get("content-type", "").split(";", 1)[0].strip()
    if not _JSON_MEDIA_TYPE.match(media_type):
        raise UnsupportedMediaType(
            f"send the body as application/json, not {media_type or 'without a Content-Type'}"
        )
    try:
        data = json.loads(raw)
    except RecursionError as exc:
        raise _too_deep() from exc
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", code="invalid_json") from exc
    if _depth(data) > MAX_JSON_DEPTH:
        raise _too_deep()
    return raw, data


def _parse_body(spec: RouteSpec, data: Any) -> Any:
    if spec.body is None:
        return None
    if data is None:
        # An empty body is fine when every field has a default (e.g. {"confirm": false}).
        try:
            return spec.body.model_validate({})
        except ValidationError as exc:
            raise ValidationFailed(
                [{"field": "body", "message": "a JSON body is required"}]
            ) from exc
    try:
        return spec.body.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(_field_errors(exc, "body")) from exc


def _encode(value: Any) -> bytes:
    if isinstance(value, BaseModel):
        return value.model_dump_json(by_alias=True, exclude_none=True).encode()
    return json.dumps(value, default=str).encode()


def _to_response(spec: RouteSpec, result: BaseModel | Reply) -> func.HttpResponse:
    reply = result if isinstance(result, Reply) else Reply(status=spec.status, body=result)
    headers = dict(reply.headers)
    if reply.body is None:
        payload = b""
    elif isinstance(reply.body, bytes | str):
        payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
        headers.setdefault("Content-Type", reply.content_type or spec.content_type)
    else:
        payload = _encode(reply.body)
        headers.setdefault("Content-Type", reply.content_type or "application/json")
    return func.HttpResponse(body=payload, status_code=reply.status, headers=headers)


def _dispatch(spec: RouteSpec, handler: Handler, req: func.HttpRequest) -> func.HttpResponse:
    given = req.headers.get("x-correlation-id", "")
    with correlation(given if _CORRELATION_ID.match(given) else new_correlation_id()) as cid:
        try:
            services = get_services()
            caller = _authenticate(spec, req, services)
            raw, data = read_json_body(req, services.settings.max_request_body_bytes)
            request = ApiRequest(
                services=services,
                caller=caller,
                route=dict(req.route_params),
                query=_parse_query(spec, req),
                body=_parse_body(spec, data),
                headers=req.headers,
                url=req.url,
                correlation_id=cid,
                params=dict(req.params),
                raw_body=raw,
            )
            if spec.deadline is None:
                response = _to_response(spec, handler(request))
            else:
                seconds = float(getattr(services.settings, spec.deadline))
                response = run_within(
                    seconds, lambda: _to_response(spec, handler(request)), spec.name
                )
        except DeadlineExceeded as exc:
            log.warning("%s answered 503: %s", spec.name, exc.detail)
            response = problem.from_error(exc, cid)
            response.headers["Retry-After"] = "1"
        except ServiceError as exc:
            if exc.status >= 500:
                log.error("%s failed: %s (%s)", spec.name, exc.code, exc.detail)
            else:
                log.info("%s refused: %s %s", spec.name, exc.status, exc.code)
            response = problem.from_error(exc, cid)
        except Exception as exc:
            mapped = from_library(exc)
            if mapped is None:
                log.exception("%s failed with an unexpected error", spec.name)
                response = problem.internal_error(cid)
            else:
                # A library's outage that escaped its adapter: report it as the outage it is.
                log.error("%s failed: %s (%s)", spec.name, mapped.code, mapped.detail)
                response = problem.from_error(mapped, cid)
        response.headers["X-Correlation-Id"] = cid
        return response
