"""The protocol's messages as plain dataclasses. The hot path carries numpy arrays, never pydantic models."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mlops.kernel.errors import NotFound


class ModelNotFound(NotFound):
    def __init__(self, name: str, version: str = "") -> None:
        suffix = f" version {version}" if version else ""
        super().__init__(f"model {name!r}{suffix} is not loaded on this worker")
        self.name = name
        self.version = version


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    # -1 marks a variable dimension, as the protocol says.
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    versions: tuple[str, ...]
    platform: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


@dataclass(frozen=True)
class ServerMetadata:
    name: str
    version: str
    extensions: tuple[str, ...] = ()


@dataclass
class Tensor:
    name: str
    datatype: str
    shape: tuple[int, ...]
    array: np.ndarray


@dataclass
class InferenceRequest:
    model_name: str
    model_version: str = ""
    id: str = ""
    inputs: list[Tensor] = field(default_factory=list)
    requested_outputs: list[str] = field(default_factory=list)
    # The caller's `authorization` value (gRPC metadata or HTTP header); checked by the handler.
    authorization: str | None = None


@dataclass
class InferenceResponse:
    model_name: str
    model_version: str = ""
    id: str = ""
    outputs: list[Tensor] = field(default_factory=list)
