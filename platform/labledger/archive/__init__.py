"""Archives of a whole installation: made from one snapshot, checked, restored with proof.

An archive is one ZIP file that any tool can open: a ``manifest.json`` naming
the platform version, the schema revision and, per table, its columns, row
count and SHA-256; one JSON-lines member per table; binary contents
(attachments) once each under their SHA-256; and the content hash of every
record, the same hash the audit trail vouches for. It is written from one
consistent snapshot while the system is in use, and read back as a stream,
so memory stays flat whatever the size.

``create`` writes an archive, ``load`` restores one into an empty database of
either kind (running the migrations of a newer schema after the data is in),
and ``proof`` checks a restored database against the archive: counts, every
record's and attachment's hash, the chain tips and all of ``audit verify``.
"""
