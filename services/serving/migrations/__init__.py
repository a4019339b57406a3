"""Alembic migrations of the serving service's own tables (the kernel's come first)."""
