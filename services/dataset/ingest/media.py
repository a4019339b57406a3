"""Content types from magic bytes, never from names alone, and image sizes from their headers."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from mlops.kernel.errors import InvalidArgument

PNG = "image/png"
JPEG = "image/jpeg"
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8\xff"
# Enough header to find a JPEG's frame even behind large EXIF/ICC segments.
SNIFF_BYTES = 512 * 1024
_IMAGE_EXTENSIONS = {".png": PNG, ".jpg": JPEG, ".jpeg": JPEG}
# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE_MARKERS = {0x01, *range(0xD0, 0xD8)}


@dataclass(frozen=True)
class ImageInfo:
    media_type: str
    width: int
    height: int


def image_type_by_extension(name: str) -> str | None:
    dot = name.rfind(".")
    return _IMAGE_EXTENSIONS.get(name[dot:].lower()) if dot > 0 else None


def normalise_media_type(value: str) -> str:
    value = value.split(";", 1)[0].strip().lower()
    return JPEG if value in ("image/jpg", "image/pjpeg") else value


def inspect_image(head: bytes, *, source: str, max_pixels: int) -> ImageInfo:
    """The image's type and size, or InvalidArgument saying why the bytes are not a usable image."""
    if head.startswith(_PNG_SIGNATURE):
        info = _png_info(head, source)
    elif head.startswith(_JPEG_SIGNATURE):
        info = _jpeg_info(head, source)
    else:
        raise InvalidArgument(f"{source}: not a PNG or JPEG image (unknown magic bytes)", field="file")
    if info.width <= 0 or info.height <= 0:
        raise InvalidArgument(f"{source}: image has no pixels ({info.width}x{info.height})", field="file")
    if info.width * info.height > max_pixels:
        raise InvalidArgument(
            f"{source}: {info.width}x{info.height} image exceeds the limit of {max_pixels} pixels",
            field="file",
        )
    return info


def check_declared_type(declared: str | None, actual: ImageInfo, *, source: str) -> None:
    """A declared content type (header or file extension) must agree with the bytes."""
    if not declared:
        return
    declared = normalise_media_type(declared)
    if declared in ("application/octet-stream", ""):
        return
    if declared != actual.media_type:
        raise InvalidArgument(
            f"{source}: declared as {declared} but the content is {actual.media_type}", field="media_type"
        )


def _png_info(head: bytes, source: str) -> ImageInfo:
    # The IHDR chunk must come first: length(4) type(4) width(4) height(4).
    if len(head) < 24 or head[12:16] != b"IHDR":
        raise InvalidArgument(f"{source}: truncated PNG (no IHDR header)", field="file")
    width, height = struct.unpack(">II", head[16:24])
    return ImageInfo(PNG, width, height)


def _jpeg_info(head: bytes, source: str) -> ImageInfo:
    offset = 2
    while offset + 4 <= len(head):
        if head[offset] != 0xFF:
            raise InvalidArgument(f"{source}: corrupt JPEG (bad marker at byte {offset})", field="file")
        marker = head[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in _STANDALONE_MARKERS:
            offset += 2
            continue
        if marker in (0xD9, 0xDA):
            break
        (length,) = struct.unpack(">H", head[offset + 2 : offset + 4])
        if marker in _SOF_MARKERS:
            if offset + 9 > len(head):
                break
            height, width = struct.unpack(">HH", head[offset + 5 : offset + 9])
            return ImageInfo(JPEG, width, height)
        if length < 2:
            raise InvalidArgument(f"{source}: corrupt JPEG (segment length {length})", field="file")
        offset += 2 + length
    raise InvalidArgument(f"{source}: truncated or corrupt JPEG (no frame header)", field="file")


def check_utf8_text(data: bytes, *, source: str) -> str:
    if b"\x00" in data:
        raise InvalidArgument(f"{source}: binary content (NUL bytes), expected text", field="file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"{source}: not UTF-8 text (byte {exc.start})", field="file") from None
