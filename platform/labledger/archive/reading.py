"""Reading an archive back: its manifest, its rows and contents, each checked as it is read.

Nothing in an archive is trusted before it is checked: the manifest must be
one this platform can read, every member's SHA-256 and row count must be
the manifest's (checked when the member has been read to its end, so a
restore reading it rolls back), every row must have its columns' kinds and
every binary content must hash to its name. Lines and contents are bounded,
so a damaged or hostile file cannot take the memory of the machine reading it.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import msgspec

from labledger.archive.format import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    Manifest,
    MemberEntry,
    RowDecoder,
    TableEntry,
    blob_member,
)
from labledger.errors import ValidationFailed

#: The longest row a reader accepts (a record's data is bounded far below this).
MAX_LINE_BYTES = 64 * 1024 * 1024
#: The largest binary content a reader accepts in one piece.
MAX_BLOB_BYTES = 1024 * 1024 * 1024
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
#: Bytes hashed at a time while checking a content without keeping it.
_CHUNK = 1024 * 1024


class ArchiveDamaged(ValidationFailed):
    """The file is not a readable labledger archive, or differs from its manifest."""


class ArchiveReader:
    """An archive opened for reading; use as a context manager."""

    def __init__(self, path: Path) -> None:
        try:
            self.zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise ArchiveDamaged(f"There is no file {path}.") from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise ArchiveDamaged(f"{path} is not a labledger archive: {exc}") from None
        try:
            self.manifest = self._manifest()
        except BaseException:
            self.zip.close()
            raise

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.zip.close()

    def _info(self, member: str) -> zipfile.ZipInfo:
        try:
            return self.zip.getinfo(member)
        except KeyError:
            raise ArchiveDamaged(f"The archive lacks its member {member}.") from None

    def _manifest(self) -> Manifest:
        info = self._info(MANIFEST)
        if info.file_size > MAX_MANIFEST_BYTES:
            raise ArchiveDamaged("The archive's manifest is too large to be one.")
        body = self._read(info)
        #: What the source's audit trail recorded the archive by (``archive.created``).
        self.manifest_sha256 = hashlib.sha256(body).hexdigest()
        try:
            raw = msgspec.json.decode(body)
            if not isinstance(raw, dict) or raw.get("format") != FORMAT:
                raise ArchiveDamaged("The file is not a labledger archive (its manifest says so).")
            if not isinstance(raw.get("format_version"), int) or raw["format_version"] > (
                FORMAT_VERSION
            ):
                raise ArchiveDamaged(
                    f"The archive is of format version {raw.get('format_version')}; this "
                    f"labledger reads up to version {FORMAT_VERSION}. Use a newer labledger."
                )
            return msgspec.convert(raw, Manifest)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ArchiveDamaged(f"The archive's manifest cannot be read: {exc}") from None

    def _read(self, info: zipfile.ZipInfo) -> bytes:
        try:
            return self.zip.read(info)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ArchiveDamaged(
                f"The archive's member {info.filename} is damaged: {exc}"
            ) from None

    def _lines(self, entry: TableEntry | MemberEntry) -> Iterator[bytes]:
        """The member's lines; at its end, its row count and hash are checked."""
        member = entry.member
        digest = hashlib.sha256()
        rows = 0
        try:
            with self.zip.open(self._info(member)) as stream:
                while line := _bounded_line(stream, member):
                    digest.update(line)
                    rows += 1
                    yield line
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ArchiveDamaged(f"The archive's member {member} is damaged: {exc}") from None
        if rows != entry.rows or digest.hexdigest() != entry.sha256:
            raise ArchiveDamaged(
                f"The archive's member {member} differs from its manifest "
                f"({rows:,} rows read, {entry.rows:,} listed): it was changed or damaged."
            )

    def rows(self, entry: TableEntry) -> Iterator[tuple[Any, ...]]:
        """The table's rows, each checked against its columns' kinds."""
        decoder = RowDecoder(entry.columns)
        for number, line in enumerate(self._lines(entry), start=1):
            try:
                yield decoder.decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
                raise ArchiveDamaged(
                    f"Row {number} of the archive's member {entry.member} cannot be read: {exc}"
                ) from None

    def record_hashes(self) -> Iterator[tuple[int, str]]:
        """(record id, content hash) of every record, by id."""
        decoder = msgspec.json.Decoder(tuple[int, str])
        entry = self.manifest.record_hashes
        for number, line in enumerate(self._lines(entry), start=1):
            try:
                yield decoder.decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise ArchiveDamaged(
                    f"Line {number} of the archive's member {entry.member} cannot be read: {exc}"
                ) from None

    def blob(self, sha256: str) -> bytes:
        """The binary content named ``sha256``, proved by its hash."""
        info = self._info(blob_member(sha256))
        if info.file_size > MAX_BLOB_BYTES:
            raise ArchiveDamaged(f"The archive's member {info.filename} is too large to restore.")
        content = self._read(info)
        if hashlib.sha256(content).hexdigest() != sha256:
            raise ArchiveDamaged(f"The archive's member {info.filename} does not match its hash.")
        return content

    def check_blob(self, sha256: str) -> None:
        """Prove the content named ``sha256`` without holding it in memory."""
        info = self._info(blob_member(sha256))
        digest = hashlib.sha256()
        try:
            with self.zip.open(info) as stream:
                while chunk := stream.read(_CHUNK):
                    digest.update(chunk)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ArchiveDamaged(
                f"The archive's member {info.filename} is damaged: {exc}"
            ) from None
        if digest.hexdigest() != sha256:
            raise ArchiveDamaged(f"The archive's member {info.filename} does not match its hash.")


def _bounded_line(stream: IO[bytes], member: str) -> bytes:
    line = stream.readline(MAX_LINE_BYTES + 1)
    if len(line) > MAX_LINE_BYTES:
        raise ArchiveDamaged(f"The archive's member {member} holds a row too long to be one.")
    return line
