"""Archives: made from one snapshot, restored into either database, proved, or refused.

The source is the shipped LIMS with its demo data (records through their
workflows, signatures, attachments, a change request); every restore is
proved as ``archive restore`` proves it: counts, record and attachment
hashes, chain tips and all of ``audit verify``.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, text

from labledger.archive.check import check_archive
from labledger.archive.create import CREATE_ACTION, create_archive
from labledger.archive.format import MANIFEST, table_member
from labledger.archive.load import restore_archive
from labledger.archive.proof import RESTORE_ACTION, prove, record_proof
from labledger.archive.reading import ArchiveDamaged, ArchiveReader
from labledger.audit.verify import verify
from labledger.bootstrap import ensure_admin
from labledger.changes.control import set_control
from labledger.db.engine import Database, open_database
from labledger.db.migrate import head_revision, upgrade
from labledger.db.tables import api_token, app_user, audit_event, record
from labledger.errors import Conflict
from labledger.identity.principal import COMMAND_LINE, SYSTEM
from labledger.identity.tokens import create_token
from labledger.metadata.types import publish_type
from labledger.records.attachments import store_attachment
from labledger.records.create import create_record
from tests.conftest import BACKENDS, PG_URL, TEST_SETTINGS, _postgres_database
from tests.definitions import batch_type

EmptyDatabase = Callable[[str], Database]


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[EmptyDatabase]:
    """Makes databases with no tables at all, of the kind asked for, removed afterwards."""
    files: list[Database] = []
    schemas: list[Iterator[Database]] = []

    def make(kind: str) -> Database:
        if kind == "sqlite":
            path = tmp_path / f"empty-{len(files)}.db"
            files.append(open_database(f"sqlite:///{path}", settings=TEST_SETTINGS))
            return files[-1]
        schemas.append(_postgres_database(lambda _db, _schema: None))
        return next(schemas[-1])

    yield make
    for database in files:
        database.dispose()
    for schema in schemas:
        next(schema, None)  # drops it


@pytest.fixture
def source(lims_db: Database) -> Database:
    """The LIMS demo with three attachments, two of them the same content."""
    with lims_db.write() as conn:
        for name, content in (("a.csv", b"1,2\n"), ("b.csv", b"1,2\n"), ("c.pdf", b"%PDF-1.4 x")):
            store_attachment(
                conn,
                SYSTEM,
                filename=name,
                content_type="text/csv",
                content=content,
                max_bytes=1000,
            )
    return lims_db


def _archive(db: Database, path: Path, **options: Any) -> Path:
    create_archive(db, path, actor=COMMAND_LINE, **options)
    return path


def _restore_and_prove(db: Database, path: Path) -> Any:
    with ArchiveReader(path) as reader:
        restore_archive(db, reader)
        return prove(db, reader)


def _scalar(db: Database, statement: Any) -> Any:
    with db.read() as conn:
        return conn.execute(statement).scalar_one()


def _add_batch(db: Database, code: str) -> int:
    """A record of a small type of its own (published on first use), by the system."""
    with db.write() as conn:
        publish_type(conn, SYSTEM, batch_type(permissions={"read": ["*"]}))
        return int(create_record(conn, SYSTEM, "batch", {"code": code}, skip_permission=True)["id"])


def _records(db: Database) -> list[tuple[Any, ...]]:
    with db.read() as conn:
        return [tuple(row) for row in conn.execute(select(record).order_by(record.c.id))]


@pytest.mark.requirement("REQ-ARC-01", "REQ-ARC-02")
def test_an_archive_restores_and_is_proved(
    source: Database, empty_database: EmptyDatabase, tmp_path: Path
) -> None:
    path = _archive(source, tmp_path / "lims.zip")
    restored = empty_database(source.dialect)

    proof = _restore_and_prove(restored, path)

    assert proof.ok, proof.lines()
    assert proof.records == _scalar(source, select(func.count()).select_from(record)) > 0
    assert proof.blobs > 0  # the demo's attachments, hashed again
    assert all(count.archived == count.restored for count in proof.tables)
    assert proof.audit is not None and proof.audit.signatures > 0
    assert _records(restored) == _records(source)


def test_the_source_records_the_archive_by_its_manifest_hash(
    source: Database, tmp_path: Path
) -> None:
    path = tmp_path / "lims.zip"
    _, manifest_hash = create_archive(source, path, actor=COMMAND_LINE)

    with zipfile.ZipFile(path) as archive:
        assert hashlib.sha256(archive.read(MANIFEST)).hexdigest() == manifest_hash
    with source.read() as conn:
        event = conn.execute(select(audit_event).order_by(audit_event.c.seq.desc()).limit(1)).one()
    assert (event.action, event.actor) == (CREATE_ACTION, COMMAND_LINE)
    assert event.details["manifest_sha256"] == manifest_hash
    with source.snapshot() as conn:
        assert verify(conn).ok


def test_a_restored_installation_goes_on_with_new_keys_and_an_intact_trail(
    source: Database, empty_database: EmptyDatabase, tmp_path: Path
) -> None:
    path = _archive(source, tmp_path / "lims.zip")
    restored = empty_database(source.dialect)
    with ArchiveReader(path) as reader:
        restore_archive(restored, reader)
        proof = prove(restored, reader)
        assert record_proof(restored, COMMAND_LINE, proof, reader.manifest)
    highest = _scalar(restored, select(func.max(record.c.id)))

    created = _add_batch(restored, "AFTER-1")

    assert created > highest
    with restored.snapshot() as conn:
        report = verify(conn)
        last = conn.execute(
            select(audit_event.c.action, audit_event.c.details)
            .where(audit_event.c.action == RESTORE_ACTION)
            .limit(1)
        ).one()
    assert report.ok, report.discrepancies
    assert last.details["proved"] is True
    assert last.details["manifest_sha256"] == proof.manifest_sha256


@pytest.mark.requirement("REQ-ARC-02")
@pytest.mark.skipif(not PG_URL, reason="moving between databases needs PostgreSQL")
def test_an_installation_moves_to_the_other_database_kind_and_back(
    source: Database, empty_database: EmptyDatabase, tmp_path: Path
) -> None:
    moved = empty_database("sqlite" if source.dialect == "postgresql" else "postgresql")
    assert _restore_and_prove(moved, _archive(source, tmp_path / "there.zip")).ok
    back = empty_database(source.dialect)

    proof = _restore_and_prove(back, _archive(moved, tmp_path / "back.zip"))

    assert proof.ok, proof.lines()
    assert _records(back) == _records(source)


@pytest.mark.requirement("REQ-ARC-03")
@pytest.mark.parametrize("kind", BACKENDS)
def test_an_archive_of_an_older_schema_restores_through_the_newer_migrations(
    empty_database: EmptyDatabase, tmp_path: Path, kind: str
) -> None:
    older = "0008"
    assert older != head_revision()
    origin = empty_database(kind)
    upgrade(origin.engine, older)
    with origin.write() as conn:
        set_control(conn, SYSTEM, enabled=False, reason="A test installation.")
    ensure_admin(origin)
    for code in ("OLD-1", "OLD-2"):
        _add_batch(origin, code)
    path = _archive(origin, tmp_path / "older.zip")
    with ArchiveReader(path) as reader:
        assert reader.manifest.schema_revision == older
    restored = empty_database(kind)

    proof = _restore_and_prove(restored, path)

    assert proof.ok, proof.lines()
    with restored.read() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            head_revision()
        )
    assert _records(restored) == _records(origin)


@pytest.mark.requirement("REQ-ARC-01")
def test_credentials_stay_out_unless_asked_for(
    source: Database, empty_database: EmptyDatabase, tmp_path: Path
) -> None:
    with source.write() as conn:
        create_token(conn, SYSTEM, "admin", "nightly export")
    without = empty_database(source.dialect)
    assert _restore_and_prove(without, _archive(source, tmp_path / "plain.zip")).ok
    with_them = empty_database(source.dialect)
    archive = _archive(source, tmp_path / "full.zip", credentials=True)
    assert _restore_and_prove(with_them, archive).ok
    passwords = select(app_user.c.username, app_user.c.password_hash).order_by(app_user.c.id)
    tokens = select(api_token.c.id, api_token.c.token_hash).order_by(api_token.c.id)

    with source.read() as conn:
        source_passwords, source_tokens = conn.execute(passwords).all(), conn.execute(tokens).all()
    with without.read() as conn:
        plain_passwords, plain_tokens = conn.execute(passwords).all(), conn.execute(tokens).all()
    with with_them.read() as conn:
        assert conn.execute(passwords).all() == source_passwords
        assert conn.execute(tokens).all() == source_tokens
    assert all(hashed is None for _, hashed in plain_passwords)
    assert [key for key, _ in plain_tokens] == [key for key, _ in source_tokens]
    assert not {hashed for _, hashed in plain_tokens} & {hashed for _, hashed in source_tokens}
    with zipfile.ZipFile(tmp_path / "plain.zip") as plain:
        users = plain.read(table_member("app_user")).decode()
    assert not any(hashed and hashed in users for _, hashed in source_passwords)


def test_restore_refuses_a_database_that_holds_data_and_changes_nothing(
    source: Database, tmp_path: Path
) -> None:
    path = _archive(source, tmp_path / "lims.zip")
    before = _records(source), _scalar(source, select(func.count()).select_from(audit_event))

    with ArchiveReader(path) as reader, pytest.raises(Conflict, match="not empty"):
        restore_archive(source, reader)

    assert (_records(source), _scalar(source, select(func.count()).select_from(audit_event))) == (
        before
    )


def _rewrite(path: Path, target: Path, change: Callable[[str, bytes], bytes]) -> None:
    """A copy of the archive at ``path`` whose members ``change`` may alter."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as copy:
        for info in source.infolist():
            copy.writestr(info.filename, change(info.filename, source.read(info)))


def _edit_first_record(body: bytes) -> bytes:
    first, rest = body.split(b"\n", 1)
    return first.replace(b'"name":"', b'"name":"Edited ', 1) + b"\n" + rest


@pytest.mark.requirement("REQ-ARC-02")
def test_an_edited_member_fails_the_restore_which_leaves_the_database_empty(
    source: Database, empty_database: EmptyDatabase, tmp_path: Path
) -> None:
    path = _archive(source, tmp_path / "lims.zip")
    edited = tmp_path / "edited.zip"
    member = table_member("record")
    _rewrite(path, edited, lambda name, body: _edit_first_record(body) if name == member else body)
    target = empty_database(source.dialect)

    with ArchiveReader(edited) as reader, pytest.raises(ArchiveDamaged, match=member):
        restore_archive(target, reader)

    with target.read() as conn:
        assert inspect(conn).get_table_names() == []


def _forged(path: Path, target: Path, member: str, change: Callable[[bytes], bytes]) -> None:
    """A copy of the archive with ``member`` changed and its manifest entry made to agree."""
    with zipfile.ZipFile(path) as archive:
        changed = change(archive.read(member))
        manifest = json.loads(archive.read(MANIFEST))
    entry = next(t for t in manifest["tables"] if t["member"] == member)
    entry["sha256"] = hashlib.sha256(changed).hexdigest()
    entry["rows"] = changed.count(b"\n")
    forged = {member: changed, MANIFEST: json.dumps(manifest).encode()}
    _rewrite(path, target, lambda name, body: forged.get(name, body))


@pytest.mark.requirement("REQ-ARC-02")
def test_rows_that_do_not_fit_together_stop_the_restore_and_name_their_table(
    source: Database, empty_database: EmptyDatabase, tmp_path: Path
) -> None:
    """Records left out of a forged archive: the references to them have nothing to point at."""
    path = _archive(source, tmp_path / "lims.zip")
    forged = tmp_path / "forged.zip"
    _forged(path, forged, table_member("record"), lambda body: b"".join(body.splitlines(True)[:5]))
    target = empty_database(source.dialect)

    with ArchiveReader(forged) as reader, pytest.raises(ArchiveDamaged) as refused:
        restore_archive(target, reader)

    assert "rows of table record_reference do not fit" in str(refused.value)
    with target.read() as conn:
        assert inspect(conn).get_table_names() == []


@pytest.mark.requirement("REQ-ARC-02")
def test_an_archive_edited_with_its_manifest_restores_but_fails_its_proof(
    source: Database, empty_database: EmptyDatabase, tmp_path: Path
) -> None:
    """Whoever rewrites a member and its manifest entry still cannot make the records
    agree with the hashes the archive and the audit trail hold."""
    path = _archive(source, tmp_path / "lims.zip")
    forged = tmp_path / "forged.zip"
    _forged(path, forged, table_member("record"), _edit_first_record)
    target = empty_database(source.dialect)

    proof = _restore_and_prove(target, forged)

    assert not proof.ok
    assert any("differs from the archive's (content hash)" in d for d in proof.differences)
    assert proof.audit is not None and any(d.kind == "record" for d in proof.audit.discrepancies)


@pytest.mark.requirement("REQ-ARC-02")
def test_an_attachment_content_that_does_not_match_its_hash_is_named(
    source: Database, tmp_path: Path
) -> None:
    path = _archive(source, tmp_path / "lims.zip")
    damaged = tmp_path / "damaged.zip"
    _rewrite(path, damaged, lambda name, body: b"not it" if name.startswith("blobs/") else body)

    with ArchiveReader(damaged) as reader:
        check = check_archive(reader, trial_restore=False)

    assert not check.ok
    assert check.damage is not None and "does not match its hash" in check.damage


@pytest.mark.requirement("REQ-ARC-03")
def test_verify_restores_on_trial_and_proves_an_intact_archive(
    source: Database, tmp_path: Path
) -> None:
    path = _archive(source, tmp_path / "lims.zip")

    with ArchiveReader(path) as reader:
        check = check_archive(reader, scratch=tmp_path)

    assert check.ok, check.lines()
    assert check.proof is not None and check.proof.ok
    assert check.rows["record"] == _scalar(source, select(func.count()).select_from(record))
    assert list(tmp_path.glob("labledger-restore-*")) == []  # the trial database is gone


@pytest.mark.requirement("REQ-ARC-01")
def test_the_archive_holds_one_moment_while_people_go_on_working(
    source: Database, empty_database: EmptyDatabase, tmp_path: Path
) -> None:
    """A record created while the archive is being written is not in it, and the
    archive's chain, records and tips still agree with each other."""
    _add_batch(source, "BEFORE-1")
    created: list[int] = []

    def work_meanwhile(what: str, _done: int, _total: int) -> None:
        if what == "audit_event" and not created:
            created.append(_add_batch(source, "MEANWHILE-1"))

    path = tmp_path / "moment.zip"
    create_archive(source, path, actor=COMMAND_LINE, progress=work_meanwhile)
    target = empty_database(source.dialect)

    proof = _restore_and_prove(target, path)

    assert created
    assert proof.ok, proof.lines()
    assert _scalar(target, select(func.count()).where(record.c.id == created[0])) == 0
