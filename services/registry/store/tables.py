"""The registry service's own tables. The kernel's (outbox, inbox, audit log) come from its branch.

The one-production-version rule is a partial unique index, so two concurrent promotions cannot both
commit whatever the service layer read; registering the same run twice is a unique (model, run).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from mlops.kernel.tables import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)

models = Table(
    "models",
    metadata,
    Column("model_id", String(32), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("scenario", String(32), nullable=False),
    Column("owner", String(255), nullable=False),
    Column("tags", JSON, nullable=False),
    Column("gates", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Numbers are never reused, even after a version is deleted.
    Column("latest_version", Integer, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("model_id", String(32), nullable=False),
    Column("number", Integer, nullable=False),
    Column("stage", String(16), nullable=False),
    # NULL for external uploads: unique constraints let NULLs repeat on both databases.
    Column("run_id", String(64), nullable=True),
    Column("external", Boolean, nullable=False),
    Column("dataset_id", String(64), nullable=False),
    Column("dataset_version", Integer, nullable=False),
    Column("manifest_digest", String(64), nullable=False),
    Column("bundle_uri", String(1024), nullable=False),
    Column("bundle_sha256", String(64), nullable=False),
    Column("bundle_size", BigInteger, nullable=False),
    Column("bundle_media_type", String(128), nullable=False),
    Column("bundle_name", String(255), nullable=False),
    Column("signature", JSON, nullable=False),
    Column("algorithm_id", String(128), nullable=False),
    Column("algorithm_version", String(64), nullable=False),
    Column("code_version", JSON, nullable=False),
    Column("parameters", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("registered_by", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # The model card: generated facts (frozen at registration) and the editable text.
    Column("card_facts", JSON, nullable=False),
    Column("intended_use", Text, nullable=False),
    Column("risks", Text, nullable=False),
    Column("card_updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("model_id", "number", name="pk_model_versions"),
    ForeignKeyConstraint(["model_id"], ["models.model_id"], ondelete="CASCADE"),
    UniqueConstraint("model_id", "run_id", name="uq_model_versions_model_run"),
)
Index(
    "uq_model_versions_one_production",
    model_versions.c.model_id,
    unique=True,
    sqlite_where=model_versions.c.stage == "production",
    postgresql_where=model_versions.c.stage == "production",
)
Index("ix_model_versions_dataset", model_versions.c.dataset_id, model_versions.c.dataset_version)

aliases = Table(
    "aliases",
    metadata,
    Column("model_id", String(32), nullable=False),
    Column("alias", String(32), nullable=False),
    Column("number", Integer, nullable=False),
    PrimaryKeyConstraint("model_id", "alias", name="pk_aliases"),
    ForeignKeyConstraint(
        ["model_id", "number"], ["model_versions.model_id", "model_versions.number"], ondelete="CASCADE"
    ),
)

approvals = Table(
    "approvals",
    metadata,
    Column("approval_id", String(32), primary_key=True),
    Column("model_id", String(32), nullable=False),
    Column("number", Integer, nullable=False),
    Column("target_stage", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("requested_by", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("gate_outcomes", JSON, nullable=False),
    Column("decided_by", String(255), nullable=False),
    Column("decision_comment", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    ForeignKeyConstraint(
        ["model_id", "number"], ["model_versions.model_id", "model_versions.number"], ondelete="CASCADE"
    ),
)
Index("ix_approvals_model", approvals.c.model_id, approvals.c.state)

automation_rules = Table(
    "automation_rules",
    metadata,
    Column("rule_id", String(32), primary_key=True),
    Column("model_id", String(32), nullable=False),
    Column("dataset_id", String(64), nullable=False),
    Column("algorithm_id", String(128), nullable=False),
    Column("compare_metric", String(128), nullable=False),
    Column("higher_is_better", Boolean, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(["model_id"], ["models.model_id"], ondelete="CASCADE"),
)
Index("ix_automation_rules_watch", automation_rules.c.dataset_id, automation_rules.c.algorithm_id)

# Which deployment serves which version, learned from the serving service's events.
deployments = Table(
    "deployments",
    metadata,
    Column("deployment", String(128), primary_key=True),
    Column("model_name", String(64), nullable=False),
    Column("number", Integer, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_deployments_version", deployments.c.model_name, deployments.c.number)

ALL_TABLES = [models, model_versions, aliases, approvals, automation_rules, deployments]
