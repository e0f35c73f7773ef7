"""What the admin pages share: who may see them, reading forms, keeping drafts faithful,
showing errors.

The designers keep the definition being edited in the page and rebuild it
from the posted form on every request. The helpers here make that rebuild
faithful: an option the admin did not touch stays exactly as it was written,
so opening a published definition and publishing it again changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import urlencode

from litestar import Request
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template

from labledger.errors import FieldError, Forbidden, PayloadTooLarge, ValidationFailed
from labledger.identity.principal import Principal
from labledger.identity.sessions import WebSession
from labledger.limits import check_json_depth
from labledger.web.deps import provide_web_session
from labledger.web.pages import page

#: What previewing or applying an upload reports (a bundle's import, a file's).
ReportT = TypeVar("ReportT")
#: A URL-encoded form; a name sent several times (a checkbox group) arrives as a list.
FormBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def require_permission(principal: Principal, permission: str, what: str) -> None:
    """Refuse a page to a user without ``permission``, even when it only reads.

    The services check permissions on every change; pages that only show
    configuration (a designer, the user list) check here so they never show
    it to someone who could not act on it.
    """
    if not principal.has_permission(permission):
        raise Forbidden(f"{what} needs the '{permission}' permission.")


def pages_needing(permission: str, what: str) -> dict[str, Provide]:
    """The dependencies of a controller whose every page needs ``permission``, even to
    read: the ``session`` each of its handlers takes is refused (403) to anyone
    without it, so no handler has to repeat the check (see ``require_permission``)."""

    def session_with_permission(request: Request[Any, Any, Any]) -> WebSession:
        session = provide_web_session(request)
        require_permission(session.principal, permission, what)
        return session

    return {"session": Provide(session_with_permission, sync_to_thread=True)}


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return bool(request.headers.get("hx-request"))


def render(
    request: Request[Any, Any, Any],
    session: WebSession,
    full: str,
    fragment: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """The fragment for htmx, the full page (which includes it) otherwise."""
    template = fragment if is_htmx(request) else full
    return page(template, session, status_code=status_code, **context)


class Form:
    """Read access to a posted form (blank inputs arrive as absent)."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw

    def text(self, name: str) -> str:
        """A single-line input, trimmed ('' when blank or absent)."""
        return self.raw(name).strip()

    def raw(self, name: str) -> str:
        """A value as typed; a text area keeps its line breaks (sent as CRLF, kept as LF)."""
        value = self._raw.get(name, "")
        if isinstance(value, list):
            value = value[-1] if value else ""
        return str(value).replace("\r\n", "\n")

    def values(self, name: str) -> list[str]:
        """Every value of a checkbox group or multiple select, in form order."""
        value = self._raw.get(name, [])
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]

    def checked(self, name: str) -> bool:
        return bool(self.text(name))

    def has(self, name: str) -> bool:
        """Whether the input was on the page at all (a blank one is still sent)."""
        return name in self._raw

    def keys(self, name: str, kept: Any = ()) -> list[str]:
        """Keys ticked in a checkbox group, or typed comma-separated where the page had
        nothing to offer. Keys ``kept`` already held keep their order, so a list nobody
        touched comes back as written; newly ticked ones follow in the page's order."""
        chosen = [key for value in self.values(name) for key in parse_list(value) or []]
        old = [key for key in kept if key in chosen] if isinstance(kept, list) else []
        return old + [key for key in dict.fromkeys(chosen) if key not in old]

    def index(self, name: str) -> int | None:
        text = self.text(name)
        return int(text) if text.isdigit() else None

    def count(self, name: str) -> int:
        return self.index(name) or 0

    def json(self, name: str) -> Any:
        """A hidden JSON input written by the server; a broken one is a bad request."""
        check_json_depth(self.raw(name), name)
        try:
            return json.loads(self.raw(name) or "null")
        except ValueError:
            raise ValidationFailed(
                "The page sent a damaged draft; reload the page.",
                [FieldError(name, "is not valid JSON")],
            ) from None


def put(target: dict[str, Any], key: str, value: Any, default: Any = None) -> None:
    """Set ``target[key]``, or drop it when ``value`` is empty or the default.

    An empty or default value that the definition already spells out
    (``"required": false``, ``"permissions": {}``) is kept as written, so an
    untouched definition comes back byte for byte.
    """
    if value is None or value == default:
        if key in target and (target[key] == value or target[key] == default):
            return
        target.pop(key, None)
    else:
        target[key] = value


def parse_number(raw: str) -> int | float | str | None:
    """A number typed in a form: whole numbers stay whole, anything else as typed.

    Text that is not a number is passed on unchanged, so the service that
    validates the definition says what is wrong with it.
    """
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        number = float(raw)
    except ValueError:
        return raw
    return number if math.isfinite(number) else raw


def parse_list(raw: str) -> list[str] | None:
    """A comma-separated list (``a, b``) or None when blank."""
    items = [item.strip() for item in raw.split(",") if item.strip()]
    return items or None


def fresh_key(base: str, taken: Collection[Any]) -> str:
    """``base``, or ``base_2``, ``base_3``... whichever is not taken yet."""
    candidate, suffix = base, 2
    while candidate in taken:
        candidate, suffix = f"{base}_{suffix}", suffix + 1
    return candidate


def slug(text: str, fallback: str) -> str:
    """A key from a label: ``Lot number`` -> ``lot_number``."""
    cleaned = "".join(c if c.isascii() and c.isalnum() else "_" for c in text.lower())
    key = "_".join(part for part in cleaned.split("_") if part)[:40]
    if not key:
        return fallback
    return key if key[0].isalpha() else f"f_{key}"[:40]


@dataclass
class Problems:
    """Errors from a service, indexed by JSON path for showing next to inputs."""

    errors: list[FieldError]

    @classmethod
    def none(cls) -> Problems:
        return cls([])

    def at(self, path: str) -> list[str]:
        """Messages about exactly ``path`` (``numbering``, ``fields[3].expression``)."""
        return [e.message for e in self.errors if e.field == path]

    def under(self, path: str) -> list[FieldError]:
        """Errors about ``path`` or anything inside it."""
        return [
            e
            for e in self.errors
            if e.field == path or e.field.startswith((f"{path}.", f"{path}["))
        ]

    def __bool__(self) -> bool:
        return bool(self.errors)


def compact_json(value: Any, width: int = 300) -> str:
    """A stored value as one line of JSON, cut when very long (for tables)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def form_page(
    template: str,
    session: WebSession,
    status_code: int,
    context: dict[str, Any],
    **shown: Any,
) -> Template:
    """A page with a form: what the page always shows, then what the handler passed in
    ``context`` (which may replace a default of ``shown``); no problems unless it says so."""
    return page(
        template,
        session,
        status_code=status_code,
        **{"problems": Problems.none(), **shown, **context},
    )


def page_links(
    path: str, filters: dict[str, str], next_cursor: Any, before: Any
) -> dict[str, str | None]:
    """The links of one page of a newest-first list: to the next (older) page, and
    back to the first one (only from a later page)."""
    return {
        "next_url": f"{path}?{urlencode({**filters, 'before': next_cursor})}"
        if next_cursor
        else None,
        "first_url": f"{path}?{urlencode(filters)}" if before else None,
    }


async def read_upload(form: Mapping[str, Any], name: str) -> tuple[bytes, str]:
    """The content and file name of the file posted as ``name`` (empty: none chosen)."""
    upload = form.get(name)
    if not isinstance(upload, UploadFile):
        return b"", ""
    return await upload.read(), upload.filename


def carried(raw: bytes) -> str:
    """An uploaded file as a hidden input between preview and apply: base64, so not
    one byte changes on the way back."""
    return base64.b64encode(raw).decode("ascii")


@dataclass
class UploadOutcome(Generic[ReportT]):
    """A preview or apply of an uploaded file as its page shows it: the report, or
    why there is none (status, problems, detail), and the file carried on."""

    raw: bytes
    filename: str
    report: ReportT | None = None
    status: int = 200
    problems: Problems = field(default_factory=Problems.none)
    detail: str | None = None

    def refused(self, exc: ValidationFailed | PayloadTooLarge) -> None:
        """The file was refused: its problems shown by the inputs, nothing imported."""
        self.problems, self.status, self.detail = Problems(exc.errors), exc.status, exc.detail

    def shown(self, carried_as: str) -> dict[str, Any]:
        """The page's context: the outcome, and the file as the hidden input ``carried_as``."""
        return {
            "status_code": self.status,
            "report": self.report,
            "problems": self.problems,
            "detail": self.detail,
            carried_as: carried(self.raw),
            "filename": self.filename,
        }


def uncarried(text: str, field: str) -> bytes:
    """The file a preview page sent back to be applied (``field`` names the upload)."""
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValidationFailed(
            f"The page sent a damaged {field}; upload it again.",
            [FieldError(field, f"is not the {field} that was previewed")],
        ) from None
