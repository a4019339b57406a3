"""The kernel's Alembic branch ("kernel"), applied to every service database."""
