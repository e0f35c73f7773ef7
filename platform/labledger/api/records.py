"""/api/v1/records: create, read, update and list records of any published type."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import HeaderParameter

from labledger.api.reading import read_items
from labledger.api.schemas.base import shaped
from labledger.api.schemas.records import RecordHistory, RecordPage, RecordView, RecordWrite
from labledger.audit.queries import record_history
from labledger.db.engine import Database
from labledger.errors import FieldError, PreconditionRequired, ValidationFailed
from labledger.identity.principal import Principal
from labledger.metadata.types import readable_model
from labledger.params import RowId
from labledger.records.query import ListQuery, list_records
from labledger.records.service import create_record, get_record, update_record
from labledger.settings import Settings


def parse_if_match(value: str | None) -> int:
    """``If-Match: 3`` or ``If-Match: "3"`` (the record's ETag) -> 3."""
    if value is None or not value.strip():
        raise PreconditionRequired(
            "Send the version you last read as 'If-Match: <version>' so that nobody's "
            "change is overwritten."
        )
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise ValidationFailed(
            "Bad If-Match header.", [FieldError("If-Match", "must be the record version number")]
        )
    return int(text)


def with_etag(record: object, status_code: int = 200) -> Response[RecordView]:
    """The record as its struct, with its version as the ETag."""
    view = shaped(record, RecordView)
    return Response(view, status_code=status_code, headers={"ETag": f'"{view.version}"'})


class RecordsController(Controller):
    path = "/records/{type_key:str}"
    tags = ["records"]

    @get("/", sync_to_thread=True, summary="List records (filters: field=, field__gte= ...)")
    def list(
        self,
        type_key: str,
        request: Request[Any, Any, Any],
        db: Database,
        principal: Principal,
        settings: Settings,
    ) -> RecordPage:
        query = ListQuery.from_params(dict(request.query_params))
        with db.read() as conn:
            model = readable_model(conn, principal, type_key)
            page = list_records(
                conn, model, query, actor=principal, max_limit=settings.max_page_size
            )
        return shaped(page, RecordPage)

    @post("/", sync_to_thread=True, summary="Create a record")
    def create(
        self,
        type_key: str,
        data: RecordWrite,
        db: Database,
        principal: Principal,
    ) -> Response[RecordView]:
        with db.write() as conn:
            view = create_record(
                conn,
                principal,
                type_key,
                data.data,
                reason=data.reason,
            )
        return with_etag(view, 201)

    @get("/{record_id:int}", sync_to_thread=True, summary="Read a record")
    def read(
        self, type_key: str, record_id: RowId, db: Database, principal: Principal
    ) -> Response[RecordView]:
        with db.read() as conn:
            return with_etag(get_record(conn, principal, type_key, record_id))

    @patch("/{record_id:int}", sync_to_thread=True, summary="Update fields (needs If-Match)")
    def update(
        self,
        type_key: str,
        record_id: RowId,
        data: RecordWrite,
        db: Database,
        principal: Principal,
        if_match: Annotated[str | None, HeaderParameter(name="If-Match")] = None,
    ) -> Response[RecordView]:
        expected = parse_if_match(if_match)
        with db.write() as conn:
            view = update_record(
                conn,
                principal,
                type_key,
                record_id,
                data.data,
                expected_version=expected,
                reason=data.reason,
            )
        return with_etag(view)

    @get("/{record_id:int}/audit", sync_to_thread=True, summary="Audit trail of a record")
    def audit(
        self, type_key: str, record_id: RowId, db: Database, principal: Principal
    ) -> RecordHistory:
        return read_items(
            db, RecordHistory, lambda conn: record_history(conn, principal, type_key, record_id)
        )
