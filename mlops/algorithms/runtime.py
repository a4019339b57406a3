"""Devices, determinism, ONNX export and onnxruntime sessions, shared by every algorithm."""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import io
import logging
import os
import random
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops.kernel.errors import InvalidArgument

if TYPE_CHECKING:
    import onnxruntime
    import torch

logger = logging.getLogger(__name__)

ONNX_OPSET = 17
# onnxruntime 1.31 loads IR versions up to 13, onnx 1.23 writes 14 by default: pin what we write.
ONNX_IR_VERSION = 8
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> torch.device:
    """Turn 'auto' / 'cpu' / 'cuda[:N]' into a torch device; asking for CUDA without one is an error."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InvalidArgument("CUDA was asked for but no CUDA device is available", field="device")
        return torch.device(device)
    raise InvalidArgument(f"device must be one of {', '.join(DEVICES)}, got {device!r}", field="device")


def seed_everything(seed: int) -> None:
    """Fix every random source and make PyTorch use deterministic kernels.

    The same data, parameters and seed then give byte-identical weights, and so a byte-identical ONNX
    file, on the same machine (same device kind and thread count)."""
    import torch

    # cuBLAS needs this before its first use to run deterministically.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    # On CUDA an operation without a deterministic kernel warns rather than failing the run; on the CPU
    # every operation the built-ins use has one.
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def torch_generator(seed: int) -> torch.Generator:
    import torch

    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def export_onnx(
    model: torch.nn.Module,
    example_inputs: tuple[torch.Tensor, ...],
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: dict[str, dict[int, str]],
) -> bytes:
    """Export with fixed settings (opset, IR version, names, producer) so that equal weights give equal
    bytes. The TorchScript exporter is used on purpose: it needs no onnxscript and its output is stable."""
    import onnx
    import torch

    model = model.to("cpu").eval()
    example_inputs = tuple(t.to("cpu") for t in example_inputs)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            example_inputs,
            buffer,  # type: ignore[arg-type]  # BytesIO is accepted, the stub says paths
            dynamo=False,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes=dynamic_axes,
            opset_version=ONNX_OPSET,
            do_constant_folding=True,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    proto.ir_version = ONNX_IR_VERSION
    proto.producer_name = "mlops-platform"
    proto.producer_version = ""
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def cuda_driver_present() -> bool:
    """onnxruntime-gpu lists the CUDA provider even where no driver is; look for the driver itself."""
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def onnx_providers(device: str) -> list[str]:
    import onnxruntime

    if device not in DEVICES and not device.startswith("cuda"):
        raise InvalidArgument(f"device must be one of {', '.join(DEVICES)}, got {device!r}", field="device")
    cuda_listed = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    if device == "cpu" or (device == "auto" and not (cuda_listed and cuda_driver_present())):
        return ["CPUExecutionProvider"]
    if not cuda_listed:
        raise InvalidArgument("CUDA was asked for but this onnxruntime has no CUDA provider", field="device")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


# Intra-op threads for the sessions that algorithms' `predictor` methods build; a serving worker sets
# it per replica around the call (`session_threads`), so the plug-in contract needs no threads argument.
_SESSION_THREADS: contextvars.ContextVar[int | None] = contextvars.ContextVar("session_threads", default=None)


@contextlib.contextmanager
def session_threads(threads: int | None) -> Iterator[None]:
    """Sessions built inside the block use `threads` intra-op threads unless told otherwise."""
    token = _SESSION_THREADS.set(threads)
    try:
        yield
    finally:
        _SESSION_THREADS.reset(token)


def onnx_session(
    model: bytes, *, device: str = "auto", threads: int | None = None
) -> onnxruntime.InferenceSession:
    """An onnxruntime session on the providers `device` asks for; logs the provider actually taken.

    The session is built from a file, not from the bytes: a session built from bytes keeps them for
    its whole life (to rebuild itself on a provider failure), doubling a hosted model's memory.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    threads = threads if threads is not None else _SESSION_THREADS.get()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    providers = onnx_providers(device)
    with tempfile.TemporaryDirectory(prefix="mlops-onnx-") as folder:
        path = Path(folder) / "model.onnx"
        path.write_bytes(model)
        session = onnxruntime.InferenceSession(str(path), sess_options=options, providers=providers)
    # Its file is gone: a rebuild could not read it. A provider failure surfaces as an error instead.
    session.disable_fallback()
    taken = session.get_providers()
    logger.info("onnxruntime session on %s (asked for %s)", taken[0], device)
    if device.startswith("cuda") and taken[0] != "CUDAExecutionProvider":
        raise InvalidArgument("CUDA was asked for but onnxruntime fell back to the CPU", field="device")
    return session


def to_numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
