"""Checks of outside ONNX uploads: formats refused by their bytes, external data, signatures."""

from __future__ import annotations

import os
import pickle
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from mlops.kernel.errors import InvalidArgument, ResourceExhausted
from services.registry.uploads import check_onnx, spool_upload

from .builders import external_data_onnx, tiny_onnx, tiny_signature


class Exploding:
    """Deserialising a pickle of this would run code; the check must refuse it from its bytes alone."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("pwned",))


def test_a_good_model_becomes_an_external_bundle() -> None:
    bundle = check_onnx(tiny_onnx(), tiny_signature())
    assert bundle.algorithm_id == "external-onnx"
    assert bundle.signature == tiny_signature()


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_pickles_are_refused_without_loading(protocol: int, monkeypatch: pytest.MonkeyPatch) -> None:
    data = pickle.dumps(Exploding(), protocol=protocol)

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a pickle was deserialised")

    monkeypatch.setattr(pickle, "loads", never)
    monkeypatch.setattr(pickle, "load", never)
    with pytest.raises(InvalidArgument, match=r"pickle|not an ONNX"):
        check_onnx(data, tiny_signature())


def test_zips_and_other_formats_are_refused() -> None:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": 1}))
    for data, match in [
        (buffer.getvalue(), "zip"),
        (b"\x89HDF\r\n\x1a\n" + b"\0" * 64, "HDF5"),
        (b"not a model at all", "not an ONNX"),
        (b"", "empty"),
    ]:
        with pytest.raises(InvalidArgument, match=match):
            check_onnx(data, tiny_signature())


def test_corrupt_onnx_is_refused() -> None:
    data = tiny_onnx()
    with pytest.raises(InvalidArgument, match="ONNX"):
        check_onnx(data[: len(data) // 2], tiny_signature())


@pytest.mark.parametrize(
    ("location", "match"),
    [
        ("../../etc/passwd", "outside the bundle"),
        ("/etc/passwd", "absolute"),
        ("C:\\weights.bin", "absolute"),
        ("weights.bin", "cannot carry"),
    ],
)
def test_external_data_references_are_refused(location: str, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        check_onnx(external_data_onnx(location), tiny_signature())


def test_signature_mismatch_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="differ"):
        check_onnx(tiny_onnx(), tiny_signature(input_name="features"))
    with pytest.raises(InvalidArgument, match="shape"):
        check_onnx(tiny_onnx(), tiny_signature(width=4))
    with pytest.raises(InvalidArgument, match="datatype"):
        check_onnx(tiny_onnx(), tiny_signature(datatype="INT64"))


async def test_spooling_stops_at_the_size_limit(tmp_path: Path) -> None:
    async def chunks(count: int):  # type: ignore[no-untyped-def]
        for _ in range(count):
            yield b"x" * 1000

    path = await spool_upload(chunks(3), tmp_path, 3000)
    assert path.stat().st_size == 3000
    with pytest.raises(ResourceExhausted):
        await spool_upload(chunks(4), tmp_path, 3000)
    assert sorted(os.listdir(tmp_path)) == [path.name]
