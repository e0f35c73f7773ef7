"""The periodic review and the access review: each fact appears once the events that
produce it have happened, bounded where a period holds many events, on both databases."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from labledger import cli
from labledger.audit.trail import AuditEntry, append
from labledger.changes.service import approve
from labledger.db.tables import api_token, app_user, attachment, audit_event, record
from labledger.db.types import utc_now
from labledger.identity.principal import SYSTEM
from labledger.identity.token_cache import LastUseThrottle
from labledger.identity.tokens import create_token, note_token_use, revoke_token, token_digest
from labledger.identity.users import (
    change_own_password,
    check_password,
    create_user,
    reset_password,
    set_active,
    set_roles,
)
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.reviews import periodic as periodic_module
from labledger.reviews.access import access_review
from labledger.reviews.period import parse_period
from labledger.reviews.periodic import periodic_review
from labledger.reviews.tables import Table
from labledger.workflows.engine import run_transition
from labledger.workflows.signatures import SIGN_ACTION
from labledger.workflows.signing import SignatureInput
from tests.conftest import TEST_PASSWORD
from tests.definitions import database_url, reconfigure
from tests.tampering import bypassing_triggers
from tests.test_seed_qms import load_seeds
from tests.web.changes_helpers import controlled_lab, proposed, stored, with_new_field
from tests.web.helpers import sign_in
from tests.web.record_fixtures import create


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _table(tables: list[Table], key: str) -> Table:
    return next(t for t in tables if t.key == key)


def _periodic(db, first: str | None = None, last: str | None = None) -> dict[str, Table]:
    with db.read() as conn:
        review = periodic_review(conn, parse_period(first or _today(), last or _today()))
    return {t.key: t for t in review.tables}


def _cli(*argv: str, capsys) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.requirement("REQ-REV-01")
def test_the_periodic_review_states_changes_approvals_refusals_lockouts_and_grants(
    db, make_person, monkeypatch
):
    reconfigure(monkeypatch, db, lockout_threshold=2)
    lab = controlled_lab(db, make_person)
    before = _periodic(db)
    assert before["refusals"].rows == [] and before["verifications"].rows == []

    change_id = proposed(db, lab.author, (TYPE_KIND, "lot", with_new_field()))
    approve(
        db,
        lab.qa.principal,
        change_id,
        content_hash=stored(db, change_id).content_hash,
        credentials=SignatureInput("quentin", TEST_PASSWORD),
        session=None,
    )
    lot = create(db, lab.analyst, "lot", {"code": "L-1"})
    with pytest.raises(Exception, match="Only these roles may submit"):
        run_transition(db, lab.qa.principal, "lot", lot["id"], "submit")
    for _ in range(2):
        with db.write() as conn:
            check_password(conn, "ann", "not the password")
    with db.write() as conn:
        set_roles(conn, SYSTEM, "bo", [])

    tables = _periodic(db)
    configuration = tables["configuration"].rows
    assert ("change.propose", "ada") in {(r[2], r[1]) for r in configuration}
    approval = next(r for r in configuration if r[2] == "change.approve")
    assert approval[1] == "quentin" and approval[3] == f"CR-{change_id}"
    assert 'meaning "Configuration approval", signed by Quentin Tester' in approval[4]
    refusals = {(r[1], r[2]) for r in tables["refusals"].rows}
    assert ("quentin", "record.transition_refused") in refusals
    assert ("ann", "login.failed") in refusals and ("system", "user.lock") in refusals
    refused_step = next(r for r in tables["refusals"].rows if r[2] == "record.transition_refused")
    assert refused_step[3] == "LOT-0001" and "refused for role" in refused_step[4]
    grants = [r for r in tables["accounts"].rows if r[2] == "user.roles"]
    assert grants[-1][3] == "user bo" and "roles removed: analyst" in grants[-1][4]
    signatures = tables["signatures"].rows
    assert ("Configuration approval", "quentin", "Quentin Tester", "1") in signatures
    per_action = dict(tables["by_action"].rows)
    assert per_action["user.lock"] == "1" and per_action["login.failed"] == "2"
    by_quentin = [
        r for t in ("configuration", "refusals") for r in tables[t].rows if r[1] == "quentin"
    ]
    assert dict(tables["by_person"].rows)["quentin"] == str(len(by_quentin)) == "2"


def test_a_period_holds_only_its_own_days(db, make_person):
    make_person("ann", "analyst")
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    assert _periodic(db, yesterday, yesterday)["accounts"].total == 0
    assert _periodic(db)["accounts"].total >= 1


def test_detail_rows_are_bounded_and_the_table_says_so(db, make_person, monkeypatch):
    for name in ("ann", "bob", "cy"):
        make_person(name, "analyst")
    monkeypatch.setattr(periodic_module, "MAX_ROWS", 2)
    accounts = _periodic(db)["accounts"]
    assert len(accounts.rows) == 2 and accounts.total > 2 and accounts.truncated
    assert accounts.shown == f"the first 2 of {accounts.total} rows"


@pytest.mark.requirement("REQ-REV-01")
def test_a_failed_verification_is_kept_in_the_trail_and_stated(db, make_person, capsys):
    make_person("ann", "analyst")
    url = database_url(db)
    code, _, _ = _cli("--database", url, "audit", "verify", capsys=capsys)
    assert code == 0
    with bypassing_triggers(db, "audit_event") as conn:
        seq = conn.execute(select(audit_event.c.seq).order_by(audit_event.c.seq)).scalars().first()
        conn.execute(update(audit_event).where(audit_event.c.seq == seq).values(reason="edited"))
    code, _, err = _cli("--database", url, "audit", "verify", capsys=capsys)
    assert code == 1 and "AUDIT TRAIL NOT INTACT" in err
    rows = _periodic(db)["verifications"].rows
    assert [r[2] for r in rows] == ["audit.verify", "audit.verify"]
    assert "Audit trail intact" in rows[0][4]
    assert "AUDIT TRAIL NOT INTACT" in rows[1][4] and f"event {seq} was altered" in rows[1][4]


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        ("2026-02-30", "2026-03-01", "--from: '2026-02-30' is not a date: use YYYY-MM-DD"),
        ("2026-03-01", "2026-01-01", "--to: 2026-01-01 is before the start of the period"),
        ("yesterday", "2026-01-01", "--from: 'yesterday' is not a date"),
    ],
)
def test_bad_dates_are_refused_in_one_readable_line(db, tmp_path, capsys, first, last, message):
    out_file = tmp_path / "review.html"
    code, out, err = _cli(
        "--database",
        database_url(db),
        "report",
        "periodic",
        "--from",
        first,
        "--to",
        last,
        "--out",
        str(out_file),
        capsys=capsys,
    )
    assert code == 1 and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in out + err
    assert not out_file.exists()


@pytest.mark.requirement("REQ-REV-01")
def test_the_periodic_review_is_written_as_html_and_csv(db, make_person, tmp_path, capsys):
    with db.write() as conn:
        create_user(
            conn,
            SYSTEM,
            username="mallory",
            full_name='=HYPERLINK("http://x")',
            password=TEST_PASSWORD,
            one_time=False,
        )
        set_roles(conn, SYSTEM, "mallory", [])
        set_active(conn, SYSTEM, "mallory", False)
    url = database_url(db)
    for kind in ("html", "csv"):
        code, _, err = _cli(
            "--database",
            url,
            "report",
            "periodic",
            "--from",
            _today(),
            "--to",
            _today(),
            "--format",
            kind,
            "--out",
            str(tmp_path / f"review.{kind}"),
            capsys=capsys,
        )
        assert code == 0, err
    page = (tmp_path / "review.html").read_text(encoding="utf-8")
    assert "Users, role grants and API tokens" in page and "user.deactivate" in page
    text = (tmp_path / "review.csv").read_text(encoding="utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["Periodic review"]
    assert ["Users, role grants and API tokens"] in lines
    assert any(r[2:4] == ["user.deactivate", "user mallory"] for r in lines if len(r) > 3)


@pytest.mark.requirement("REQ-REV-02")
def test_token_use_is_written_at_most_once_per_interval(db, make_person, client):
    person = make_person("ann", "analyst")
    digest = token_digest(person.token)
    bearer = {"Authorization": f"Bearer {person.token}"}

    def last_use() -> datetime | None:
        with db.read() as conn:
            return conn.execute(
                select(api_token.c.last_used_at).where(api_token.c.token_hash == digest)
            ).scalar()

    assert last_use() is None
    assert client.get("/api/v1/types", headers=bearer).status_code == 200
    first = last_use()
    assert first is not None
    assert client.get("/api/v1/types", headers=bearer).status_code == 200
    assert last_use() == first, "a second request within the interval writes nothing"
    sign_in(client, "ann", TEST_PASSWORD)
    row = client.get("/account/tokens").text.split(person.token[:10])[1].split("</tr>")[0]
    assert first.strftime("%Y-%m-%d %H:%M") in row

    assert note_token_use(db, digest, first + timedelta(minutes=4))
    assert last_use() == first, "the database skips a use written less than 5 minutes ago"
    later = first + timedelta(minutes=5)
    note_token_use(db, digest, later)
    assert last_use() == later


def test_the_worker_remembers_when_it_wrote_a_tokens_use():
    now = [100.0]
    throttle = LastUseThrottle(seconds=300, size=2, clock=lambda: now[0])
    assert throttle.due("a")
    throttle.written("a")
    now[0] += 299
    assert not throttle.due("a")
    now[0] += 1
    assert throttle.due("a")
    throttle.written("b")
    throttle.written("c")
    assert throttle.due("a"), "the oldest entry is forgotten beyond the size"


def _backdate(db, username: str, days: int) -> None:
    with db.write() as conn:
        conn.execute(
            update(app_user)
            .where(app_user.c.username == username)
            .values(created_at=utc_now() - timedelta(days=days))
        )


@pytest.mark.requirement("REQ-REV-02")
def test_unused_accounts_are_those_without_sign_in_or_token_use(db, make_person):
    for name in ("idle", "signs", "scripts", "fresh"):
        make_person(name, "analyst")
    for name in ("idle", "signs", "scripts"):
        _backdate(db, name, 120)
    with db.write() as conn:
        assert check_password(conn, "signs", TEST_PASSWORD).principal is not None
        conn.execute(
            update(api_token)
            .where(
                api_token.c.user_id
                == select(app_user.c.id).where(app_user.c.username == "scripts").scalar_subquery()
            )
            .values(last_used_at=utc_now() - timedelta(days=3))
        )
    with db.read() as conn:
        review = access_review(conn, unused_days=90)
        longer = access_review(conn, unused_days=200)
    assert [a.username for a in review.unused] == ["idle"]
    assert longer.unused == []
    users = {r[0]: r for r in _table(review.tables, "users").rows}
    assert users["signs"][5] != "never" and users["idle"][5] == "never"
    tokens = {r[0]: r for r in _table(review.tables, "tokens").rows}
    assert tokens["scripts"][5] != "never" and tokens["idle"][5] == "never"


def _signed(db, username: str, number: str) -> None:
    """A signature event of ``username`` (the engine itself refuses a one-time password:
    this stands for a signature that got past it, which the review must show)."""
    with db.write() as conn:
        append(
            conn,
            [
                AuditEntry(
                    actor=username,
                    action=SIGN_ACTION,
                    record_number=number,
                    details={"meaning": "Approved for release"},
                )
            ],
        )


@pytest.mark.requirement("REQ-REV-02")
def test_a_password_reset_followed_by_the_users_signature_is_flagged(db, make_person):
    make_person("ann", "analyst")
    make_person("bo", "analyst")
    admin = make_person("root", "useradmin", permissions=("manage_users",))
    _signed(db, "ann", "LOT-0001")  # before any reset: no flag
    with db.write() as conn:
        temporary = reset_password(conn, admin.principal, "ann")
        reset_password(conn, admin.principal, "bo", "A-temporary-pass-1")
    _signed(db, "ann", "LOT-0002")
    _signed(db, "ann", "LOT-0003")  # the same reset flags once
    with db.write() as conn:
        change_own_password(conn, "bo", "A-temporary-pass-1", "Lantern-meadow-2026!", 10)
        change_own_password(conn, "ann", temporary, "Orchid-harbour-2026!", 10)
    _signed(db, "bo", "LOT-0004")  # after the user's own change: no flag
    _signed(db, "ann", "LOT-0005")
    with db.read() as conn:
        flags = access_review(conn).flags
    assert [(f.username, f.reset_by, f.signed_what, f.meaning) for f in flags] == [
        ("ann", "root", "LOT-0002", "Approved for release")
    ]


def _access_json(db, tmp_path, capsys, *extra: str) -> dict[str, Any]:
    out = tmp_path / "access.json"
    code, printed, err = _cli(
        "--database",
        database_url(db),
        "report",
        "access",
        "--format",
        "json",
        "--out",
        str(out),
        *extra,
        capsys=capsys,
    )
    assert code == 0, err
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    data["printed"] = printed
    return data


@pytest.mark.requirement("REQ-REV-02")
def test_a_signed_access_review_is_what_the_next_one_compares_with(
    db, make_person, tmp_path, capsys
):
    assert load_seeds(db, tmp_path, "reviews") == ["reviews 1.0"]
    reviewer = make_person("rita", "access_reviewer")
    ann = make_person("ann", "analyst", "qa")
    make_person("bo", "analyst")
    first = _access_json(db, tmp_path, capsys, "--record")
    assert first["compared_with"] is None
    number = first["printed"].split("Recorded as access review ")[1].split(",")[0]

    with db.read() as conn:
        row = conn.execute(
            select(audit_event.c.record_id).where(
                audit_event.c.record_number == number, audit_event.c.action == "record.create"
            )
        ).scalar_one()
    # Not signed yet: nothing to compare with.
    assert _access_json(db, tmp_path, capsys)["compared_with"] is None
    signed = run_transition(
        db,
        reviewer.principal,
        "access_review",
        row,
        "sign",
        signature=SignatureInput("rita", TEST_PASSWORD),
        with_signatures=True,
    )
    assert [s["meaning"] for s in signed["signatures"]] == ["Access review"]

    with db.write() as conn:
        set_roles(conn, SYSTEM, "ann", ["analyst"])
        set_active(conn, SYSTEM, "bo", False)
        revoke_token(conn, SYSTEM, ann.token[:10])
        create_user(conn, SYSTEM, username="cy", full_name="Cy New", roles=["analyst"])
        new_token = create_token(conn, SYSTEM, "cy")
    after = _access_json(db, tmp_path, capsys)
    assert after["compared_with"] == number
    changes = {(c["what"], c["username"], c["detail"]) for c in after["changes"]}
    assert changes == {
        ("role removed", "ann", "qa"),
        ("user deactivated", "bo", ""),
        ("token revoked", "ann", ann.token[:10]),
        ("user added", "cy", "roles: analyst"),
        ("token created", "cy", f"{new_token[:10]} (api)"),
    }


def test_a_snapshot_changed_after_signing_is_not_compared_with(db, make_person, tmp_path, capsys):
    load_seeds(db, tmp_path, "reviews")
    reviewer = make_person("rita", "access_reviewer")
    make_person("ann", "analyst", "qa")
    _access_json(db, tmp_path, capsys, "--record")
    with db.read() as conn:
        kept = conn.execute(select(record.c.id, record.c.number, record.c.data)).one()
    run_transition(
        db,
        reviewer.principal,
        "access_review",
        kept.id,
        "sign",
        signature=SignatureInput("rita", TEST_PASSWORD),
    )
    with db.write() as conn:  # someone with the database in hand hides a role grant
        content = json.loads(
            conn.execute(
                select(attachment.c.content).where(attachment.c.id == kept.data["snapshot"])
            ).scalar_one()
        )
        content["users"]["ann"]["roles"] = ["analyst"]
        conn.execute(
            update(attachment)
            .where(attachment.c.id == kept.data["snapshot"])
            .values(content=json.dumps(content).encode())
        )
    after = _access_json(db, tmp_path, capsys)
    assert after["compared_with"] == kept.number and after["changes"] == []
    assert "does not match the hash it was signed with" in after["comparison_note"]


def test_recording_an_access_review_without_the_bundle_says_how_and_keeps_the_file(
    db, tmp_path, capsys
):
    out = tmp_path / "access.html"
    code, _, err = _cli(
        "--database",
        database_url(db),
        "report",
        "access",
        "--out",
        str(out),
        "--record",
        capsys=capsys,
    )
    assert code == 1 and "load the 'reviews' bundle" in err and "Traceback" not in err
    assert out.is_file()
