"""/api/v1/webhooks: subscriptions, their delivery monitor, and replay of dead deliveries."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, patch, post
from litestar.params import QueryParameter

from labledger.api.queries import PageLimit
from labledger.api.reading import read_items
from labledger.api.schemas.base import shaped
from labledger.api.schemas.integration import (
    DeliveryPage,
    ReplayRequest,
    ReplayResult,
    SubscriptionBody,
    SubscriptionChanged,
    SubscriptionCreated,
    SubscriptionList,
    SubscriptionStatus,
)
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
from labledger.params import BeforeCursor


class WebhooksController(Controller):
    path = "/webhooks"
    tags = ["integration"]

    @get("/", sync_to_thread=True, summary="Webhook subscriptions with queue and dead counts")
    def list(self, db: Database, principal: Principal) -> SubscriptionList:
        return read_items(db, SubscriptionList, lambda conn: list_subscriptions(conn, principal))

    @post("/", sync_to_thread=True, summary="Create a subscription (its secret is shown once)")
    def create(
        self, data: SubscriptionBody, db: Database, principal: Principal
    ) -> Response[SubscriptionCreated]:
        allowlist = Allowlist.from_settings(db.settings)
        with db.write() as conn:
            created = create_subscription(conn, principal, data, allowlist)
        return Response(shaped(created, SubscriptionCreated), status_code=201)

    @get("/{name:str}", sync_to_thread=True, summary="A subscription and its delivery monitor")
    def read(self, name: str, db: Database, principal: Principal) -> SubscriptionStatus:
        with db.read() as conn:
            status = subscription_status(conn, principal, name)
        return shaped(status, SubscriptionStatus)

    @patch("/{name:str}", sync_to_thread=True, summary="Change a subscription")
    def update(
        self, name: str, data: SubscriptionBody, db: Database, principal: Principal
    ) -> SubscriptionChanged:
        allowlist = Allowlist.from_settings(db.settings)
        with db.write() as conn:
            changed = update_subscription(conn, principal, name, data, allowlist)
        return shaped(changed, SubscriptionChanged)

    @get("/{name:str}/deliveries", sync_to_thread=True, summary="Deliveries, newest first")
    def deliveries(
        self,
        name: str,
        db: Database,
        principal: Principal,
        status: Annotated[
            str | None, QueryParameter(description="pending, delivered, dead")
        ] = None,
        before: BeforeCursor = None,
        limit: PageLimit = 50,
    ) -> DeliveryPage:
        with db.read() as conn:
            page = list_deliveries(conn, principal, name, status=status, before=before, limit=limit)
        return shaped(page, DeliveryPage)

    @post(
        "/{name:str}/deliveries/replay",
        status_code=200,
        sync_to_thread=True,
        summary='Send dead deliveries again (body {"ids": [...]}, or {} for all)',
    )
    def replay(
        self, name: str, data: ReplayRequest, db: Database, principal: Principal
    ) -> ReplayResult:
        with db.write() as conn:
            count = replay_dead(conn, principal, name, delivery_ids=data.ids)
        return ReplayResult(replayed=count)
