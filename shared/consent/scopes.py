"""Scopes each provider is asked for, and which of them each feature needs.

Microsoft (delegated): ``offline_access`` (refresh tokens), ``Calendars.ReadWrite``,
``User.Read``; room listing uses the *application* permission ``Place.Read.All`` through an
app-only token, which only admin consent grants. msal adds ``openid``, ``profile`` and
``offline_access`` itself and refuses them in the list, so they are not listed here.

Google: calendar events read/write, the Admin directory's calendar resources (room linking), and
``openid email`` to learn the account and its Workspace domain.
"""

from __future__ import annotations

MICROSOFT_DELEGATED = ("Calendars.ReadWrite", "User.Read")
MICROSOFT_REQUIRED = frozenset({"Calendars.ReadWrite", "User.Read"})
MICROSOFT_WRITE = "Calendars.ReadWrite"
MICROSOFT_ROOMS_APP_PERMISSION = "Place.Read.All"

GOOGLE_EVENTS = "https://www.googleapis.com/auth/calendar.events"
GOOGLE_ROOMS = "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly"
GOOGLE_DELEGATED = ("openid", "email", GOOGLE_EVENTS, GOOGLE_ROOMS)
GOOGLE_REQUIRED = frozenset({GOOGLE_EVENTS})
# Users connect with calendar access only; the room scope is for the admin's test flow.
GOOGLE_USER = ("openid", "email", GOOGLE_EVENTS)


def normalise(scopes: frozenset[str] | set[str]) -> frozenset[str]:
    """Graph returns scopes with or without the resource prefix; compare them without it."""
    return frozenset(s.removeprefix("https://graph.microsoft.com/") for s in scopes)
