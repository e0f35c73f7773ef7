"""The periodic review and the access review in the browser, with their downloads.

Thin over ``reviews``: the same services and documents as ``labledger report``.
The periodic review is for people with ``read_audit`` (the quality unit); the
access review for people with ``manage_users`` or ``read_audit``, checked on
every handler. "Keep as a record" stores the access review as a record of the
shipped ``reviews`` bundle under the person's name; a person with the role
that may sign it then opens the record and signs "Access review" there.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from labledger.db.engine import Database
from labledger.errors import FieldError, Forbidden, ValidationFailed
from labledger.identity.principal import MANAGE_USERS, READ_AUDIT, Principal
from labledger.identity.sessions import WebSession
from labledger.metadata.types import type_model
from labledger.reviews.access import UNUSED_DAYS, AccessReview, access_review, checked_unused_days
from labledger.reviews.documents import FORMATS, MEDIA_TYPES, Review, document
from labledger.reviews.period import Period, parse_period
from labledger.reviews.periodic import periodic_review
from labledger.reviews.store import (
    REVIEW_TYPE,
    compare_with_last_signed,
    record_review,
    reviews_configured,
)
from labledger.web.account import Form
from labledger.web.admin.common import Problems, require_permission
from labledger.web.pages import page

#: ``?from=YYYY-MM-DD&to=YYYY-MM-DD``: the first and last day of the period (UTC, included).
FROM = QueryParameter(name="from", description="first day, YYYY-MM-DD")
TO = QueryParameter(name="to", description="last day, YYYY-MM-DD")


def _may_review_access(principal: Principal) -> None:
    if not (principal.has_permission(MANAGE_USERS) or principal.has_permission(READ_AUDIT)):
        raise Forbidden(
            f"The access review needs the '{MANAGE_USERS}' or the '{READ_AUDIT}' permission."
        )


def _download(review: Review, kind: str, name: str) -> Response[bytes]:
    if kind not in FORMATS:
        raise ValidationFailed(
            "The format is not valid.", [FieldError("format", "choose html, pdf or csv")]
        )
    return Response(
        document(review, kind),
        media_type=MEDIA_TYPES[kind],
        headers={"Content-Disposition": f'attachment; filename="{name}.{kind}"'},
    )


def _days(raw: str) -> int:
    try:
        return checked_unused_days(int(raw))
    except ValueError:
        raise ValidationFailed(
            "The number of days is not valid.",
            [FieldError("unused_days", "give a whole number of days")],
        ) from None


class ReviewsController(Controller):
    path = "/reviews"
    include_in_schema = False
    cache_control = CacheControlHeader(no_store=True)

    @get("/periodic", sync_to_thread=True)
    def periodic(
        self,
        session: WebSession,
        db: Database,
        first: Annotated[str, FROM] = "",
        last: Annotated[str, TO] = "",
    ) -> Template:
        """The form for a period and, once one is given, its review."""
        require_permission(session.principal, READ_AUDIT, "The periodic review")
        problems, review, period = Problems.none(), None, None
        if first or last:
            try:
                period = parse_period(first, last)
            except ValidationFailed as exc:
                problems = Problems(exc.errors)
            else:
                with db.snapshot() as conn:
                    review = periodic_review(conn, period)
        return page(
            "reviews/periodic.html",
            session,
            status_code=422 if problems else 200,
            first=first,
            last=last,
            review=review,
            period=period,
            problems=problems,
            formats=FORMATS,
        )

    @get("/periodic/download", sync_to_thread=True)
    def periodic_download(
        self,
        session: WebSession,
        db: Database,
        first: Annotated[str, FROM] = "",
        last: Annotated[str, TO] = "",
        format: str = "html",
    ) -> Response[bytes]:
        require_permission(session.principal, READ_AUDIT, "The periodic review")
        period: Period = parse_period(first, last)
        with db.snapshot() as conn:
            review = periodic_review(conn, period)
        name = f"periodic-review-{period.first_day}-{period.last_day}"
        return _download(review, format, name)

    def _access(self, db: Database, raw_days: str) -> AccessReview:
        with db.snapshot() as conn:
            review = access_review(conn, _days(raw_days))
            compare_with_last_signed(conn, review)
        return review

    @get("/access", sync_to_thread=True)
    def access(
        self, session: WebSession, db: Database, unused_days: str = str(UNUSED_DAYS)
    ) -> Template:
        _may_review_access(session.principal)
        problems, review = Problems.none(), None
        try:
            review = self._access(db, unused_days)
        except ValidationFailed as exc:
            problems = Problems(exc.errors)
        with db.read() as conn:
            configured = reviews_configured(conn)
        return page(
            "reviews/access.html",
            session,
            status_code=422 if problems else 200,
            review=review,
            unused_days=unused_days,
            problems=problems,
            formats=FORMATS,
            configured=configured,
        )

    @get("/access/download", sync_to_thread=True)
    def access_download(
        self,
        session: WebSession,
        db: Database,
        unused_days: str = str(UNUSED_DAYS),
        format: str = "html",
    ) -> Response[bytes]:
        _may_review_access(session.principal)
        review = self._access(db, unused_days)
        return _download(review, format, f"access-review-{review.made_at:%Y-%m-%d}")

    @post("/access/record", sync_to_thread=True, status_code=303)
    def keep(self, data: Form, session: WebSession, db: Database) -> Response[Any]:
        """Keep the review as it is now as a record; open it where the person may read it."""
        _may_review_access(session.principal)
        review = self._access(db, data.get("unused_days", str(UNUSED_DAYS)))
        with db.write() as conn:
            record_id, number = record_review(
                conn, session.principal, review, max_bytes=db.settings.attachment_max_bytes
            )
        with db.read() as conn:
            readable = type_model(conn, REVIEW_TYPE).allows(session.principal, "read")
        if readable:
            return Redirect(f"/records/{REVIEW_TYPE}/{record_id}", status_code=303)
        return page("reviews/recorded.html", session, number=number)


CONTROLLERS = [ReviewsController]
