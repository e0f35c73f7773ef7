"""Users, roles, permissions, API tokens and password policy."""
