"""Images: single files and ImageFolder archives (`<label>/<file>` or `<purpose>/<label>/<file>`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from mlops.kernel.errors import InvalidArgument

from ..domain import Label, Purpose, check_label, is_purpose_name
from .archives import ArchiveMember, archive_members
from .limits import IngestLimits
from .media import SNIFF_BYTES, ImageInfo, check_declared_type, image_type_by_extension, inspect_image
from .records import Content, IngestedSample, capture, chunks_of, head_of, sample_from


def is_ignorable(path: str) -> bool:
    """Files archivers add on their own (macOS resource forks, hidden files)."""
    parts = path.split("/")
    return parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts)


def checked_image(content: Content, *, source: str, declared: str | None, limits: IngestLimits) -> ImageInfo:
    info = inspect_image(head_of(content, SNIFF_BYTES), source=source, max_pixels=limits.max_image_pixels)
    check_declared_type(declared, info, source=source)
    return info


def read_image_file(
    stream: IO[bytes], *, file_name: str, media_type: str, limits: IngestLimits
) -> Iterator[IngestedSample]:
    """One uploaded image is one sample; its bytes must be the PNG or JPEG its type and name say."""
    content = capture(chunks_of(stream), source=file_name, limits=limits)
    try:
        info = checked_image(content, source=file_name, declared=media_type, limits=limits)
        check_declared_type(image_type_by_extension(file_name), info, source=file_name)
    except BaseException:
        _discard(content)
        raise
    yield sample_from(
        content,
        name=file_name,
        media_type=info.media_type,
        source=file_name,
        metadata={"width": info.width, "height": info.height},
    )


def read_image_folder(
    stream: IO[bytes], *, file_name: str, limits: IngestLimits, labelled: bool = True
) -> Iterator[IngestedSample]:
    """Images from a ZIP/TAR; the folder holding an image is its label (unless `labelled` is false)."""
    count = 0
    for member in archive_members(stream, file_name=file_name, limits=limits):
        if is_ignorable(member.name):
            continue
        label, purpose = _layout(member, file_name, labelled)
        content = member.read()
        try:
            info = checked_image(
                content, source=member.source, declared=_declared_type(member), limits=limits
            )
        except BaseException:
            _discard(content)
            raise
        count += 1
        yield sample_from(
            content,
            name=member.name,
            media_type=info.media_type,
            source=member.source,
            annotation=Label(label) if label else None,
            purpose=purpose,
            metadata={"width": info.width, "height": info.height},
        )
    if count == 0:
        raise InvalidArgument(f"{file_name}: the archive holds no images", field="file")


def _declared_type(member: ArchiveMember) -> str:
    declared = image_type_by_extension(member.name)
    if declared is None:
        raise InvalidArgument(
            f"{member.source}: not an image name (expected .png, .jpg or .jpeg)", field="file"
        )
    return declared


def _layout(member: ArchiveMember, file_name: str, labelled: bool) -> tuple[str, Purpose | None]:
    parts = member.name.split("/")
    if not labelled:
        return "", None
    if len(parts) == 2:
        return check_label(parts[0], field=member.source), None
    if len(parts) == 3:
        if not is_purpose_name(parts[0]):
            raise InvalidArgument(
                f"{member.source}: unknown purpose folder {parts[0]!r}; the layout is <label>/<file> "
                "or <training|validation|testing>/<label>/<file>",
                field="file",
            )
        return check_label(parts[1], field=member.source), Purpose.parse(parts[0])
    raise InvalidArgument(
        f"{member.source}: expected <label>/<file> or <purpose>/<label>/<file> (ImageFolder layout)",
        field="file",
    )


def _discard(content: Content) -> None:
    if content.spool is not None:
        content.spool.close()
