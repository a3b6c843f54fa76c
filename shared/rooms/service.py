"""Room operations for admins: list the suite's rooms live, pair and unpair the host app's rooms.

Listing the suite's rooms (to auto-complete room email addresses) uses the enabled workspace
integration: Microsoft with an app-only token for the tenant (``Place.Read.All`` is an application
permission), Google with the enabling admin's grant (the Admin directory resource scope). A pairing
is kept by email address; the room's own booking rules cannot be read, so an invited room stays
*pending* until it answers (handled by the sync engine).
"""

from __future__ import annotations

from contextlib import closing

from shared.consent.context import ConsentContext
from shared.errors import BadRequest
from shared.providers.base import RoomInfo
from shared.rooms.pairings import Room


class RoomService:
    def __init__(self, ctx: ConsentContext) -> None:
        self.ctx = ctx

    def directory(self, org: str) -> list[RoomInfo]:
        ctx = self.ctx
        integration = ctx.active_workspace(org)
        tokens = ctx.admin_grant_tokens(integration)
        with closing(
            ctx.kit.room_directory(
                integration.provider, tenant=integration.tenant or "", tokens=tokens
            )
        ) as client:
            return sorted(client.rooms(), key=lambda r: r.email.lower())

    def rooms(self, org: str) -> list[Room]:
        return self.ctx.rooms.for_org(org)

    def put(self, org: str, room_id: str, *, name: str, email: str, pair: bool) -> Room:
        ctx = self.ctx
        now = ctx.clock.now()
        integration_id = None
        if pair:
            integration_id = ctx.active_workspace(org).id
        existing = ctx.rooms.get(org, room_id)
        if pair and existing is not None and existing.integration_id == integration_id:
            paired_at = existing.paired_at
        else:
            paired_at = now if pair else None
        if "@" not in email:
            raise BadRequest("a room needs its mailbox email address", code="invalid_room_email")
        room = Room(
            org=org,
            id=room_id,
            name=name,
            email=email.strip().lower(),
            updated_at=now,
            integration_id=integration_id,
            paired_at=paired_at,
        )
        return ctx.rooms.put(room)

    def delete(self, org: str, room_id: str) -> bool:
        return self.ctx.rooms.delete(org, room_id)
