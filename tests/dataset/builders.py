"""Small files for ingest tests: images, archives and their hostile variants, built in memory."""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile

from services.dataset.demo.png import Canvas


def png(width: int = 8, height: int = 6) -> bytes:
    return Canvas(width, height, (10, 20, 30)).png()


def png_header(width: int, height: int) -> bytes:
    """Only a PNG's signature and size header: enough to claim any size without the pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + bytes(4)


def jpeg(width: int = 8, height: int = 6) -> bytes:
    """A JPEG's headers up to its frame (all the service reads) and an end marker."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = (
        b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    )
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def zip_bytes(members: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


def zip_with_symlink(name: str, target: str) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo(name)
        info.create_system = 3
        info.external_attr = (0o120777) << 16
        archive.writestr(info, target)
    buffer.seek(0)
    return buffer


def tar_bytes(members: dict[str, bytes], mode: str = "w") -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def tar_with(kind: bytes, name: str = "cat/evil.png", linkname: str = "/etc/passwd") -> io.BytesIO:
    """A TAR whose one member has the given type (tarfile.SYMTYPE, LNKTYPE, CHRTYPE, ...)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = linkname
        archive.addfile(info)
    buffer.seek(0)
    return buffer
