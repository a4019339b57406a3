"""Registry: models, versions with lineage and cards, aliases, approvals, automation rules, deployments.

Revision ID: rg0001
Branch labels: registry
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "rg0001"
down_revision = None
branch_labels = ("registry",)
depends_on = None


# The schema as this revision created it, written out: later revisions change it, never this one.
def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("deployment", sa.String(length=128), nullable=False),
        sa.Column("model_name", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("deployment", name=op.f("pk_deployments")),
    )
    op.create_index("ix_deployments_version", "deployments", ["model_name", "number"], unique=False)
    op.create_table(
        "models",
        sa.Column("model_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("scenario", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("gates", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_models")),
        sa.UniqueConstraint("name", name=op.f("uq_models_name")),
    )
    op.create_table(
        "automation_rules",
        sa.Column("rule_id", sa.String(length=32), nullable=False),
        sa.Column("model_id", sa.String(length=32), nullable=False),
        sa.Column("dataset_id", sa.String(length=64), nullable=False),
        sa.Column("algorithm_id", sa.String(length=128), nullable=False),
        sa.Column("compare_metric", sa.String(length=128), nullable=False),
        sa.Column("higher_is_better", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.model_id"],
            name=op.f("fk_automation_rules_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_id", name=op.f("pk_automation_rules")),
    )
    op.create_index(
        "ix_automation_rules_watch", "automation_rules", ["dataset_id", "algorithm_id"], unique=False
    )
    op.create_table(
        "model_versions",
        sa.Column("model_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("external", sa.Boolean(), nullable=False),
        sa.Column("dataset_id", sa.String(length=64), nullable=False),
        sa.Column("dataset_version", sa.Integer(), nullable=False),
        sa.Column("manifest_digest", sa.String(length=64), nullable=False),
        sa.Column("bundle_uri", sa.String(length=1024), nullable=False),
        sa.Column("bundle_sha256", sa.String(length=64), nullable=False),
        sa.Column("bundle_size", sa.BigInteger(), nullable=False),
        sa.Column("bundle_media_type", sa.String(length=128), nullable=False),
        sa.Column("bundle_name", sa.String(length=255), nullable=False),
        sa.Column("signature", sa.JSON(), nullable=False),
        sa.Column("algorithm_id", sa.String(length=128), nullable=False),
        sa.Column("algorithm_version", sa.String(length=64), nullable=False),
        sa.Column("code_version", sa.JSON(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("registered_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("card_facts", sa.JSON(), nullable=False),
        sa.Column("intended_use", sa.Text(), nullable=False),
        sa.Column("risks", sa.Text(), nullable=False),
        sa.Column("card_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.model_id"],
            name=op.f("fk_model_versions_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", "number", name="pk_model_versions"),
        sa.UniqueConstraint("model_id", "run_id", name="uq_model_versions_model_run"),
    )
    op.create_index(
        "ix_model_versions_dataset", "model_versions", ["dataset_id", "dataset_version"], unique=False
    )
    op.create_index(
        "uq_model_versions_one_production",
        "model_versions",
        ["model_id"],
        unique=True,
        sqlite_where=sa.text("stage = 'production'"),
        postgresql_where=sa.text("stage = 'production'"),
    )
    op.create_table(
        "aliases",
        sa.Column("model_id", sa.String(length=32), nullable=False),
        sa.Column("alias", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id", "number"],
            ["model_versions.model_id", "model_versions.number"],
            name=op.f("fk_aliases_model_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", "alias", name="pk_aliases"),
    )
    op.create_table(
        "approvals",
        sa.Column("approval_id", sa.String(length=32), nullable=False),
        sa.Column("model_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("target_stage", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("gate_outcomes", sa.JSON(), nullable=False),
        sa.Column("decided_by", sa.String(length=255), nullable=False),
        sa.Column("decision_comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id", "number"],
            ["model_versions.model_id", "model_versions.number"],
            name=op.f("fk_approvals_model_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("approval_id", name=op.f("pk_approvals")),
    )
    op.create_index("ix_approvals_model", "approvals", ["model_id", "state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_approvals_model", table_name="approvals")
    op.drop_index("uq_model_versions_one_production", table_name="model_versions")
    op.drop_index("ix_model_versions_dataset", table_name="model_versions")
    op.drop_index("ix_automation_rules_watch", table_name="automation_rules")
    op.drop_index("ix_deployments_version", table_name="deployments")
    op.drop_table("approvals")
    op.drop_table("aliases")
    op.drop_table("model_versions")
    op.drop_table("automation_rules")
    op.drop_table("models")
    op.drop_table("deployments")
