"""Images and archives: ImageFolder layout, magic bytes, and every way an archive can attack."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

import pytest

from mlops.kernel.errors import InvalidArgument
from services.dataset.domain import Label, Purpose, Scenario
from services.dataset.ingest import (
    IngestedSample,
    IngestLimits,
    UploadFormat,
    UploadSpec,
    collect_upload,
    read_upload,
    validate_upload,
)

from .builders import jpeg, png, png_header, tar_bytes, tar_with, zip_bytes, zip_with_symlink

LIMITS = IngestLimits()


def images(
    stream: io.BytesIO, limits: IngestLimits = LIMITS, scenario: Scenario = Scenario.IMAGE_CLASSIFICATION
) -> list[IngestedSample]:
    spec = UploadSpec(file_name="upload.zip", format=UploadFormat.IMAGE_ARCHIVE)
    return collect_upload(stream, scenario=scenario, spec=spec, limits=limits)


def single(
    data: bytes, file_name: str = "cat.png", media_type: str = "", **spec: object
) -> list[IngestedSample]:
    upload = UploadSpec(file_name=file_name, format=UploadFormat.FILE, media_type=media_type, **spec)  # type: ignore[arg-type]
    return list(
        read_upload(io.BytesIO(data), scenario=Scenario.IMAGE_CLASSIFICATION, spec=upload, limits=LIMITS)
    )


@pytest.mark.parametrize(
    "build", [zip_bytes, tar_bytes, lambda m: tar_bytes(m, "w:gz")], ids=["zip", "tar", "tgz"]
)
def test_an_image_folder_archive_gives_labelled_samples(build) -> None:  # type: ignore[no-untyped-def]
    stream = build(
        {
            "cat/1.png": png(4, 3),
            "dog/2.jpg": jpeg(5, 7),
            "test/cat/3.png": png(),
            "__MACOSX/cat/._1.png": b"junk",
            "cat/.DS_Store": b"junk",
        }
    )
    samples = {s.name: s for s in images(stream)}
    assert sorted(samples) == ["cat/1.png", "dog/2.jpg", "test/cat/3.png"]
    assert samples["cat/1.png"].annotation == Label("cat") and samples["cat/1.png"].purpose is None
    assert samples["cat/1.png"].metadata == {"width": 4, "height": 3}
    assert samples["dog/2.jpg"].media_type == "image/jpeg" and samples["dog/2.jpg"].metadata["height"] == 7
    assert samples["test/cat/3.png"].purpose is Purpose.TESTING
    assert samples["cat/1.png"].read_bytes() == png(4, 3)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"../../etc/cron.d/x.png": png()}, r"climbs out"),
        ({"/etc/x.png": png()}, r"absolute"),
        ({"cat/..%2f..%2fx.png": png()}, r"climbs out"),
        ({"%2e%2e%2fcat/x.png": png()}, r"climbs out"),
        ({"cat\\..\\..\\x.png": png()}, r"backslash"),
        ({"x.png": png()}, r"expected <label>/<file>"),
        ({"a/b/c/x.png": png()}, r"expected <label>/<file>"),
        ({"holdout/cat/x.png": png()}, r"unknown purpose folder 'holdout'"),
        ({"cat/readme.txt": b"hello"}, r"not an image name"),
        ({"cat/x.png": b"GIF89a......"}, r"cat/x.png: not a PNG or JPEG"),
        ({"cat/x.png": jpeg()}, r"declared as image/png but the content is image/jpeg"),
        ({"cat/x.png": png()[:20]}, r"truncated PNG"),
        ({"cat/x.jpg": b"\xff\xd8\xff\xe0\x00"}, r"corrupt JPEG"),
        ({}, r"holds no images"),
    ],
)
def test_bad_archive_members_are_refused_by_name(members: dict[str, bytes], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        images(zip_bytes(members))
    with pytest.raises(InvalidArgument, match=message):
        images(tar_bytes(members))


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (tarfile.SYMTYPE, r"symbolic link \(to '/etc/passwd'\)"),
        (tarfile.LNKTYPE, r"hard link"),
        (tarfile.CHRTYPE, r"device or FIFO"),
        (tarfile.BLKTYPE, r"device or FIFO"),
        (tarfile.FIFOTYPE, r"device or FIFO"),
    ],
)
def test_tar_links_and_devices_are_refused(kind: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        images(tar_with(kind))


def test_zip_symlinks_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="symbolic link"):
        images(zip_with_symlink("cat/x.png", "/etc/passwd"))


def test_duplicate_members_are_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning):
        archive.writestr("cat/x.png", png())
        archive.writestr("cat/x.png", png())
    buffer.seek(0)
    with pytest.raises(InvalidArgument, match="appears twice"):
        images(buffer)


def test_archive_member_count_is_limited() -> None:
    members = {f"cat/{i}.png": png() for i in range(6)}
    limits = IngestLimits(max_archive_members=5)
    with pytest.raises(InvalidArgument, match="more than the limit of 5"):
        images(zip_bytes(members), limits)
    with pytest.raises(InvalidArgument, match="more than 5 members"):
        images(tar_bytes(members), limits)


def test_a_zip_bomb_is_refused_by_its_expanded_size() -> None:
    # 20 MB of zeros compresses to about 20 KB.
    bomb = zip_bytes({"cat/a.png": png() + bytes(10_000_000), "cat/b.png": png() + bytes(10_000_000)})
    assert len(bomb.getvalue()) < 100_000
    limits = IngestLimits(max_uncompressed_bytes=15_000_000)
    with pytest.raises(InvalidArgument, match="limit of 15000000"):
        images(bomb, limits)


def test_a_tgz_bomb_is_refused_while_streaming() -> None:
    bomb = tar_bytes({f"cat/{i}.png": png() + bytes(4_000_000) for i in range(5)}, "w:gz")
    assert len(bomb.getvalue()) < 200_000
    with pytest.raises(InvalidArgument, match=r"expands past the limit of 10000000 bytes \(at 'cat/2.png'\)"):
        images(bomb, IngestLimits(max_uncompressed_bytes=10_000_000))


def test_a_zip_whose_headers_understate_sizes_is_refused() -> None:
    """Headers say 10 bytes; the data is megabytes: reading stops at the claim and the CRC fails."""
    data = png() + bytes(2_000_000)
    stream = zip_bytes({"cat/a.png": data})
    raw = bytearray(stream.getvalue())
    info = zipfile.ZipFile(io.BytesIO(bytes(raw))).getinfo("cat/a.png")
    real = info.file_size.to_bytes(4, "little")
    lie = (10).to_bytes(4, "little")
    assert raw.count(real) == 2  # local header and central directory
    patched = io.BytesIO(bytes(raw).replace(real, lie))
    with pytest.raises(InvalidArgument, match=r"cat/a.png: corrupt archive member \(Bad CRC"):
        images(patched)


def test_a_member_over_the_sample_limit_is_refused() -> None:
    limits = IngestLimits(max_sample_bytes=1000)
    big = {"cat/big.png": png() + bytes(5000)}
    with pytest.raises(InvalidArgument, match="limit of 1000 bytes per sample"):
        images(zip_bytes(big), limits)
    with pytest.raises(InvalidArgument, match="more than the limit of 1000 per sample"):
        images(tar_bytes(big), limits)


def test_large_samples_are_spooled_to_disk() -> None:
    limits = IngestLimits(spool_threshold_bytes=1000)
    samples = images(zip_bytes({"cat/big.png": png() + bytes(5000), "cat/small.png": png()}), limits)
    big, small = sorted(samples, key=lambda s: s.name)
    assert big.data is None and big.spool is not None and big.size_bytes == len(png()) + 5000
    assert big.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert small.data == png() and small.spool is None
    big.close()
    assert big.spool is None


def test_not_an_archive_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="not a ZIP or TAR"):
        images(io.BytesIO(b"just some text, certainly not a tar file" * 20))
    with pytest.raises(InvalidArgument, match="ZIP"):
        images(io.BytesIO(b"PK\x03\x04 truncated zip"))
    with pytest.raises(InvalidArgument, match=r"corrupt|not a ZIP or TAR"):
        images(io.BytesIO(gzip.compress(b"\x00" * 100)[:40]))


def test_oversize_and_empty_uploads_are_refused() -> None:
    stream = zip_bytes({"cat/1.png": png()})
    with pytest.raises(InvalidArgument, match="more than the upload limit of 100"):
        images(stream, IngestLimits(max_upload_bytes=100))
    with pytest.raises(InvalidArgument, match="the file is empty"):
        images(io.BytesIO(b""))


def test_a_single_image_must_be_what_it_claims() -> None:
    (sample,) = single(png(3, 2), media_type="image/png", default_annotation=Label("cat"))
    assert sample.name == "cat.png" and sample.annotation == Label("cat")
    assert sample.metadata == {"width": 3, "height": 2}
    (sample,) = single(jpeg(), "photo.jpeg", media_type="image/jpg")
    assert sample.media_type == "image/jpeg"
    with pytest.raises(InvalidArgument, match="declared as image/jpeg but the content is image/png"):
        single(png(), "cat.png", media_type="image/jpeg")
    with pytest.raises(InvalidArgument, match="declared as image/jpeg but the content is image/png"):
        single(png(), "cat.jpg")
    with pytest.raises(InvalidArgument, match="not a PNG or JPEG"):
        single(b"<html>not an image</html>", "cat.png")
    with pytest.raises(InvalidArgument, match="exceeds the limit"):
        single(png_header(20_000, 20_000), "huge.png")
    with pytest.raises(InvalidArgument, match="climbs out"):
        single(png(), "../cat.png")


def test_validate_reads_everything_keeps_nothing_and_rewinds() -> None:
    stream = zip_bytes({"cat/1.png": png(), "train/dog/2.png": png(2, 2)})
    spec = UploadSpec(file_name="u.zip", format=UploadFormat.IMAGE_ARCHIVE)
    summary = validate_upload(stream, scenario=Scenario.IMAGE_CLASSIFICATION, spec=spec)
    assert summary.samples == 2 and summary.counts_per_purpose["training"] == 2
    assert len(list(read_upload(stream, scenario=Scenario.IMAGE_CLASSIFICATION, spec=spec))) == 2
    bad = zip_bytes({"cat/1.png": png(), "cat/2.png": b"nope"})
    with pytest.raises(InvalidArgument, match=r"cat/2\.png"):
        validate_upload(bad, scenario=Scenario.IMAGE_CLASSIFICATION, spec=spec)
