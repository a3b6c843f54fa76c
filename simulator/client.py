"""A typed Python client for the simulator's control API, plus a browser stand-in for sign-ins.

    sim = SimulatorClient(server.base_url, server.certs.ca)
    contoso = sim.create_tenant("contoso.example")
    alice = sim.create_user(contoso["id"], "alice", is_admin=True)
    app = sim.create_app("Calendar service", client_secret="s3cret", redirect_uris=[...],
                         delegated_permissions=["Calendars.ReadWrite", "User.Read"])
    callback_url = sim.microsoft_sign_in(authorize_url, "alice@contoso.example")

``sim.graph`` and ``sim.google`` give the Graph and Google control clients of those areas
(``simulator.microsoft.graph.client.GraphControl``, ``simulator.google.client.GoogleControl``),
imported on first use. Errors of the control API raise :class:`SimulatorControlError`.
"""

from __future__ import annotations

import importlib
import ssl
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import httpx

P = "/_sim/microsoft"


class SimulatorControlError(Exception):
    """The control API refused a call (``status``, ``body``)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"simulator control API answered {status}: {body}")
        self.status = status
        self.body = body


class SignInError(Exception):
    """The simulated sign-in stopped on a page it cannot go past (an error page, a typo)."""


class _Forms(HTMLParser):
    """The ``data-sim-form`` forms of a simulator page and its error text."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, Any]] = {}
        self.errors: list[str] = []
        self._current: dict[str, Any] | None = None
        self._in_error = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and "data-sim-form" in a:
            self._current = {"action": a.get("action", ""), "fields": {}, "names": set()}
            self.forms[a["data-sim-form"]] = self._current
        elif tag in ("input", "textarea") and self._current is not None and a.get("name"):
            self._current["names"].add(a["name"])
            if a.get("type") in ("hidden", "email", None) or tag == "textarea":
                self._current["fields"][a["name"]] = a.get("value", "")
        elif "data-sim-error" in a or "error" in a.get("class", "").split():
            self._in_error = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        self._in_error = False

    def handle_data(self, data: str) -> None:
        if self._in_error and data.strip():
            self.errors.append(data.strip())


def _ssl_context(ca_file: str | Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


class SimulatorClient:
    """Control client for a running simulator at ``base_url`` whose CA is ``ca_file``."""

    def __init__(self, base_url: str, ca_file: str | Path | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._ssl = _ssl_context(ca_file)
        self._http = httpx.Client(base_url=self.base_url, verify=self._ssl, timeout=30)
        self._graph: Any = None
        self._google: Any = None

    # --- plumbing ------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SimulatorClient:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._http.request(method, path, json=body)
        if response.status_code >= 400:
            raise SimulatorControlError(response.status_code, response.text)
        return response.json()

    @property
    def graph(self) -> Any:
        """The Graph area's control client (``GraphControl``), imported on first use."""
        if self._graph is None:
            module = importlib.import_module("simulator.microsoft.graph.client")
            self._graph = module.GraphControl(self._http)
        return self._graph

    @property
    def google(self) -> Any:
        """The Google area's control client (``GoogleControl``), imported on first use."""
        if self._google is None:
            module = importlib.import_module("simulator.google.client")
            self._google = module.GoogleControl(self._http)
        return self._google

    # --- world ---------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget all simulator state."""
        self._call("POST", "/_sim/reset")

    def clock(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_sim/clock"))

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the simulated clock forward (expires tokens, subscriptions, channels)."""
        return dict(self._call("POST", "/_sim/clock", {"advance_seconds": seconds}))

    def faults(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_sim/faults"))

    def set_faults(
        self, rules: Iterable[dict[str, Any]], mailbox_concurrency_limit: int | None = None
    ) -> dict[str, Any]:
        """Replace the fault rules (each a dict of :class:`simulator.faults.FaultRule` knobs)."""
        body: dict[str, Any] = {"rules": list(rules)}
        if mailbox_concurrency_limit is not None:
            body["mailbox_concurrency_limit"] = mailbox_concurrency_limit
        return dict(self._call("PUT", "/_sim/faults", body))

    def add_fault_rule(self, **knobs: Any) -> dict[str, Any]:
        """Add one rule, e.g. ``add_fault_rule(area="graph", throttle_probability=0.2)``."""
        return dict(self._call("POST", "/_sim/faults/rules", knobs))

    def clear_faults(self) -> None:
        self._call("DELETE", "/_sim/faults")

    def stats(self) -> dict[str, Any]:
        """``{"areas": {area: {"total": n, "by_status": {"200": n, ...}}}, "total": n}``."""
        return dict(self._call("GET", "/_sim/stats"))

    def reset_stats(self) -> None:
        self._call("DELETE", "/_sim/stats")

    # --- Microsoft directory -------------------------------------------------------------------

    def create_tenant(
        self, domain: str, display_name: str | None = None, tenant_id: str | None = None
    ) -> dict[str, Any]:
        body = {"domain": domain, "display_name": display_name, "id": tenant_id}
        return dict(self._call("POST", f"{P}/tenants", body))

    def tenants(self) -> list[dict[str, Any]]:
        return list(self._call("GET", f"{P}/tenants"))

    def tenant(self, tenant: str) -> dict[str, Any]:
        """A tenant with its policy, users and service principals."""
        return dict(self._call("GET", f"{P}/tenants/{tenant}"))

    def set_tenant_policy(self, tenant: str, **settings: Any) -> dict[str, Any]:
        """Set :class:`~simulator.microsoft.directory.TenantPolicy` fields: ``user_consent``
        (allowed / low_impact_only / disabled), ``admin_consent_workflow``,
        ``conditional_access_block``, ``mfa_required``, ``guests_blocked``."""
        return dict(self._call("PATCH", f"{P}/tenants/{tenant}/policy", settings))

    def create_user(
        self,
        tenant: str,
        local_part: str | None = None,
        *,
        email: str | None = None,
        display_name: str | None = None,
        is_admin: bool = False,
        user_id: str | None = None,
        **graph: Any,
    ) -> dict[str, Any]:
        """A user; ``graph`` sets Graph properties beyond the defaults: ``mail`` (when it
        differs from the UPN), ``proxy_addresses`` (``["SMTP:primary", "smtp:alias"]``),
        ``user_type`` (Member or Guest), ``has_mailbox`` (False: no Exchange Online mailbox)."""
        body = {
            "local_part": local_part,
            "email": email,
            "display_name": display_name,
            "is_admin": is_admin,
            "id": user_id,
            **graph,
        }
        return dict(self._call("POST", f"{P}/tenants/{tenant}/users", body))

    def create_users(self, tenant: str, users: list[dict[str, Any]]) -> list[str]:
        """Many users at once (each a ``create_user`` body); their ids in order."""
        answer = self._call("POST", f"{P}/tenants/{tenant}/users/bulk", {"users": users})
        return list(answer["ids"])

    def update_user(self, tenant: str, user: str, **changes: Any) -> dict[str, Any]:
        return dict(self._call("PATCH", f"{P}/tenants/{tenant}/users/{user}", changes))

    def create_room(
        self,
        tenant: str,
        local_part: str,
        *,
        display_name: str | None = None,
        capacity: int | None = None,
        policy: str = "accept",
        building: str | None = None,
        room_id: str | None = None,
    ) -> dict[str, Any]:
        """A room mailbox; ``policy`` is accept, decline_when_busy or never_answer."""
        body = {
            "local_part": local_part,
            "display_name": display_name,
            "capacity": capacity,
            "policy": policy,
            "building": building,
            "id": room_id,
        }
        return dict(self._call("POST", f"{P}/tenants/{tenant}/rooms", body))

    def revoke_refresh_tokens(self, tenant: str, user: str, client_id: str | None = None) -> int:
        """Revoke a user's refresh tokens: all apps (password change) or one app."""
        body = {"client_id": client_id} if client_id else {}
        result = self._call("POST", f"{P}/tenants/{tenant}/users/{user}/revoke-sessions", body)
        return int(result["revoked"])

    def create_app(
        self,
        display_name: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        redirect_uris: Iterable[str] = (),
        delegated_permissions: Iterable[str] = (),
        application_permissions: Iterable[str] = (),
        home_tenant_id: str | None = None,
        publisher_tenant_id: str | None = None,
    ) -> dict[str, Any]:
        """An app registration; multi-tenant unless ``home_tenant_id`` is given."""
        body = {
            "display_name": display_name,
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uris": list(redirect_uris),
            "delegated_permissions": list(delegated_permissions),
            "application_permissions": list(application_permissions),
            "home_tenant_id": home_tenant_id,
            "publisher_tenant_id": publisher_tenant_id,
        }
        return dict(self._call("POST", f"{P}/apps", body))

    def update_app(self, client_id: str, **changes: Any) -> dict[str, Any]:
        return dict(self._call("PATCH", f"{P}/apps/{client_id}", changes))

    def add_password(
        self, client_id: str, *, lifetime_seconds: float = 180 * 86400, display_name: str = ""
    ) -> dict[str, Any]:
        """A new client secret (Graph ``addPassword``): ``keyId`` (the "Secret ID"),
        ``secretText`` (the value) and ``endDateTime``."""
        body = {"lifetime_seconds": lifetime_seconds, "display_name": display_name}
        return dict(self._call("POST", f"{P}/apps/{client_id}/addPassword", body))

    def remove_password(self, client_id: str, key_id: str) -> None:
        """Delete a client secret (Graph ``removePassword``)."""
        self._call("POST", f"{P}/apps/{client_id}/removePassword", {"keyId": key_id})

    def add_certificate(self, client_id: str, certificate_pem: str) -> dict[str, Any]:
        """Upload a certificate's public part to the app registration."""
        body = {"certificate_pem": certificate_pem}
        return dict(self._call("POST", f"{P}/apps/{client_id}/certificates", body))

    def set_mailbox_scope(
        self, tenant: str, client_id: str, users: Iterable[str] | None
    ) -> dict[str, Any]:
        """Restrict the app's app-only mailbox access to ``users`` (an application access
        policy); ``None`` lifts the restriction."""
        path = f"{P}/tenants/{tenant}/service-principals/{client_id}"
        scope = None if users is None else list(users)
        return dict(self._call("PATCH", path, {"mailbox_scope": scope}))

    def app(self, client_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"{P}/apps/{client_id}"))

    def service_principal(self, tenant: str, client_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"{P}/tenants/{tenant}/service-principals/{client_id}"))

    def set_assignment_required(
        self, tenant: str, client_id: str, required: bool = True
    ) -> dict[str, Any]:
        """Turn "Assignment required?" on or off for the app's enterprise application."""
        path = f"{P}/tenants/{tenant}/service-principals/{client_id}"
        return dict(self._call("PATCH", path, {"assignment_required": required}))

    def assign_user(self, tenant: str, client_id: str, user: str) -> dict[str, Any]:
        """Assign the user to the app (Default Access)."""
        path = f"{P}/tenants/{tenant}/service-principals/{client_id}/assignments"
        return dict(self._call("POST", path, {"user": user}))

    def unassign_user(self, tenant: str, client_id: str, user: str) -> dict[str, Any]:
        path = f"{P}/tenants/{tenant}/service-principals/{client_id}/assignments/{user}"
        return dict(self._call("DELETE", path))

    def grant_consent(
        self,
        tenant: str,
        client_id: str,
        *,
        user: str | None = None,
        scopes: Iterable[str] = (),
        app_roles: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Grant delegated ``scopes`` to ``user`` (or to everyone when None) and app roles."""
        body: dict[str, Any] = {"scopes": list(scopes), "app_roles": list(app_roles)}
        if user is not None:
            body["principal"] = user
        path = f"{P}/tenants/{tenant}/service-principals/{client_id}/grants"
        return dict(self._call("POST", path, body))

    def revoke_consent(
        self,
        tenant: str,
        client_id: str,
        *,
        user: str | None = None,
        scopes: Iterable[str] | None = None,
        app_roles: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Withdraw delegated consent (all scopes when ``scopes`` is None) and/or app roles."""
        body: dict[str, Any] = {"app_roles": list(app_roles)}
        if user is not None:
            body["principal"] = user
        if scopes is not None:
            body["scopes"] = list(scopes)
        path = f"{P}/tenants/{tenant}/service-principals/{client_id}/grants/revoke"
        return dict(self._call("POST", path, body))

    def consent_requests(self, tenant: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"{P}/tenants/{tenant}/consent-requests"))

    def approve_consent_request(self, tenant: str, request_id: str) -> dict[str, Any]:
        """Approve as an admin: tenant-wide consent for the app's permissions."""
        path = f"{P}/tenants/{tenant}/consent-requests/{request_id}/approve"
        return dict(self._call("POST", path))

    def deny_consent_request(self, tenant: str, request_id: str) -> dict[str, Any]:
        path = f"{P}/tenants/{tenant}/consent-requests/{request_id}/deny"
        return dict(self._call("POST", path))

    def identity_settings(self, **settings: int) -> dict[str, Any]:
        """``code_lifetime_seconds``, ``access_token_lifetime_seconds``,
        ``refresh_token_max_inactive_seconds`` of the simulated token service."""
        return dict(self._call("PATCH", f"{P}/identity-settings", settings))

    # --- a browser for the interactive flows --------------------------------------------------

    def microsoft_sign_in(
        self,
        authorize_url: str,
        user_email: str,
        accept: bool = True,
        consent_for_org: bool = False,
    ) -> str:
        """Sign in at an authorize or admin-consent URL as a person would, over plain HTTP.

        Types ``user_email``, then on the consent page clicks Accept (``accept``) or Cancel,
        ticking "Consent on behalf of your organization" when ``consent_for_org``; on "Need
        admin approval" it requests approval when ``accept`` and the tenant offers it, then
        returns to the app. Returns the final redirect URL (the app's callback with ``code`` or
        ``error``) without following it; for ``response_mode=form_post`` the posted fields are
        returned as the callback URL's query. Raises :class:`SignInError` on an error page.
        """
        with httpx.Client(verify=self._ssl, timeout=30, follow_redirects=False) as browser:
            response = browser.get(authorize_url)
            for _ in range(8):
                if response.is_redirect:
                    return str(response.headers["location"])
                page = _Forms()
                page.feed(response.text)
                if "form_post" in page.forms:
                    form = page.forms["form_post"]
                    return f"{form['action']}?{urlencode(form['fields'])}"
                fields, form = self._next_step(page, user_email, accept, consent_for_org)
                response = browser.post(form["action"], data=fields)
        raise SignInError("the sign-in did not finish after 8 pages")

    @staticmethod
    def _next_step(
        page: _Forms, email: str, accept: bool, consent_for_org: bool
    ) -> tuple[dict[str, str], dict[str, Any]]:
        forms = page.forms
        if "signin" in forms:
            if page.errors:
                raise SignInError(" ".join(page.errors))
            form = forms["signin"]
            return {**form["fields"], "email": email, "action": "signin"}, form
        if "consent" in forms:
            form = forms["consent"]
            fields = {**form["fields"], "action": "accept" if accept else "cancel"}
            if consent_for_org:
                if "consent_for_org" not in form["names"]:
                    raise SignInError("no 'Consent on behalf of your organization' for this user")
                fields["consent_for_org"] = "true"
            return fields, form
        if "approval" in forms:
            form = forms["approval"]
            can_request = "justification" in form["names"]
            action = "request" if accept and can_request else "return"
            return {**form["fields"], "action": action, "justification": "Needed for work"}, form
        if "request-sent" in forms:
            form = forms["request-sent"]
            return {**form["fields"], "action": "return"}, form
        raise SignInError(" ".join(page.errors) or "the page has no form to continue with")
