"""Dataset: cheap publishes. Draft samples keep their manifest entry's canonical JSON
(`samples.entry_json`), and version entry rows are shared by consecutive versions
(`version_entries.first_version`/`last_version` instead of one row per version and sample).

Revision ID: ds0003
Revises: ds0002

Existing entry rows become rows of one version each (first = last = their number); the first
publish after the upgrade opens a row for every sample, later ones only for changed samples. Draft
rows written before this revision keep NULL entry JSON until their next publish fills it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ds0003"
down_revision = "ds0002"
branch_labels = None
depends_on = None

_COPY = "version_entries_ds0002"
_ENTRY_COLUMNS = [
    "dataset_id",
    "name",
    "sha256",
    "size_bytes",
    "media_type",
    "purpose",
    "label",
    "annotation",
    "metadata",
    "observed_at",
]


def _old_entries_table(metadata: sa.MetaData) -> sa.Table:
    """version_entries as ds0001 created it: one row per version and sample."""
    sa.Table("versions", metadata, autoload_with=op.get_bind())  # what its foreign key names
    return sa.Table(
        "version_entries",
        metadata,
        sa.Column("dataset_id", sa.String(32), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("media_type", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("annotation", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("dataset_id", "number", "name", name="pk_version_entries"),
        sa.ForeignKeyConstraint(
            ["dataset_id", "number"],
            ["versions.dataset_id", "versions.number"],
            name="fk_version_entries_dataset_id_versions",
            ondelete="CASCADE",
        ),
        sa.Index("ix_version_entries_sha256", "sha256"),
    )


def _set_aside_entries() -> None:
    """A plain copy of the rows, so the table can be created anew with its constraints' names."""
    op.execute(f"CREATE TABLE {_COPY} AS SELECT * FROM version_entries")
    op.drop_table("version_entries")


def _shared_entries_table() -> None:
    """version_entries as this revision makes it: a row covers a run of consecutive versions."""
    op.create_table(
        "version_entries",
        sa.Column("dataset_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("first_version", sa.Integer(), nullable=False),
        sa.Column("last_version", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=128), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("annotation", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("entry_json", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.dataset_id"],
            name=op.f("fk_version_entries_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_id", "name", "first_version", name="pk_version_entries"),
    )
    op.create_index("ix_version_entries_sha256", "version_entries", ["sha256"], unique=False)


# The schema as this revision changes it, written out: later revisions change it, never this one.
def upgrade() -> None:
    op.add_column("samples", sa.Column("entry_json", sa.Text(), nullable=True))
    _set_aside_entries()
    _shared_entries_table()
    names = ", ".join(_ENTRY_COLUMNS)
    op.execute(
        f"INSERT INTO version_entries ({names}, first_version, last_version) "
        f"SELECT {names}, number, number FROM {_COPY}"
    )
    op.drop_table(_COPY)


def downgrade() -> None:
    _set_aside_entries()
    _old_entries_table(sa.MetaData()).create(op.get_bind())
    names = ", ".join(_ENTRY_COLUMNS)
    selected = ", ".join(f"e.{name}" for name in _ENTRY_COLUMNS)
    # A shared row becomes one row per existing version it holds.
    op.execute(
        f"INSERT INTO version_entries ({names}, number) "
        f"SELECT {selected}, v.number FROM {_COPY} e JOIN versions v ON v.dataset_id = e.dataset_id "
        "AND v.number >= e.first_version AND (e.last_version IS NULL OR v.number <= e.last_version)"
    )
    op.drop_table(_COPY)
    with op.batch_alter_table("samples") as batch:
        batch.drop_column("entry_json")
