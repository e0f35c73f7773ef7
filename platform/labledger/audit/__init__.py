"""The append-only, hash-chained audit trail and its verification."""
