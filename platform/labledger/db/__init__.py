"""Database access: engine set-up, table definitions and migrations."""
