"""How the CLI finds and reaches the platform.

`--data-dir` (env MLOPS_DATA_DIR, default ./.mlops) holds stack.json, written by `mlops up`, naming
every endpoint; the token comes from `--token` (env MLOPS_TOKEN), else <data dir>/admin.token.
`--gateway-url` (env MLOPS_GATEWAY_URL) reaches a gateway that no local stack.json describes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, NoReturn

import grpc
import httpx
import typer
import urllib3
from google.protobuf import json_format
from rich.console import Console

from mlops.api.dataset.v1 import dataset_pb2, dataset_pb2_grpc
from mlops.kernel.errors import DomainError
from mlops.kernel.grpcx.tls import process_tls, sync_channel
from mlops.stack.stackfile import StackInfo

DEFAULT_DATA_DIR = Path(".mlops")
ADMIN_TOKEN_FILE = "admin.token"
DEFAULT_TIMEOUT_SECONDS = 30.0
HEX_ID = re.compile(r"^[0-9a-f]{32}$")

DataDirOption = Annotated[
    Path,
    typer.Option("--data-dir", envvar="MLOPS_DATA_DIR", help="Data directory (holds stack.json)."),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="MLOPS_TOKEN",
        show_default=False,
        help="API token (default: <data dir>/admin.token).",
    ),
]
GatewayUrlOption = Annotated[
    str | None,
    typer.Option(
        "--gateway-url", envvar="MLOPS_GATEWAY_URL", show_default=False, help="Default: from stack.json."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]

# Without a terminal (pipes, logs, CI) rich would squeeze tables into 80 columns and cut ids.
console = Console() if Console().is_terminal else Console(width=200)
err_console = Console(stderr=True)


class CliError(Exception):
    """A failure the user can act on: shown as one line, exit code 1."""


def fail(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn every expected failure into one line on stderr and exit code 1, never a traceback."""
    try:
        yield
    except CliError as exc:
        fail(str(exc))
    except DomainError as exc:
        fail(str(exc))
    except grpc.RpcError as exc:
        code = exc.code().name if hasattr(exc, "code") else "UNKNOWN"
        details = exc.details() if hasattr(exc, "details") else str(exc)
        fail(f"{code}: {details}")
    except httpx.HTTPError as exc:
        fail(f"HTTP request failed: {exc}")
    except urllib3.exceptions.HTTPError as exc:
        # Direct downloads read S3 with urllib3: a connection that breaks mid-transfer.
        fail(f"S3 request failed: {exc}")


def load_stack(data_dir: Path) -> StackInfo:
    try:
        stack = StackInfo.load(data_dir)
    except ValueError as exc:
        raise CliError(f"{StackInfo.path_in(data_dir)} is not a valid stack file: {exc}") from None
    if stack is None:
        raise CliError(f"no platform found in {data_dir} (no stack.json): start one with `mlops up`")
    return stack


def read_token(data_dir: Path, explicit: str | None = None, stack: StackInfo | None = None) -> str | None:
    """The explicit token, else the admin token the embedded stack wrote, else None."""
    if explicit:
        return explicit.strip()
    candidates = [Path(stack.admin_token_path)] if stack and stack.admin_token_path else []
    candidates.append(data_dir / ADMIN_TOKEN_FILE)
    for path in candidates:
        try:
            return path.read_text().strip() or None
        except FileNotFoundError:
            continue
        except PermissionError:
            raise CliError(f"cannot read {path}: pass --token or set MLOPS_TOKEN") from None
    return None


@dataclass
class Platform:
    """A running platform as the CLI sees it: its endpoints and the caller's token."""

    data_dir: Path
    token: str | None
    stack: StackInfo | None = None
    gateway_override: str | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    _channels: dict[str, grpc.Channel] = field(default_factory=dict)

    def endpoint(self, name: str) -> str:
        """`name`'s address from stack.json: a URL for HTTP endpoints, host:port for gRPC services."""
        stack = self.stack or load_stack(self.data_dir)
        address = stack.endpoints.get(name)
        if not address:
            known = ", ".join(sorted(stack.endpoints)) or "none"
            raise CliError(f"the platform in {self.data_dir} has no {name!r} endpoint (known: {known})")
        return address

    def gateway_url(self) -> str:
        return (self.gateway_override or self.endpoint("gateway")).rstrip("/")

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def http(self) -> httpx.Client:
        """A client for the gateway's REST API, sending the token. Close it (use `with`)."""
        return httpx.Client(base_url=self.gateway_url(), headers=self.auth_headers(), timeout=self.timeout)

    def call_metadata(self) -> list[tuple[str, str]]:
        """gRPC metadata carrying the token, for `stub.Method(request, metadata=...)`."""
        return [("authorization", f"Bearer {self.token}")] if self.token else []

    def channel(self, service: str) -> grpc.Channel:
        """A channel to a service's gRPC endpoint (endpoints["dataset"], ...), reused per service."""
        channel = self._channels.get(service)
        if channel is None:
            # TLS when the user's MLOPS_TLS__* settings name the platform's CA (see docs/deploy.md).
            channel = sync_channel(self.endpoint(service), process_tls())
            self._channels[service] = channel
        return channel

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()


class ServiceSession:
    """One service's stub on the platform, and the token metadata every call carries."""

    def __init__(self, platform: Platform, service: str, stub_class: Callable[[grpc.Channel], Any]) -> None:
        self.platform = platform
        self.stub = stub_class(platform.channel(service))
        self.metadata = platform.call_metadata()

    def call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        return getattr(self.stub, method)(
            request, metadata=self.metadata, timeout=timeout or self.platform.timeout
        )

    def stream(self, method: str, request: Any, timeout: float) -> Any:
        """A server-streaming call, with its own (longer) deadline."""
        return getattr(self.stub, method)(request, metadata=self.metadata, timeout=timeout)

    def pages(self, method: str, request: Any, items: str, page_size: int = 500) -> Iterator[Any]:
        """Every item of a paginated List call (a request with `page`, a reply with `items` and `page`)."""
        request.page.page_size = page_size
        while True:
            reply = self.call(method, request)
            yield from getattr(reply, items)
            if not reply.page.next_page_token:
                return
            request.page.page_token = reply.page.next_page_token

    def dataset(self, ref: str) -> Any:
        """A dataset by its id or its exact name, asked of the dataset service."""
        datasets = dataset_pb2_grpc.DatasetServiceStub(self.platform.channel("dataset"))
        if HEX_ID.match(ref):
            return datasets.GetDataset(
                dataset_pb2.GetDatasetRequest(dataset_id=ref),
                metadata=self.metadata,
                timeout=self.platform.timeout,
            )
        found = datasets.ListDatasets(
            dataset_pb2.ListDatasetsRequest(name_contains=ref),
            metadata=self.metadata,
            timeout=self.platform.timeout,
        )
        for dataset in found.datasets:
            if dataset.name == ref:
                return dataset
        raise CliError(f"no dataset named {ref!r}")


def message_document(message: Any) -> dict[str, Any]:
    """A protobuf message as a JSON-ready dict, field names as in the .proto.

    Zero values are printed too: a script reading `requests` must not find it missing when it is 0.
    """
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def emit_message(message: Any) -> None:
    """A protobuf message as indented JSON on stdout."""
    typer.echo(json.dumps(message_document(message), indent=2))


def connect(data_dir: Path, token: str | None = None, gateway_url: str | None = None) -> Platform:
    """The platform described by `data_dir` (or reached at `gateway_url`) with the caller's token."""
    stack = StackInfo.load(data_dir) if gateway_url else load_stack(data_dir)
    resolved = read_token(data_dir, token, stack)
    if resolved is None:
        raise CliError(f"no API token: pass --token, set MLOPS_TOKEN, or run where {data_dir}/admin.token is")
    return Platform(data_dir=data_dir, token=resolved, stack=stack, gateway_override=gateway_url)


def _error_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        field_name = body.get("field")
        return f"{field_name}: {detail}" if field_name else detail
    return str(detail or body)[:200]


def request_json(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    """Send a request to the gateway and return its JSON body; a refusal becomes one CliError line."""
    try:
        response = client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise CliError(
            f"cannot reach the gateway at {client.base_url}: {exc or type(exc).__name__} "
            "(is the platform running? `mlops status`)"
        ) from None
    if response.status_code == 401:
        raise CliError(f"not authenticated: {_error_detail(response)}")
    if response.status_code == 403:
        raise CliError(f"permission denied: {_error_detail(response)}")
    if response.is_error:
        raise CliError(f"{response.status_code} {response.reason_phrase}: {_error_detail(response)}")
    return response.json() if response.content else None
