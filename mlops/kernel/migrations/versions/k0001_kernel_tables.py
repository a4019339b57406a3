"""Kernel tables: outbox, inbox, audit log (append-only), leases.

Revision ID: k0001
Branch labels: kernel
"""

from __future__ import annotations

from alembic import op

from mlops.kernel import tables

revision = "k0001"
down_revision = None
branch_labels = ("kernel",)
depends_on = None

_KERNEL_TABLES = [tables.outbox, tables.inbox, tables.audit_log, tables.leases]

_SQLITE_TRIGGERS = [
    """CREATE TRIGGER kernel_audit_log_no_update BEFORE UPDATE ON kernel_audit_log
       BEGIN SELECT RAISE(ABORT, 'kernel_audit_log is append-only'); END""",
    """CREATE TRIGGER kernel_audit_log_no_delete BEFORE DELETE ON kernel_audit_log
       BEGIN SELECT RAISE(ABORT, 'kernel_audit_log is append-only'); END""",
]

_POSTGRES_TRIGGERS = [
    """CREATE OR REPLACE FUNCTION kernel_audit_log_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'kernel_audit_log is append-only'; END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER kernel_audit_log_no_change BEFORE UPDATE OR DELETE ON kernel_audit_log
       FOR EACH ROW EXECUTE FUNCTION kernel_audit_log_append_only()""",
    """CREATE TRIGGER kernel_audit_log_no_truncate BEFORE TRUNCATE ON kernel_audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION kernel_audit_log_append_only()""",
]


def upgrade() -> None:
    bind = op.get_bind()
    tables.metadata.create_all(bind, tables=_KERNEL_TABLES)
    triggers = _POSTGRES_TRIGGERS if bind.dialect.name == "postgresql" else _SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS kernel_audit_log_append_only() CASCADE")
    tables.metadata.drop_all(bind, tables=list(reversed(_KERNEL_TABLES)))
