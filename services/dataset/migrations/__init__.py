"""Alembic migrations of the dataset service's own tables (the kernel's come first)."""
