"""Checks of an uploaded outside model, before anything parses it as more than bytes.

Order matters: the size limit while spooling, then magic bytes (pickles, archives and executables are
refused by their first bytes and never deserialised), then the ONNX protobuf (parsing protobuf runs no
code), then external-data references (a model may not name files: onnxruntime would read them from the
server's disk), then the onnx checker, then onnxruntime loads it and the signature must match.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath, PureWindowsPath

from mlops.algorithms.bundle import BundleError, ModelBundle, Signature
from mlops.algorithms.external import external_bundle
from mlops.kernel.errors import InvalidArgument, ResourceExhausted

log = logging.getLogger(__name__)

# Formats people try to upload instead of ONNX, by their leading bytes.
_MAGIC: list[tuple[bytes, str]] = [
    (b"PK\x03\x04", "a zip archive (PyTorch, Keras and joblib checkpoints are zips of pickles)"),
    (b"\x1f\x8b", "a gzip stream"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (Keras)"),
    (b"\x93NUMPY", "a NumPy array file"),
    (b"\x7fELF", "an executable (ELF)"),
    (b"MZ", "an executable (PE)"),
    (b"#!", "a script"),
]
# Protocol 0 and 1 pickles begin with one of these opcodes and end with STOP (".").
_OLD_PICKLE_OPCODES = b"(cd}]lKIJFSVUX"
_ONNX_FIRST_BYTE = 0x08  # ModelProto field 1 (ir_version, varint): every writer puts it first.


def refuse_foreign_format(head: bytes, tail: bytes) -> None:
    """Refuse pickles and other non-ONNX formats from their first and last bytes alone."""
    if not head:
        raise InvalidArgument("the upload is empty", field="chunk")
    if head[0] == 0x80 and len(head) > 1 and 2 <= head[1] <= 5:
        raise InvalidArgument(
            "the upload is a Python pickle; pickles are never loaded: export to ONNX", field="chunk"
        )
    if head[0] in _OLD_PICKLE_OPCODES and tail.endswith(b"."):
        raise InvalidArgument(
            "the upload looks like a Python pickle; pickles are never loaded", field="chunk"
        )
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise InvalidArgument(f"the upload is {what}, not an ONNX model", field="chunk")
    if head[257:262] == b"ustar":
        raise InvalidArgument("the upload is a tar archive, not an ONNX model", field="chunk")
    if head[0] != _ONNX_FIRST_BYTE:
        raise InvalidArgument("the upload is not an ONNX model (no ONNX ModelProto header)", field="chunk")


def check_external_location(location: str) -> None:
    """Every external-data reference is refused; the ones escaping the bundle get the sharper message."""
    posix, windows = PurePosixPath(location), PureWindowsPath(location)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or location.startswith(("/", "\\")):
        raise InvalidArgument(
            f"external data {location!r} is an absolute path outside the bundle", field="chunk"
        )
    if ".." in posix.parts or ".." in windows.parts:
        raise InvalidArgument(f"external data {location!r} points outside the bundle", field="chunk")
    # The upload is one file: a relative name could only resolve to a file (or a link) on our disk.
    raise InvalidArgument(
        f"the model references external data {location!r}, which an upload cannot carry: "
        "save the model with its tensors inside the file",
        field="chunk",
    )


def check_onnx(data: bytes, declared: Signature) -> ModelBundle:
    """Parse, check and load the model; the bundle it becomes. Blocking: call in a thread."""
    import onnx
    from onnx import external_data_helper

    refuse_foreign_format(data[:512], data[-8:])
    try:
        model = onnx.ModelProto.FromString(data)
    except Exception as error:
        raise InvalidArgument(f"the upload is not an ONNX model: {error}", field="chunk") from None
    if not model.HasField("graph"):
        raise InvalidArgument("the upload is not an ONNX model: it has no graph", field="chunk")
    for tensor in external_data_helper._get_all_tensors(model):
        if external_data_helper.uses_external_data(tensor):
            info = {entry.key: entry.value for entry in tensor.external_data}
            check_external_location(info.get("location", ""))
    try:
        onnx.checker.check_model(model)
    except Exception as error:
        raise InvalidArgument(f"the ONNX checker refused the model: {error}", field="chunk") from None
    try:
        return external_bundle(data, declared)
    except BundleError as error:
        raise InvalidArgument(error.message, field=error.field or "signature") from None


async def spool_upload(chunks: AsyncIterator[bytes], directory: Path | None, limit: int) -> Path:
    """Write the upload's chunks to a temporary file, refusing it as soon as it passes `limit` bytes."""
    if directory is not None:
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="upload-", suffix=".onnx", dir=directory)
    path = Path(name)
    size = 0
    try:
        with os.fdopen(handle, "wb") as spool:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise ResourceExhausted(f"the upload exceeds the {limit} byte limit", field="chunk")
                spool.write(chunk)
    except BaseException:
        await asyncio.to_thread(path.unlink, True)
        raise
    return path
