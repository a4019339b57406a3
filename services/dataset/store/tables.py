"""The dataset service's own tables. The kernel's (outbox, inbox, audit log) come from its branch.

A version's manifest lives twice, on purpose: as the canonical JSON blob in the object store (its
SHA-256 is the manifest digest, so anyone holding the digest can fetch and verify it) and as rows of
`version_entries`, which the service pages, filters, diffs and restores from without reading S3.

Entry rows are shared by consecutive versions: a row holds one entry for versions `first_version`
through `last_version` (NULL: still open, i.e. extended by the next publish when the draft still
holds the same entry). A publish closes the open rows the draft no longer matches and adds rows for
the rest, so a 1% change writes about 1% of the rows (migration ds0003).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
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

datasets = Table(
    "datasets",
    metadata,
    Column("dataset_id", String(32), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("scenario", String(32), nullable=False),
    Column("owner", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Numbers are never reused, even after a version is deleted.
    Column("latest_version", Integer, nullable=False),
)
Index("ix_datasets_scenario", datasets.c.scenario)
Index("ix_datasets_owner", datasets.c.owner)

samples = Table(
    "samples",
    metadata,
    Column("sample_id", String(32), primary_key=True),
    Column("dataset_id", String(32), nullable=False),
    Column("name", String(512), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("media_type", String(128), nullable=False),
    Column("purpose", String(16), nullable=False),
    # The class label copied out of the annotation so filters need no JSON functions.
    Column("label", String(128), nullable=False),
    Column("annotation", JSON(none_as_null=True), nullable=True),
    Column("metadata", JSON, nullable=False),
    Column("observed_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # The sample's manifest entry as canonical JSON, written with the row so that a publish joins
    # these instead of loading and serialising every sample (migration ds0003; NULL in rows written
    # before it until their next publish fills them).
    Column("entry_json", Text, nullable=True),
    ForeignKeyConstraint(["dataset_id"], ["datasets.dataset_id"], ondelete="CASCADE"),
    UniqueConstraint("dataset_id", "name", name="uq_samples_dataset_name"),
)
Index("ix_samples_sha256", samples.c.sha256)

versions = Table(
    "versions",
    metadata,
    Column("dataset_id", String(32), nullable=False),
    Column("number", Integer, nullable=False),
    Column("scenario", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("manifest_digest", String(64), nullable=False),
    Column("author", String(255), nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sample_count", BigInteger, nullable=False),
    Column("total_bytes", BigInteger, nullable=False),
    Column("counts_per_purpose", JSON, nullable=False),
    Column("counts_per_label", JSON, nullable=False),
    # The unique (dataset_id, number) that makes concurrent publishes yield exactly one version.
    PrimaryKeyConstraint("dataset_id", "number", name="pk_versions"),
    ForeignKeyConstraint(["dataset_id"], ["datasets.dataset_id"], ondelete="CASCADE"),
)
Index("ix_versions_manifest_digest", versions.c.manifest_digest)

version_entries = Table(
    "version_entries",
    metadata,
    Column("dataset_id", String(32), nullable=False),
    Column("name", String(512), nullable=False),
    Column("first_version", Integer, nullable=False),
    Column("last_version", Integer, nullable=True),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("media_type", String(128), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("label", String(128), nullable=False),
    Column("annotation", JSON(none_as_null=True), nullable=True),
    Column("metadata", JSON, nullable=False),
    Column("observed_at", DateTime(timezone=True), nullable=True),
    # As samples.entry_json: what a publish compares the draft's rows with.
    Column("entry_json", Text, nullable=True),
    PrimaryKeyConstraint("dataset_id", "name", "first_version", name="pk_version_entries"),
    ForeignKeyConstraint(["dataset_id"], ["datasets.dataset_id"], ondelete="CASCADE"),
)
Index("ix_version_entries_sha256", version_entries.c.sha256)
# No index on last_version: SQLite would look open rows up by it rather than by name (the primary
# key's prefix), scanning every open row for each sample of a publish.

version_users = Table(
    "version_users",
    metadata,
    Column("dataset_id", String(32), nullable=False),
    Column("number", Integer, nullable=False),
    # "run:<id>" or "model:<name>/v<n>"; learned from other services' events.
    Column("user", String(255), nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("dataset_id", "number", "user", name="pk_version_users"),
)

# Blobs an upload or publish is about to reference: the collector keeps them even before the rows
# that reference them commit.
pending_blobs = Table(
    "pending_blobs",
    metadata,
    Column("reservation_id", String(32), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("reservation_id", "sha256", name="pk_pending_blobs"),
)
Index("ix_pending_blobs_sha256", pending_blobs.c.sha256)

# Blobs a collection is deleting right now: an upload that needs one of them backs off.
doomed_blobs = Table(
    "doomed_blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("marked_at", DateTime(timezone=True), nullable=False),
)

ALL_TABLES = [datasets, samples, versions, version_entries, version_users, pending_blobs, doomed_blobs]

# Where small blobs live when an upload packed them: a pack is one object holding many blobs back
# to back (`packs/sha256/..`, content-addressed), read back with ranged GETs. A blob may sit in
# several packs (stored again after its first pack became garbage); any of them serves it.
packed_blobs = Table(
    "packed_blobs",
    metadata,
    Column("sha256", String(64), nullable=False),
    Column("pack_key", String(255), nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("length", BigInteger, nullable=False),
    PrimaryKeyConstraint("sha256", "pack_key", name="pk_packed_blobs"),
)
Index("ix_packed_blobs_pack_key", packed_blobs.c.pack_key)

# Created by migration ds0002 (ds0001 creates ALL_TABLES as they were then).
PACK_TABLES = [packed_blobs]

# Each blob's CRC-32, recorded when an upload stores it: downloads check what they read against it
# (a tenth of SHA-256's CPU cost). Keyed by content, so a row is never wrong, only possibly unused;
# blobs stored before migration ds0004 have none and are checked against their SHA-256.
blob_checksums = Table(
    "blob_checksums",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("crc32", BigInteger, nullable=False),
)

# Packs the collector rewrote without their unreferenced members: their rows are gone, so nothing
# new reads them, but download links signed before may still point at them, so the object stays
# until those links have expired (services/dataset/packs.py).
retired_packs = Table(
    "retired_packs",
    metadata,
    Column("pack_key", String(255), primary_key=True),
    Column("retired_at", DateTime(timezone=True), nullable=False),
)
