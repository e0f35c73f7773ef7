"""/api/v1/webhooks: subscriptions, their delivery monitor, and replay of dead deliveries."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Response, get, patch, post
from litestar.params import QueryParameter

from labledger.db.engine import Database
from labledger.identity.principal import Principal
from labledger.integration.allowlist import Allowlist
from labledger.integration.subscriptions import (
    create_subscription,
    list_deliveries,
    list_subscriptions,
    replay_dead,
    subscription_status,
    update_subscription,
)
from labledger.limits import INT32_MAX, RowIdValue
from labledger.params import BeforeCursor


class ReplayRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Which dead deliveries to send again: the listed ids, or all of them."""

    ids: list[RowIdValue] | None = None


class WebhooksController(Controller):
    path = "/webhooks"
    tags = ["integration"]

    @get("/", sync_to_thread=True, summary="Webhook subscriptions with queue and dead counts")
    def list(self, db: Database, principal: Principal) -> dict[str, Any]:
        with db.read() as conn:
            return {"items": list_subscriptions(conn, principal)}

    @post("/", sync_to_thread=True, summary="Create a subscription (its secret is shown once)")
    def create(
        self, data: dict[str, Any], db: Database, principal: Principal
    ) -> Response[dict[str, Any]]:
        allowlist = Allowlist.from_env()
        with db.write() as conn:
            return Response(create_subscription(conn, principal, data, allowlist), status_code=201)

    @get("/{name:str}", sync_to_thread=True, summary="A subscription and its delivery monitor")
    def read(self, name: str, db: Database, principal: Principal) -> dict[str, Any]:
        with db.read() as conn:
            return subscription_status(conn, principal, name)

    @patch("/{name:str}", sync_to_thread=True, summary="Change a subscription")
    def update(
        self, name: str, data: dict[str, Any], db: Database, principal: Principal
    ) -> dict[str, Any]:
        allowlist = Allowlist.from_env()
        with db.write() as conn:
            return update_subscription(conn, principal, name, data, allowlist)

    @get("/{name:str}/deliveries", sync_to_thread=True, summary="Deliveries, newest first")
    def deliveries(
        self,
        name: str,
        db: Database,
        principal: Principal,
        status: str | None = QueryParameter(default=None, description="pending, delivered, dead"),
        before: BeforeCursor = None,
        limit: int = QueryParameter(default=50, ge=0, le=INT32_MAX, description="1 to 500"),
    ) -> dict[str, Any]:
        with db.read() as conn:
            return list_deliveries(conn, principal, name, status=status, before=before, limit=limit)

    @post(
        "/{name:str}/deliveries/replay",
        status_code=200,
        sync_to_thread=True,
        summary='Send dead deliveries again (body {"ids": [...]}, or {} for all)',
    )
    def replay(
        self, name: str, data: ReplayRequest, db: Database, principal: Principal
    ) -> dict[str, Any]:
        with db.write() as conn:
            count = replay_dead(conn, principal, name, delivery_ids=data.ids)
        return {"replayed": count}
