"""Small blobs stored many to one object (a pack), so a bulk upload of small samples costs one S3 PUT
per batch instead of one per sample (the server's small-object PUT rate caps per-blob uploads).

A pack is the blobs' bytes back to back, stored under the SHA-256 of its own content; the
`packed_blobs` table says where each blob lies in which pack, and readers fetch a blob with a ranged
GET and verify it against its digest as they would a blob object. The collector deletes a pack once
no member is referenced (the same mark-then-recheck protocol as for blob objects); a pack with any
live member is kept whole.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from mlops.kernel.objectstore import ObjectStore, safe_key

from .store import DatasetStore, PackedBlob

log = logging.getLogger(__name__)

PACK_PREFIX = "packs/sha256/"
PACK_MEDIA_TYPE = "application/octet-stream"


def pack_key(sha256: str) -> str:
    return safe_key("packs", "sha256", sha256[:2], sha256)


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


async def sweep_packs(
    store: DatasetStore, blobs: ObjectStore, cutoff: datetime, dry_run: bool, now: datetime
) -> PackSweep:
    """Deletes packs older than the cutoff whose members no draft, version or reservation names."""
    sizes: dict[str, int] = {}
    async for info in blobs.iter_objects(PACK_PREFIX):
        if info.last_modified is not None and _aware(info.last_modified, cutoff) < cutoff:
            sizes[info.key] = info.size
    sweep = PackSweep()
    for key, size in sizes.items():
        async with store.unit() as uow:
            members = await uow.pack_members(key)
            live = await uow.referenced_blobs(members) if members else set()
        if live:
            continue
        if not dry_run and not await _delete_pack(store, blobs, key, members, now):
            continue
        sweep.removed_blobs += max(1, len(members))
        sweep.freed_bytes += size
    return sweep


async def _delete_pack(
    store: DatasetStore, blobs: ObjectStore, key: str, members: set[str], now: datetime
) -> bool:
    """Mark the members doomed, look for references again, then delete; uploads that reserve a
    member after the look wait for the marks to go, then store it anew."""
    async with store.unit() as uow:
        # Marks another collection holds are its to lift.
        ours = members - await uow.doomed_among(members)
        await uow.mark_doomed(ours, now)
    try:
        async with store.unit() as uow:
            if await uow.referenced_blobs(members):
                return False
        # Rows first: a pack that then fails to go is an orphan, swept by the next collection.
        async with store.unit() as uow:
            await uow.forget_pack(key)
        await blobs.delete_object(key)
        return True
    finally:
        async with store.unit() as uow:
            await uow.unmark_doomed(ours)


def _aware(moment: datetime, like: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=like.tzinfo)
