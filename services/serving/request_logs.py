"""Request logs in the object store: the layout and record format the serving workers write, and the
reader behind ListRequestLogRecords.

Layout: `inference-logs/<deployment>/<yyyy>/<mm>/<dd>/<hh>/<yyyymmddThhmmssZ>-<worker>-<uuid8>.jsonl.gz`,
one gzip JSON Lines object per flush of one worker's records of one deployment and hour (UTC, the hour the
requests arrived; the name starts with the flush time, so keys sort by hour and then by flush).

A record (one line):
    {"time": "2026-11-23T08:09:13.123456Z", "deployment": "fraud", "revision": 2, "model": "fraud-model",
     "model_version": 3, "request_id": "...", "protocol": "rest", "endpoint": "infer", "latency_ms": 1.9,
     "worker_id": "w-1", "truncated": false, "inputs": [...], "outputs": [...]}
`endpoint` infer: inputs and outputs are tensors {"name", "datatype", "shape", "data"} with data the
row-major values; BYTES data is a list of strings with "encoding": "utf-8", or of base64 strings with
"encoding": "base64" when any element is not UTF-8. `endpoint` predict: inputs is the instances list
(bytes as {"b64": ...}), outputs the predictions list. `truncated`: the payload was over the
deployment's cap, so inputs and outputs are null.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from minio.error import S3Error

from mlops.kernel.errors import InvalidArgument
from mlops.kernel.objectstore import ObjectStore, safe_key

PREFIX = "inference-logs"
MEDIA_TYPE = "application/gzip"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_HOUR = timedelta(hours=1)


def deployment_prefix(deployment: str) -> str:
    if not _NAME.match(deployment):
        raise InvalidArgument("a deployment name is lowercase letters, digits and dashes", field="name")
    return safe_key(PREFIX, deployment) + "/"


def object_key(deployment: str, hour: datetime, flushed: datetime, worker_id: str, suffix: str) -> str:
    """Where one flush of `deployment`'s records that arrived in `hour` goes."""
    worker = _UNSAFE.sub("_", worker_id) or "worker"
    name = f"{flushed.strftime('%Y%m%dT%H%M%SZ')}-{worker}-{suffix}.jsonl.gz"
    return safe_key(PREFIX, deployment, hour.strftime("%Y/%m/%d/%H"), name)


def hour_of_key(key: str) -> datetime | None:
    """The hour a key's records arrived in, or None for a key not of this layout."""
    parts = key.split("/")
    if len(parts) != 7 or parts[0] != PREFIX:
        return None
    try:
        return datetime.strptime("/".join(parts[2:6]), "%Y/%m/%d/%H").replace(tzinfo=UTC)
    except ValueError:
        return None


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def encode_lines(records: Iterable[dict[str, Any]]) -> bytes:
    """Records as gzip JSON Lines (a fast compression level: workers flush often, bytes are cheap)."""
    text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
    return gzip.compress(text.encode(), compresslevel=3)


def decode_lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(data).splitlines() if line.strip()]


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    next_page_token: str = ""


@dataclass(frozen=True)
class _Position:
    key: str
    line: int


def _token(position: _Position) -> str:
    return base64.urlsafe_b64encode(json.dumps([position.key, position.line]).encode()).decode()


def _position(token: str) -> _Position:
    try:
        key, line = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(key, str) or not isinstance(line, int) or line < 0:
            raise ValueError(token)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidArgument("page token not understood", field="page.page_token") from None
    return _Position(key, line)


class RequestLogReader:
    """Reads back what the workers wrote, oldest hour first, in pages."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def page(
        self,
        deployment: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        page_size: int = 0,
        page_token: str = "",
    ) -> Page:
        if page_size < 0:
            raise InvalidArgument("page_size must not be negative", field="page.page_size")
        if start is not None and end is not None and end <= start:
            raise InvalidArgument("end_time must come after start_time", field="end_time")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        keys = await self._keys(deployment_prefix(deployment), start, end)
        first = 0
        skip = 0
        if page_token:
            position = _position(page_token)
            # Only keys of this listing are read: a token cannot point anywhere else.
            if position.key not in keys:
                raise InvalidArgument("page token not understood", field="page.page_token")
            first, skip = keys.index(position.key), position.line
        records: list[dict[str, Any]] = []
        for index in range(first, len(keys)):
            lines = await self._lines(keys[index])
            for line in range(skip if index == first else 0, len(lines)):
                if len(records) == size:
                    return Page(records, _token(_Position(keys[index], line)))
                if _within(lines[line], start, end):
                    records.append(lines[line])
        return Page(records)

    async def _keys(self, prefix: str, start: datetime | None, end: datetime | None) -> list[str]:
        keys = []
        try:
            async for info in self.store.iter_objects(prefix):
                hour = hour_of_key(info.key)
                if hour is None:
                    continue
                if (start is None or hour + _HOUR > start) and (end is None or hour < end):
                    keys.append(info.key)
        except S3Error as error:
            if error.code != "NoSuchBucket":
                raise
        return sorted(keys)

    async def _lines(self, key: str) -> list[dict[str, Any]]:
        async with await self.store.open_object(key) as stream:
            data = await stream.read_all()
        return decode_lines(data)


def _within(record: dict[str, Any], start: datetime | None, end: datetime | None) -> bool:
    if start is None and end is None:
        return True
    time = parse_time(record["time"])
    return (start is None or time >= start) and (end is None or time < end)
