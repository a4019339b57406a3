"""Dataset: datasets, draft samples, versions with their entries and users, blob reservations.

Revision ID: ds0001
Branch labels: dataset
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ds0001"
down_revision = None
branch_labels = ("dataset",)
depends_on = None


# The schema as this revision created it, written out: later revisions change it, never this one.
def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("dataset_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("scenario", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("dataset_id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("name", name=op.f("uq_datasets_name")),
    )
    op.create_index("ix_datasets_owner", "datasets", ["owner"], unique=False)
    op.create_index("ix_datasets_scenario", "datasets", ["scenario"], unique=False)
    op.create_table(
        "doomed_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_doomed_blobs")),
    )
    op.create_table(
        "pending_blobs",
        sa.Column("reservation_id", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("reservation_id", "sha256", name="pk_pending_blobs"),
    )
    op.create_index("ix_pending_blobs_sha256", "pending_blobs", ["sha256"], unique=False)
    op.create_table(
        "version_users",
        sa.Column("dataset_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dataset_id", "number", "user", name="pk_version_users"),
    )
    op.create_table(
        "samples",
        sa.Column("sample_id", sa.String(length=32), nullable=False),
        sa.Column("dataset_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=128), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("annotation", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.dataset_id"],
            name=op.f("fk_samples_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sample_id", name=op.f("pk_samples")),
        sa.UniqueConstraint("dataset_id", "name", name="uq_samples_dataset_name"),
    )
    op.create_index("ix_samples_sha256", "samples", ["sha256"], unique=False)
    op.create_table(
        "versions",
        sa.Column("dataset_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("scenario", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("manifest_digest", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=255), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sample_count", sa.BigInteger(), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("counts_per_purpose", sa.JSON(), nullable=False),
        sa.Column("counts_per_label", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.dataset_id"],
            name=op.f("fk_versions_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_id", "number", name="pk_versions"),
    )
    op.create_index("ix_versions_manifest_digest", "versions", ["manifest_digest"], unique=False)
    op.create_table(
        "version_entries",
        sa.Column("dataset_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=128), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("annotation", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id", "number"],
            ["versions.dataset_id", "versions.number"],
            name=op.f("fk_version_entries_dataset_id_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_id", "number", "name", name="pk_version_entries"),
    )
    op.create_index("ix_version_entries_sha256", "version_entries", ["sha256"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_version_entries_sha256", table_name="version_entries")
    op.drop_index("ix_versions_manifest_digest", table_name="versions")
    op.drop_index("ix_samples_sha256", table_name="samples")
    op.drop_index("ix_pending_blobs_sha256", table_name="pending_blobs")
    op.drop_index("ix_datasets_scenario", table_name="datasets")
    op.drop_index("ix_datasets_owner", table_name="datasets")
    op.drop_table("version_entries")
    op.drop_table("versions")
    op.drop_table("samples")
    op.drop_table("version_users")
    op.drop_table("pending_blobs")
    op.drop_table("doomed_blobs")
    op.drop_table("datasets")
