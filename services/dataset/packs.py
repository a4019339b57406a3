"""Small blobs stored many to one object (a pack), so a bulk upload of small samples costs one S3 PUT
per batch instead of one per sample (the server's small-object PUT rate caps per-blob uploads).

A pack is the blobs' bytes back to back, stored under the SHA-256 of its own content; the
`packed_blobs` table says where each blob lies in which pack, and readers fetch a blob with a ranged
GET and verify it against its digest as they would a blob object. The collector deletes a pack once
no member is referenced (the same mark-then-recheck protocol as for blob objects), and rewrites one
whose unreferenced members hold most of its bytes with the referenced ones only (PackPolicy).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from mlops.kernel.objectstore import ObjectStore, safe_key

from .download_plan import MAX_EXPIRY_SECONDS
from .store import DatasetStore, PackedBlob

log = logging.getLogger(__name__)

PACK_PREFIX = "packs/sha256/"
PACK_MEDIA_TYPE = "application/octet-stream"


def pack_key(sha256: str) -> str:
    return safe_key("packs", "sha256", sha256[:2], sha256)


def pack_digest(key: str) -> str:
    """The SHA-256 a pack is stored under (its content's)."""
    return key.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Pack:
    key: str
    content: bytes
    members: tuple[PackedBlob, ...]


def build_pack(blobs: Sequence[tuple[str, bytes]]) -> Pack:
    """(digest, content) pairs, in order, as one pack."""
    members = []
    offset = 0
    for sha256, data in blobs:
        members.append(PackedBlob(sha256, offset, len(data)))
        offset += len(data)
    content = b"".join(data for _, data in blobs)
    key = pack_key(hashlib.sha256(content).hexdigest())
    return Pack(key, content, tuple(PackedBlob(m.sha256, m.offset, m.length, key) for m in members))


async def store_pack(store: DatasetStore, blobs: ObjectStore, pack: Pack) -> None:
    """The object first, then its index rows: a row never names a pack that is not there."""
    await blobs.put_object(pack.key, pack.content, media_type=PACK_MEDIA_TYPE)
    try:
        async with store.unit() as uow:
            await uow.add_packed(pack.key, pack.members)
    except IntegrityError:
        # Another upload indexed the identical pack at the same moment: what is left is indexed now.
        async with store.unit() as uow:
            await uow.add_packed(pack.key, pack.members)


@dataclass
class PackSweep:
    removed_blobs: int = 0
    freed_bytes: int = 0
    repacked: int = 0


@dataclass(frozen=True)
class PackPolicy:
    """When a pack is rewritten, and how long a rewritten one stays.

    A pack whose unreferenced members hold at least `repack_garbage_fraction` of its bytes is
    rewritten with its referenced members only (above 1: never). The old object is kept
    `retired_keep_seconds` after that: download links signed before may still point into it.
    """

    repack_garbage_fraction: float = 0.5
    retired_keep_seconds: float = MAX_EXPIRY_SECONDS


async def sweep_packs(
    store: DatasetStore,
    blobs: ObjectStore,
    cutoff: datetime,
    dry_run: bool,
    now: datetime,
    policy: PackPolicy = PackPolicy(),
) -> PackSweep:
    """Packs older than the cutoff: deleted when no member is referenced, rewritten without their
    garbage when it is most of them, and deleted once retired long enough."""
    sizes: dict[str, int] = {}
    async for info in blobs.iter_objects(PACK_PREFIX):
        if info.last_modified is not None and _aware(info.last_modified, cutoff) < cutoff:
            sizes[info.key] = info.size
    sweep = PackSweep()
    for key, size in sizes.items():
        async with store.unit() as uow:
            members = await uow.pack_contents(key)
            live = await uow.referenced_blobs([m.sha256 for m in members]) if members else set()
            retired_at = None if members else await uow.retired_since(key)
        if retired_at is not None:
            # Its garbage was counted when it was rewritten.
            if not dry_run and (now - retired_at).total_seconds() >= policy.retired_keep_seconds:
                await _delete_retired(store, blobs, key, now)
            continue
        if not live:
            digests = {m.sha256 for m in members}
            if not dry_run and not await _delete_pack(store, blobs, key, digests, now):
                continue
            sweep.removed_blobs += max(1, len(members))
            sweep.freed_bytes += size
            continue
        garbage = [m for m in members if m.sha256 not in live]
        garbage_bytes = sum(m.length for m in garbage)
        if not garbage or garbage_bytes < policy.repack_garbage_fraction * size:
            continue
        if not dry_run and not await _repack(store, blobs, key, members, live, now):
            continue
        sweep.removed_blobs += len(garbage)
        sweep.freed_bytes += garbage_bytes
        sweep.repacked += 1
    return sweep


async def discard_unreferenced(
    store: DatasetStore, blobs: ObjectStore, blob_digests: set[str], pack_keys: set[str], now: datetime
) -> int:
    """Deletes blob objects and packs that a refused upload stored, unless something refers to their
    bytes by now (another upload's reservation or rows, a version): the collector's protocol, without
    its grace period, since these are known to be the upload's own. Returns how many went."""
    removed = 0
    async with _doomed(store, set(blob_digests), now) as ours:
        async with store.unit() as uow:
            live = await uow.referenced_blobs(ours) if ours else set()
        for digest in sorted(ours - live):
            await blobs.delete_blob(digest)
            removed += 1
    for key in sorted(pack_keys):
        async with store.unit() as uow:
            members = {m.sha256 for m in await uow.pack_contents(key)}
        if await _delete_pack(store, blobs, key, members, now):
            removed += 1
    return removed


async def _delete_pack(
    store: DatasetStore, blobs: ObjectStore, key: str, members: set[str], now: datetime
) -> bool:
    """Mark the members doomed, look for references again, then delete; uploads that reserve a
    member after the look wait for the marks to go, then store it anew."""
    async with _doomed(store, members, now):
        async with store.unit() as uow:
            if await uow.referenced_blobs(members):
                return False
        # Rows first: a pack that then fails to go is an orphan, swept by the next collection.
        async with store.unit() as uow:
            await uow.forget_pack(key)
        await blobs.delete_object(key)
        return True


async def _repack(
    store: DatasetStore,
    blobs: ObjectStore,
    key: str,
    members: Sequence[PackedBlob],
    live: set[str],
    now: datetime,
) -> bool:
    """The live members into a new pack, then the old one retired: the garbage members are marked
    doomed meanwhile (as for a delete), so an upload needing one stores it anew."""
    garbage = {m.sha256 for m in members} - live
    async with _doomed(store, garbage, now):
        async with store.unit() as uow:
            if await uow.referenced_blobs(garbage):
                return False
        content = await (await blobs.open_object(key)).read_all()
        kept = []
        for member in members:
            if member.sha256 not in garbage:
                data = content[member.offset : member.offset + member.length]
                if hashlib.sha256(data).hexdigest() != member.sha256:
                    # Rewriting would spread the damage: leave the pack for someone to look at.
                    log.error("pack member does not match its digest", extra={"fields": {"pack": key}})
                    return False
                kept.append((member.sha256, data))
        # The new pack's rows commit before the old one's go: a live member is never without a home.
        await store_pack(store, blobs, build_pack(kept))
        async with store.unit() as uow:
            await uow.retire_pack(key, now)
        return True


async def _delete_retired(store: DatasetStore, blobs: ObjectStore, key: str, now: datetime) -> None:
    """An upload may be storing a pack of the very same bytes (same key) right now: uploads reserve
    a pack's digest before storing it, so the mark-then-recheck protocol covers the pack itself."""
    digest = pack_digest(key)
    async with _doomed(store, {digest}, now):
        async with store.unit() as uow:
            if await uow.referenced_blobs({digest}):
                return
            if await uow.pack_contents(key):
                # Stored anew by an upload and in use again: no longer retired.
                await uow.unretire_pack(key)
                return
        await blobs.delete_object(key)
        async with store.unit() as uow:
            await uow.forget_pack(key)


@asynccontextmanager
async def _doomed(store: DatasetStore, digests: set[str], now: datetime) -> AsyncIterator[set[str]]:
    """Marks on these digests for the block; marks another collection holds are its to lift."""
    async with store.unit() as uow:
        ours = digests - await uow.doomed_among(digests)
        await uow.mark_doomed(ours, now)
    try:
        yield ours
    finally:
        async with store.unit() as uow:
            await uow.unmark_doomed(ours)


def _aware(moment: datetime, like: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=like.tzinfo)
