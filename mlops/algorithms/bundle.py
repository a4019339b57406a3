"""The model bundle: everything serving needs, as a directory or a zip.

Layout: model.onnx, preprocessing.json (vocabulary, scaling statistics, label names, thresholds),
signature.json (inputs/outputs with KServe V2 datatypes, -1 for a variable dimension), bundle.json
(algorithm id and version, metrics, parameters, the ONNX file's SHA-256) and model_card.md.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.kernel.errors import InvalidArgument

BUNDLE_FORMAT = 1
KSERVE_DATATYPES = frozenset(
    {
        "BOOL",
        "UINT8",
        "UINT16",
        "UINT32",
        "UINT64",
        "INT8",
        "INT16",
        "INT32",
        "INT64",
        "FP16",
        "FP32",
        "FP64",
        "BYTES",
    }
)
_ONNX = "model.onnx"
_PREPROCESSING = "preprocessing.json"
_SIGNATURE = "signature.json"
_MANIFEST = "bundle.json"
_MODEL_CARD = "model_card.md"
# A fixed timestamp keeps zips byte-identical for identical contents.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class BundleError(InvalidArgument):
    """A bundle is malformed or does not match its declared signature."""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.datatype not in KSERVE_DATATYPES:
            raise BundleError(f"unknown KServe V2 datatype {self.datatype!r}", field=self.name)
        if any(d < -1 or d == 0 for d in self.shape):
            raise BundleError("dimensions are positive or -1 (variable)", field=self.name)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TensorSpec:
        return cls(name=data["name"], datatype=data["datatype"], shape=tuple(int(d) for d in data["shape"]))


@dataclass(frozen=True)
class Signature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def to_json(self) -> dict[str, Any]:
        return {"inputs": [t.to_json() for t in self.inputs], "outputs": [t.to_json() for t in self.outputs]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Signature:
        return cls(
            inputs=tuple(TensorSpec.from_json(t) for t in data["inputs"]),
            outputs=tuple(TensorSpec.from_json(t) for t in data["outputs"]),
        )


@dataclass
class ModelBundle:
    algorithm_id: str
    algorithm_version: str
    onnx_model: bytes
    signature: Signature
    preprocessing: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    model_card: str = ""

    @property
    def onnx_sha256(self) -> str:
        return hashlib.sha256(self.onnx_model).hexdigest()

    def manifest(self) -> dict[str, Any]:
        return {
            "format": BUNDLE_FORMAT,
            "algorithm": {"id": self.algorithm_id, "version": self.algorithm_version},
            "onnx_sha256": self.onnx_sha256,
            "metrics": self.metrics,
            "parameters": self.parameters,
        }

    def files(self) -> dict[str, bytes]:
        """The bundle's files by name, each serialized deterministically."""
        return {
            _MANIFEST: _json_bytes(self.manifest()),
            _MODEL_CARD: self.model_card.encode(),
            _ONNX: self.onnx_model,
            _PREPROCESSING: _json_bytes(self.preprocessing),
            _SIGNATURE: _json_bytes(self.signature.to_json()),
        }

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in self.files().items():
            (directory / name).write_bytes(data)
        return directory

    def to_zip(self) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in sorted(self.files().items()):
                info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, data)
        return buffer.getvalue()

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> ModelBundle:
        missing = [n for n in (_MANIFEST, _ONNX, _PREPROCESSING, _SIGNATURE) if n not in files]
        if missing:
            raise BundleError(f"bundle lacks {', '.join(missing)}", field="bundle")
        manifest = json.loads(files[_MANIFEST])
        if manifest.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"unsupported bundle format {manifest.get('format')!r}", field="bundle")
        onnx_model = files[_ONNX]
        if hashlib.sha256(onnx_model).hexdigest() != manifest["onnx_sha256"]:
            raise BundleError("model.onnx does not match the SHA-256 in bundle.json", field="bundle")
        return cls(
            algorithm_id=manifest["algorithm"]["id"],
            algorithm_version=manifest["algorithm"]["version"],
            onnx_model=onnx_model,
            signature=Signature.from_json(json.loads(files[_SIGNATURE])),
            preprocessing=json.loads(files[_PREPROCESSING]),
            metrics=manifest.get("metrics", {}),
            parameters=manifest.get("parameters", {}),
            model_card=files.get(_MODEL_CARD, b"").decode(),
        )

    @classmethod
    def load(cls, path: Path) -> ModelBundle:
        """Load from a bundle directory or a .zip file."""
        if path.is_dir():
            return cls.from_files({p.name: p.read_bytes() for p in path.iterdir() if p.is_file()})
        return cls.from_zip(path.read_bytes())

    @classmethod
    def from_zip(cls, data: bytes) -> ModelBundle:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            # Only the known flat names are read: member paths never touch the file system.
            names = {_MANIFEST, _MODEL_CARD, _ONNX, _PREPROCESSING, _SIGNATURE}
            return cls.from_files({n: archive.read(n) for n in archive.namelist() if n in names})


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()
