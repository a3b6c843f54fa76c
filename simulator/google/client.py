"""``GoogleControl``: the Python side of the Google control routes, plus the consent-page driver.

``SimulatorClient.google`` is a :class:`GoogleControl` over an ``httpx.Client`` whose
``base_url`` is the simulator and which trusts the simulator CA. Every method raises
``httpx.HTTPStatusError`` when the simulator refuses the request.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

PREFIX = "/_sim/google"


class GoogleSignInBlocked(Exception):
    """Google showed an error page instead of redirecting (``error`` like ``org_internal``)."""

    def __init__(self, status: int, error: str, page: str):
        super().__init__(f"Error {status}: {error}")
        self.status = status
        self.error = error
        self.page = page


class GoogleControl:
    """Set up a Workspace world and act in it as its people and admins."""

    def __init__(self, http: httpx.Client):
        self.http = http

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        """One control request; the decoded JSON answer (``None`` for 204)."""
        response = self.http.request(method, PREFIX + path, json=body)
        response.raise_for_status()
        return response.json() if response.status_code != 204 else None

    def _obj(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        return dict(self._call(method, path, body))

    # --- directory and policy ---------------------------------------------------------------
    def add_domain(
        self, domain: str, name: str | None = None, customer_id: str | None = None
    ) -> dict[str, Any]:
        """A Workspace customer; returns ``{domain, customer_id, name}``."""
        return self._obj(
            "POST", "/domains", {"domain": domain, "name": name, "customer_id": customer_id}
        )

    def add_user(
        self,
        email: str,
        name: str | None = None,
        is_admin: bool = False,
        *,
        aliases: list[str] | None = None,
        suspended: bool = False,
    ) -> dict[str, Any]:
        """A user of the domain of ``email`` (created first with :meth:`add_domain`); returns
        ``{id, email, name, is_admin, aliases, suspended}`` (``id``: Google's immutable user id).
        A taken address (primary or alias of another user) answers 409."""
        domain = email.rsplit("@", 1)[1]
        return self._obj(
            "POST",
            f"/domains/{domain}/users",
            {
                "email": email,
                "name": name,
                "is_admin": is_admin,
                "aliases": aliases or [],
                "suspended": suspended,
            },
        )

    def add_users(self, domain: str, users: list[dict[str, Any]]) -> int:
        """Many users at once (each ``{email, name?, aliases?, suspended?, is_admin?}``)."""
        return int(self._call("POST", f"/domains/{domain}/users:bulk", {"users": users})["count"])

    def update_user(self, email: str, **changes: Any) -> dict[str, Any]:
        """Change ``suspended``, ``aliases``, ``is_admin`` or ``name`` of a live user."""
        domain = email.rsplit("@", 1)[1]
        return self._obj("PATCH", f"/domains/{domain}/users/{email}", changes)

    def suspend_user(self, email: str, suspended: bool = True) -> dict[str, Any]:
        return self.update_user(email, suspended=suspended)

    def delete_user(self, email: str) -> None:
        """Delete the account (it leaves the directory; token requests for it then fail)."""
        domain = email.rsplit("@", 1)[1]
        self._call("DELETE", f"/domains/{domain}/users/{email}")

    def add_room(
        self,
        email: str,
        name: str,
        *,
        capacity: int | None = None,
        building_id: str | None = None,
        floor_name: str | None = None,
        policy: str = "accept",
    ) -> dict[str, Any]:
        """A calendar resource; ``policy``: accept, decline_when_busy or never_answer."""
        domain = email.rsplit("@", 1)[1]
        return self._obj(
            "POST",
            f"/domains/{domain}/rooms",
            {
                "email": email,
                "name": name,
                "capacity": capacity,
                "building_id": building_id,
                "floor_name": floor_name,
                "policy": policy,
            },
        )

    def set_policy(self, domain: str, **policy: Any) -> dict[str, Any]:
        """Any of ``app_trust`` ({client_id: trusted|limited|blocked|unconfigured}),
        ``block_unconfigured_apps``, ``context_aware_block``, ``block_response`` (redirect|page)."""
        return self._obj("PATCH", f"/domains/{domain}/policy", policy)

    def set_app_trust(self, domain: str, client_id: str, trust: str) -> dict[str, Any]:
        return self.set_policy(domain, app_trust={client_id: trust})

    def grant_delegation(self, domain: str, client_id: str, scopes: list[str]) -> None:
        """Domain-wide delegation of ``scopes`` to a service account's client id."""
        self._call("PUT", f"/domains/{domain}/delegation/{client_id}", {"scopes": scopes})

    def revoke_delegation(self, domain: str, client_id: str) -> None:
        self._call("DELETE", f"/domains/{domain}/delegation/{client_id}")

    def add_client(
        self,
        name: str,
        redirect_uris: list[str],
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        internal_domain: str | None = None,
    ) -> dict[str, Any]:
        """An OAuth web client; returns ids, secret, ``auth_uri`` and ``token_uri``."""
        return self._obj(
            "POST",
            "/clients",
            {
                "name": name,
                "redirect_uris": redirect_uris,
                "client_id": client_id,
                "client_secret": client_secret,
                "internal_domain": internal_domain,
            },
        )

    def add_service_account(self, name: str, project_id: str = "sim-project") -> dict[str, Any]:
        """A service account; returns its JSON key file content (for
        ``service_account.Credentials.from_service_account_info``)."""
        return self._obj("POST", "/service-accounts", {"name": name, "project_id": project_id})

    def add_service_account_key(self, client_email: str) -> dict[str, Any]:
        """Another key of an existing service account (same client id); its key file."""
        return self._obj("POST", f"/service-accounts/{client_email}/keys")

    def delete_service_account_key(self, client_email: str, key_id: str) -> None:
        """Delete a key: assertions signed with it are refused from then on."""
        self._call("DELETE", f"/service-accounts/{client_email}/keys/{key_id}")

    def revoke_user_tokens(self, email: str) -> int:
        """Revoke every grant (refresh and access tokens) of the user; returns how many."""
        return int(self._call("POST", f"/users/{email}/revoke-tokens")["revoked"])

    # --- acting in Google Calendar ----------------------------------------------------------
    def events(self, calendar_id: str) -> list[dict[str, Any]]:
        """Every event of the calendar as the API renders it (cancelled ones too)."""
        return list(self._call("GET", f"/calendars/{calendar_id}/events")["items"])

    def create_event(self, calendar_id: str, event: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("POST", f"/calendars/{calendar_id}/events", event))

    def update_event(
        self, calendar_id: str, event_id: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        return dict(self._call("PATCH", f"/calendars/{calendar_id}/events/{event_id}", patch))

    def move_event(self, calendar_id: str, event_id: str, start: str, end: str) -> dict[str, Any]:
        """Reschedule (RFC 3339 ``start``/``end``)."""
        return self.update_event(
            calendar_id, event_id, {"start": {"dateTime": start}, "end": {"dateTime": end}}
        )

    def delete_event(self, calendar_id: str, event_id: str) -> None:
        self._call("DELETE", f"/calendars/{calendar_id}/events/{event_id}")

    def respond(
        self, calendar_id: str, event_id: str, attendee: str, response: str
    ) -> dict[str, Any]:
        """An attendee answers (accepted, declined, tentative, needsAction)."""
        return dict(
            self._call(
                "POST",
                f"/calendars/{calendar_id}/events/{event_id}/respond",
                {"attendee": attendee, "response": response},
            )
        )

    def decline(self, calendar_id: str, event_id: str, attendee: str) -> dict[str, Any]:
        return self.respond(calendar_id, event_id, attendee, "declined")

    def invalidate_sync_tokens(self, calendar_id: str) -> None:
        """Every sync token of the calendar will answer 410 ``fullSyncRequired``."""
        self._call("POST", f"/calendars/{calendar_id}/invalidate-sync-tokens")

    def set_time_zone(self, calendar_id: str, time_zone: str) -> dict[str, Any]:
        """The calendar's own zone (IANA): all-day dates are read in it."""
        return self._obj("PUT", f"/calendars/{calendar_id}/time-zone", {"timeZone": time_zone})

    def delete_calendar(self, calendar_id: str) -> None:
        """Drop the calendar; its channels receive ``not_exists`` and close."""
        self._call("DELETE", f"/calendars/{calendar_id}")

    # --- push ---------------------------------------------------------------------------------
    def push_log(self) -> dict[str, Any]:
        """``{"deliveries": [{address, headers, status, attempts, error?}], "pending": n}``."""
        return dict(self._call("GET", "/push-log"))

    def channels(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/channels")["items"])

    def wait_for_deliveries(
        self, count: int, channel_id: str | None = None, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Poll the push log until ``count`` deliveries (of one channel) are done."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.push_log()
            found = [
                d
                for d in log["deliveries"]
                if channel_id is None or d["headers"]["X-Goog-Channel-ID"] == channel_id
            ]
            if len(found) >= count and log["pending"] == 0:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(found)} of {count} push deliveries after {timeout}s")
            time.sleep(0.02)

    # --- the consent page ------------------------------------------------------------------------
    def sign_in(
        self,
        authorize_url: str,
        user_email: str,
        accept: bool = True,
        scopes: list[str] | None = None,
    ) -> str:
        """Play the person on Google's consent page; return the redirect URL (not followed).

        ``scopes``: the scopes left ticked (granular consent); ``None`` keeps all requested.
        Raises :class:`GoogleSignInBlocked` when Google shows an error page instead.
        """
        page = self.http.get(authorize_url)
        if page.status_code != 200:
            raise GoogleSignInBlocked(
                page.status_code, page.headers.get("x-sim-google-error", "unknown"), page.text
            )
        match = re.search(r'name="request_id" value="([^"]+)"', page.text)
        if match is None:
            raise GoogleSignInBlocked(page.status_code, "unknown", page.text)
        requested = dict(parse_qsl(urlsplit(authorize_url).query)).get("scope", "").split()
        form: list[tuple[str, str | int | float | bool | None]] = [
            ("request_id", match.group(1)),
            ("email", user_email),
            ("action", "allow" if accept else "cancel"),
        ]
        form += [("scope", s) for s in (requested if scopes is None else scopes)]
        answer = self.http.post(
            authorize_url.split("?", 1)[0],
            content=str(httpx.QueryParams(form)).encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        if answer.status_code != 302:
            raise GoogleSignInBlocked(
                answer.status_code, answer.headers.get("x-sim-google-error", "unknown"), answer.text
            )
        return str(answer.headers["location"])

    google_sign_in = sign_in

    def consent_tokens(
        self,
        client: dict[str, Any],
        user_email: str,
        scopes: list[str],
        redirect_uri: str | None = None,
    ) -> dict[str, Any]:
        """Shortcut for tests: consent as ``user_email`` and exchange the code.

        ``client`` is what :meth:`add_client` returned. Returns Google's token response
        (``access_token``, ``refresh_token``, ``scope``, ``expires_in``, ``id_token`` if openid).
        """
        redirect = redirect_uri or client["redirect_uris"][0]
        query = httpx.QueryParams(
            {
                "client_id": client["client_id"],
                "redirect_uri": redirect,
                "response_type": "code",
                "scope": " ".join(scopes),
                "access_type": "offline",
            }
        )
        callback = self.sign_in(f"{client['auth_uri']}?{query}", user_email)
        params = dict(parse_qsl(urlsplit(callback).query))
        if "code" not in params:
            raise GoogleSignInBlocked(302, params.get("error", "unknown"), callback)
        response = self.http.post(
            client["token_uri"],
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": redirect,
                "client_id": client["client_id"],
                "client_secret": client["client_secret"],
            },
        )
        response.raise_for_status()
        return dict(response.json())
