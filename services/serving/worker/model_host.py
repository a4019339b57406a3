"""The inference protocol's logic, written once for the gRPC and REST adapters.

No models are hosted yet: the serving issue adds loading behind `ModelHost`. The hot path will carry
raw bytes and numpy arrays, never per-request pydantic models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import mlops


class ModelNotFound(Exception):
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
    # Row-major bytes, as `raw_input_contents` carries them.
    data: bytes = b""


@dataclass
class InferenceRequest:
    model_name: str
    model_version: str = ""
    id: str = ""
    inputs: list[Tensor] = field(default_factory=list)
    requested_outputs: list[str] = field(default_factory=list)


@dataclass
class InferenceResponse:
    model_name: str
    model_version: str = ""
    id: str = ""
    outputs: list[Tensor] = field(default_factory=list)


class ModelHost(Protocol):
    """What both adapters ask of the worker; the serving issue's loader implements it."""

    def live(self) -> bool: ...

    def ready(self) -> bool: ...

    def server_metadata(self) -> ServerMetadata: ...

    def model_ready(self, name: str, version: str = "") -> bool: ...

    def model_metadata(self, name: str, version: str = "") -> ModelMetadata: ...

    async def infer(self, request: InferenceRequest) -> InferenceResponse: ...


class EmptyModelHost:
    """A host with no models: live and ready, and NOT_FOUND for every model."""

    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        return True

    def server_metadata(self) -> ServerMetadata:
        return ServerMetadata(name="mlops", version=mlops.__version__)

    def model_ready(self, name: str, version: str = "") -> bool:
        return False

    def model_metadata(self, name: str, version: str = "") -> ModelMetadata:
        raise ModelNotFound(name, version)

    async def infer(self, request: InferenceRequest) -> InferenceResponse:
        raise ModelNotFound(request.model_name, request.model_version)
