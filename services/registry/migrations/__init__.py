"""Alembic migrations of the registry service's own tables (the kernel's come first)."""
