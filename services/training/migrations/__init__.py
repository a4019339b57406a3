"""Alembic migrations of the training service's own tables (the kernel's come first)."""
