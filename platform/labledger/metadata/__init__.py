"""Object types and field types as data: validation, versions, JSON Schema, views."""
