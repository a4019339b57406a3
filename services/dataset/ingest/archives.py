"""ZIP and TAR members, one at a time, refusing whatever could escape, link or explode.

Members are read while iterating (TAR is read as a stream), so a reader must consume a member's
content before asking for the next one. Sizes are counted as bytes come out, never taken on
trust from headers.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from mlops.kernel.errors import InvalidArgument

from .limits import IngestLimits
from .names import safe_relative_path
from .records import ArchiveBudget, Content, capture, chunks_of

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# GNU long name/link and PAX headers: members that describe the next one.
_HEADER_TYPES = (
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
)
# A member needs at most a long name, a long link, a PAX header and a global one; tarfile recurses once
# per header, so a long chain would end in RecursionError instead of a refusal.
_MAX_TAR_HEADERS_IN_A_ROW = 8


@dataclass(frozen=True)
class ArchiveMember:
    """A regular file inside an archive, under a name already checked by safe_relative_path."""

    name: str
    declared_size: int
    _open: Callable[[], IO[bytes]]
    # None where the member's size was charged from its header (TAR reads exactly that many bytes).
    _budget: ArchiveBudget | None
    _limits: IngestLimits
    _archive: str

    @property
    def source(self) -> str:
        return f"{self._archive}: {self.name}"

    def read(self) -> Content:
        """The member's bytes, hashed and counted against the archive's limits as they come."""
        with self._open() as stream:
            try:
                return capture(
                    chunks_of(stream), source=self.source, limits=self._limits, budget=self._budget
                )
            except (zipfile.BadZipFile, zlib.error, tarfile.TarError, EOFError, OSError) as exc:
                raise InvalidArgument(
                    f"{self.source}: corrupt archive member ({exc})", field="file"
                ) from None


def is_zip(head: bytes) -> bool:
    return head.startswith(_ZIP_MAGIC)


def archive_members(stream: IO[bytes], *, file_name: str, limits: IngestLimits) -> Iterator[ArchiveMember]:
    """Regular-file members of a ZIP or a (possibly compressed) TAR; directories are skipped."""
    head = stream.read(4)
    stream.seek(0)
    if is_zip(head):
        yield from _zip_members(stream, file_name, limits)
    else:
        yield from _tar_members(stream, file_name, limits)


def _zip_members(stream: IO[bytes], file_name: str, limits: IngestLimits) -> Iterator[ArchiveMember]:
    budget = ArchiveBudget(limits, file_name)
    with _opened_zip(stream, file_name) as archive:
        infos = archive.infolist()
        # The central directory is what ZipFile serves from, so counting it bounds what is read.
        if len(infos) > limits.max_archive_members:
            raise InvalidArgument(
                f"{file_name}: {len(infos)} members, more than the limit of {limits.max_archive_members}",
                field="file",
            )
        declared = sum(i.file_size for i in infos)
        if declared > limits.max_uncompressed_bytes:
            raise InvalidArgument(
                f"{file_name}: declares {declared} bytes uncompressed, more than the limit of "
                f"{limits.max_uncompressed_bytes}",
                field="file",
            )
        seen: set[str] = set()
        for info in infos:
            name = safe_relative_path(info.filename, field=f"{file_name}: {info.filename!r}")
            budget.count_member(name)
            # Unix-made zips keep the file type in the high bits; writers that set only permission
            # bits (or no bits) made plain files.
            kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
            if kind == stat.S_IFLNK:
                raise InvalidArgument(f"{file_name}: {info.filename!r} is a symbolic link", field="file")
            if info.is_dir() or kind == stat.S_IFDIR:
                continue
            if kind not in (0, stat.S_IFREG):
                raise InvalidArgument(f"{file_name}: {info.filename!r} is not a regular file", field="file")
            if info.flag_bits & 0x1:
                raise InvalidArgument(f"{file_name}: {info.filename!r} is encrypted", field="file")
            _check_unique(name, seen, file_name)
            yield ArchiveMember(name, info.file_size, _zip_opener(archive, info), budget, limits, file_name)


@contextmanager
def _opened_zip(stream: IO[bytes], file_name: str) -> Iterator[zipfile.ZipFile]:
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise InvalidArgument(f"{file_name}: not a readable ZIP archive ({exc})", field="file") from None
    with archive:
        yield archive


def _zip_opener(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], IO[bytes]]:
    return lambda: archive.open(info)


def _tar_members(stream: IO[bytes], file_name: str, limits: IngestLimits) -> Iterator[ArchiveMember]:
    budget = ArchiveBudget(limits, file_name)
    try:
        # Stream mode reads forward only and keeps no seek table: memory stays flat for any size.
        archive = tarfile.open(
            fileobj=stream, mode="r|*", tarinfo=_guarded_tar_info(budget, limits, file_name)
        )
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        raise InvalidArgument(f"{file_name}: not a ZIP or TAR archive ({exc})", field="file") from None
    seen: set[str] = set()
    with archive:
        iterator = iter(archive)
        while True:
            try:
                member = next(iterator, None)
            except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
                raise InvalidArgument(f"{file_name}: corrupt TAR archive ({exc})", field="file") from None
            if member is None:
                break
            # Stream mode would otherwise remember every header read.
            archive.members = []  # type: ignore[attr-defined]
            name = safe_relative_path(member.name, field=f"{file_name}: {member.name!r}")
            budget.count_member(name)
            _check_tar_type(member, file_name)
            if member.isdir():
                continue
            if member.size > limits.max_sample_bytes:
                raise InvalidArgument(
                    f"{file_name}: {member.name!r} holds {member.size} bytes, more than the limit of "
                    f"{limits.max_sample_bytes} per sample",
                    field="file",
                )
            _check_unique(name, seen, file_name)
            # Charged whether or not the reader reads it: a skipped member is still decompressed.
            budget.charge(member.size, name)
            yield ArchiveMember(name, member.size, _tar_opener(archive, member), None, limits, file_name)


def _guarded_tar_info(budget: ArchiveBudget, limits: IngestLimits, file_name: str) -> type[tarfile.TarInfo]:
    """A TarInfo that vets header members before tarfile reads them whole into memory.

    tarfile holds a GNU long name/link or a PAX header in one buffer sized by the header's own size
    field, and chains such headers by recursion: both happen inside next(), before any member reaches
    the budget. Exceptions raised here leave next() and tarfile.open() as they are.
    """
    guard = _TarHeaderGuard(budget, limits, file_name)

    class GuardedTarInfo(tarfile.TarInfo):
        def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
            guard.vet(self)
            return super()._proc_member(archive)  # type: ignore[misc]

        def _proc_gnusparse_10(self, next: object, pax_headers: object, archive: object) -> None:
            # GNU sparse 1.0 reads its map from the data blocks, unbounded; no image is sparse.
            raise InvalidArgument(f"{file_name}: a sparse file (at byte {self.offset})", field="file")

    return GuardedTarInfo


class _TarHeaderGuard:
    """What one archive's headers may cost, checked before tarfile reads each one."""

    def __init__(self, budget: ArchiveBudget, limits: IngestLimits, file_name: str) -> None:
        self.budget = budget
        self.limits = limits
        self.file_name = file_name
        self.in_a_row = 0
        # Global PAX headers accumulate in one dict that every later member is patched from.
        self.global_bytes = 0

    def vet(self, header: tarfile.TarInfo) -> None:
        where = f"{self.file_name}: TAR header block at byte {header.offset}"
        if header.type not in _HEADER_TYPES:
            self.in_a_row = 0
            if header.type == tarfile.GNUTYPE_SPARSE:
                # Its map is read block after block, unbounded, before the member comes out.
                raise InvalidArgument(f"{where}: {header.name!r} is a sparse file", field="file")
            return
        self.in_a_row += 1
        if self.in_a_row > _MAX_TAR_HEADERS_IN_A_ROW:
            raise InvalidArgument(
                f"{where}: more than {_MAX_TAR_HEADERS_IN_A_ROW} extended headers in a row", field="file"
            )
        limit = self.limits.max_tar_header_bytes
        if not 0 <= header.size <= limit:
            raise InvalidArgument(
                f"{where}: an extended header of {header.size} bytes, more than the limit of {limit}",
                field="file",
            )
        if header.type == tarfile.XGLTYPE:
            self.global_bytes += header.size
            if self.global_bytes > limit:
                raise InvalidArgument(
                    f"{where}: global headers of more than {limit} bytes in all", field="file"
                )
        # What reading it decompresses: its header block and its data blocks.
        self.budget.charge(tarfile.BLOCKSIZE + _blocks(header.size), header.name)


def _blocks(size: int) -> int:
    return -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE


def _check_tar_type(member: tarfile.TarInfo, file_name: str) -> None:
    where = f"{file_name}: {member.name!r}"
    if member.issym():
        raise InvalidArgument(f"{where} is a symbolic link (to {member.linkname!r})", field="file")
    if member.islnk():
        raise InvalidArgument(f"{where} is a hard link (to {member.linkname!r})", field="file")
    if member.isdev():
        raise InvalidArgument(f"{where} is a device or FIFO", field="file")
    if not (member.isreg() or member.isdir()):
        raise InvalidArgument(f"{where} is not a regular file", field="file")


def _tar_opener(archive: tarfile.TarFile, member: tarfile.TarInfo) -> Callable[[], IO[bytes]]:
    def open_member() -> IO[bytes]:
        handle = archive.extractfile(member)
        assert handle is not None  # regular files always have content
        return handle

    return open_member


def _check_unique(name: str, seen: set[str], file_name: str) -> None:
    if name in seen:
        raise InvalidArgument(f"{file_name}: {name!r} appears twice", field="file")
    seen.add(name)
