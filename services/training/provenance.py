"""The code version a run records: the package's version, its git revision and key library versions."""

from __future__ import annotations

import os
import subprocess
from importlib import metadata
from pathlib import Path

from services.training.domain import CodeVersion

LIBRARIES = ("torch", "numpy", "onnx", "onnxruntime", "onnxruntime-gpu", "jsonschema", "celery")


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def git_revision() -> str:
    """MLOPS_GIT_REVISION (set by images built without .git), else the checkout's HEAD, else ''."""
    explicit = os.environ.get("MLOPS_GIT_REVISION")
    if explicit:
        return explicit
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def current_code_version() -> CodeVersion:
    libraries = {name: v for name in LIBRARIES if (v := _version(name)) is not None}
    return CodeVersion(_version("mlops-platform") or "", git_revision(), libraries)
