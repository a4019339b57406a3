"""What `mlops datasets upload` sends: the files its arguments name, each under the name the service
sees, in the format guessed from that name and the dataset's scenario.

A directory argument is walked (sorted, hidden files and folders skipped) and each file is named by
its path relative to that directory, so an ImageFolder tree keeps `cat/1.png` and `dog/1.png`
apart; a file argument is named by its base name, or relative to `--relative-to`.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from rich.progress import Progress

from mlops.api.common.v1 import common_pb2
from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.cli.client import CliError

CHUNK = 256 * 1024
FORMATS = {
    "file": pb.UPLOAD_FORMAT_FILE,
    "csv": pb.UPLOAD_FORMAT_CSV,
    "jsonl": pb.UPLOAD_FORMAT_JSONL,
    "log_lines": pb.UPLOAD_FORMAT_LOG_LINES,
    "image_archive": pb.UPLOAD_FORMAT_IMAGE_ARCHIVE,
    "coco_json": pb.UPLOAD_FORMAT_COCO_JSON,
}
_ARCHIVE_FORMATS = frozenset({"image_archive", "coco_json"})
# Enough to see past a JSON document's leading whitespace (and the BOM some exporters write).
_SNIFF_BYTES = 4096
_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".tar.gz")
# The guess for any scenario...
_BY_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".log": "log_lines"}
# ...unless the scenario reads that suffix otherwise (FORMATS_BY_SCENARIO in the service's ingest).
_BY_SCENARIO_SUFFIX: dict[tuple[int, str], str] = {
    # A CSV for a time-series scenario is one series, i.e. one sample (docs/algorithms.md).
    (common_pb2.SCENARIO_ANOMALY_DETECTION, ".csv"): "file",
    (common_pb2.SCENARIO_TIME_SERIES_FORECASTING, ".csv"): "file",
    (common_pb2.SCENARIO_LOG_CLUSTERING, ".txt"): "log_lines",
    # A text classification dataset takes no log_lines: a .log file is one text there.
    (common_pb2.SCENARIO_TEXT_CLASSIFICATION, ".log"): "file",
    (common_pb2.SCENARIO_OBJECT_DETECTION, ".json"): "coco_json",
}


@dataclass(frozen=True)
class UploadFile:
    path: Path
    # What the service sees as the file name: a relative path with '/' (e.g. "cat/1.png").
    name: str

    @property
    def folder(self) -> str:
        """The name's first path component, "" for a name without one."""
        head, sep, _ = self.name.partition("/")
        return head if sep else ""


@dataclass(frozen=True)
class PlannedFile:
    file: UploadFile
    format: int
    label: str


def collect_files(arguments: Sequence[Path], relative_to: Path | None = None) -> list[UploadFile]:
    """Every file the arguments name, under its upload name; refuses two files of the same name."""
    base = _absolute(relative_to) if relative_to is not None else None
    found: list[UploadFile] = []
    for argument in arguments:
        if argument.is_dir():
            root = base or _absolute(argument)
            files = sorted((UploadFile(p, _relative_name(p, root)) for p in _walk(argument)), key=_by_name)
            if not files:
                raise CliError(f"{argument}: no files to upload in this directory (hidden ones are skipped)")
            found.extend(files)
        else:
            found.append(UploadFile(argument, _relative_name(argument, base) if base else argument.name))
    check_unique(found)
    return found


def check_unique(files: Sequence[UploadFile]) -> None:
    """Two files under one name would be one sample twice: the upload would be refused or, with
    --replace, keep only one of them."""
    sources: dict[str, list[Path]] = defaultdict(list)
    for file in files:
        sources[file.name].append(file.path)
    clashes = {name: paths for name, paths in sources.items() if len(paths) > 1}
    if not clashes:
        return
    shown = "; ".join(
        f"{name!r} ({', '.join(str(p) for p in paths)})" for name, paths in sorted(clashes.items())[:3]
    )
    more = f" and {len(clashes) - 3} more" if len(clashes) > 3 else ""
    raise CliError(
        f"files would share an upload name (one sample each): {shown}{more}; "
        "upload their common directory (files are named relative to it, e.g. cat/1.png) "
        "or pass --relative-to DIR"
    )


def plan_upload(
    files: Sequence[UploadFile],
    scenario: int,
    *,
    file_format: str = "",
    label: str = "",
    label_from_folder: bool = False,
) -> list[PlannedFile]:
    """Each file's format and default label, decided (and checked) before a byte is sent."""
    if label and label_from_folder:
        raise CliError("--label and --label-from-folder exclude each other")
    planned = []
    for file in files:
        chosen = file_format or guess_format(file, scenario)
        _check_container(file, chosen)
        file_label = label
        if label_from_folder:
            if not file.folder:
                raise CliError(
                    f"--label-from-folder: {file.name!r} is in no folder (expected <label>/<file>; "
                    "upload the folder above the label folders)"
                )
            file_label = file.folder
        planned.append(PlannedFile(file, FORMATS[chosen], file_label))
    return planned


def _check_container(file: UploadFile, chosen: str) -> None:
    """Archive formats need an archive, except coco_json, which also takes a bare COCO .json: it
    annotates samples uploaded before it or beside it, by their names."""
    if chosen not in _ARCHIVE_FORMATS or _is_archive(file.path):
        return
    if chosen == "coco_json":
        if _is_json_object(file.path):
            return
        raise CliError(
            f"{file.path}: neither a ZIP or TAR archive (the .json and the images it lists) nor a "
            "COCO .json document, as coco_json needs"
        )
    raise CliError(f"{file.path}: not a ZIP or TAR archive, as {chosen} needs")


def guess_format(file: UploadFile, scenario: int) -> str:
    """The upload format a file's name suggests for a dataset of `scenario` (--format overrides)."""
    name = file.name.lower()
    suffix = PurePosixPath(name).suffix
    if name.endswith(_ARCHIVE_SUFFIXES) or (suffix == ".gz" and _is_tar(file.path)):
        # An object detection archive with a .json is COCO; without one, images to annotate later.
        if scenario == common_pb2.SCENARIO_OBJECT_DETECTION and _holds_json(file.path):
            return "coco_json"
        return "image_archive"
    if suffix == ".gz":
        raise CliError(
            f"{file.path}: the service reads no compressed file but a .tar.gz archive; "
            "decompress it first, or pass --format"
        )
    return _BY_SCENARIO_SUFFIX.get((scenario, suffix)) or _BY_SUFFIX.get(suffix, "file")


def upload_parts(
    dataset_id: str,
    planned: Sequence[PlannedFile],
    header: dict[str, Any],
    progress: Progress,
) -> Iterator[pb.UploadSamplesRequest]:
    """The UploadSamples stream: per file a header (the first one the upload's), then its chunks."""
    task = progress.add_task("uploading", total=sum(p.file.path.stat().st_size for p in planned))
    for index, plan in enumerate(planned):
        head = pb.UploadHeader(
            dataset_id=dataset_id,
            format=plan.format,  # type: ignore[arg-type]
            file_name=plan.file.name,
            default_purpose=header["purpose"],
            media_type=header["media_type"],
            replace_existing=header["replace"],
        )
        if plan.label:
            head.default_annotation.label = plan.label
        if header["metadata"]:
            head.metadata.update(header["metadata"])
        yield pb.UploadSamplesRequest(header=head) if index == 0 else pb.UploadSamplesRequest(next_file=head)
        with plan.file.path.open("rb") as stream:
            while chunk := stream.read(CHUNK):
                yield pb.UploadSamplesRequest(chunk=chunk)
                progress.advance(task, len(chunk))


def _absolute(path: Path) -> Path:
    # Not resolve(): a symbolic link inside the tree must not move a file out of it.
    return Path(os.path.abspath(path))


def _relative_name(path: Path, base: Path) -> str:
    try:
        return _absolute(path).relative_to(base).as_posix()
    except ValueError:
        raise CliError(f"{path} is not inside --relative-to {base}") from None


def _walk(root: Path) -> Iterator[Path]:
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [s for s in subfolders if not s.startswith(".")]
        for name in names:
            path = Path(folder, name)
            if not name.startswith(".") and path.is_file():
                yield path


def _by_name(file: UploadFile) -> str:
    return file.name


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _is_archive(path: Path) -> bool:
    return zipfile.is_zipfile(path) or _is_tar(path)


def _is_json_object(path: Path) -> bool:
    """What the service takes for a bare COCO file: the first byte past whitespace is "{"."""
    try:
        with path.open("rb") as stream:
            head = stream.read(_SNIFF_BYTES)
    except OSError:
        return False
    return head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n").startswith(b"{")


def _holds_json(path: Path) -> bool:
    """Whether an archive holds a .json file (hidden and macOS resource files aside, as the service
    reads it); an unreadable archive is the service's to report."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return any(_is_json_member(n) for n in archive.namelist())
        with tarfile.open(path, "r:*") as tar:
            return any(m.isfile() and _is_json_member(m.name) for m in tar)
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError):
        return False


def _is_json_member(name: str) -> bool:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    hidden = not parts or parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts)
    return name.lower().endswith(".json") and not hidden
