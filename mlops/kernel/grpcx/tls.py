"""TLS for the platform's gRPC hops, built from the one `tls` settings block (MLOPS_TLS__*).

Every server port and every client channel goes through these helpers, so no call site reads
certificate files or chooses between secure and insecure itself. With no file configured everything
stays plaintext, as on the embedded stack's loopback.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mlops.kernel.settings import TlsSettings


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ValueError(f"TLS file {path} cannot be read: {error.strerror or error}") from None


def server_credentials(tls: TlsSettings | None) -> grpc.ServerCredentials | None:
    """This process's server credentials, or None to serve plaintext."""
    if tls is None or tls.cert_file is None or tls.key_file is None:
        return None
    pair = [(_read(tls.key_file), _read(tls.cert_file))]
    if tls.require_client_certs:
        assert tls.ca_file is not None  # TlsSettings checks this
        return grpc.ssl_server_credentials(
            pair, root_certificates=_read(tls.ca_file), require_client_auth=True
        )
    return grpc.ssl_server_credentials(pair)


def client_credentials(tls: TlsSettings | None) -> grpc.ChannelCredentials | None:
    """Credentials to dial the platform's servers with, or None to dial plaintext."""
    if tls is None or not tls.dials_tls:
        return None
    roots = _read(tls.ca_file) if tls.ca_file is not None else None
    if tls.cert_file is not None and tls.key_file is not None:
        # Presented only where a server asks (mutual TLS); harmless elsewhere.
        return grpc.ssl_channel_credentials(roots, _read(tls.key_file), _read(tls.cert_file))
    return grpc.ssl_channel_credentials(roots)


def client_options(tls: TlsSettings | None) -> list[tuple[str, Any]]:
    """Channel options TLS needs beyond the credentials."""
    if tls is None or not tls.dials_tls or not tls.server_name_override:
        return []
    return [("grpc.ssl_target_name_override", tls.server_name_override)]


def add_port(server: grpc.aio.Server, address: str, tls: TlsSettings | None) -> int:
    """Listens on `address`, with TLS when the settings give this process a certificate; the bound port."""
    credentials = server_credentials(tls)
    if credentials is None:
        return server.add_insecure_port(address)
    return server.add_secure_port(address, credentials)


def aio_channel(
    address: str, tls: TlsSettings | None, options: Sequence[tuple[str, Any]] = ()
) -> grpc.aio.Channel:
    """A bare asyncio channel (health probes); service calls use grpcx.open_channel(tls=...)."""
    credentials = client_credentials(tls)
    channel_options = [*client_options(tls), *options]
    if credentials is None:
        return grpc.aio.insecure_channel(address, channel_options)
    return grpc.aio.secure_channel(address, credentials, channel_options)


def sync_channel(
    address: str, tls: TlsSettings | None, options: Sequence[tuple[str, Any]] = ()
) -> grpc.Channel:
    """A bare blocking channel (container probes, the CLI)."""
    credentials = client_credentials(tls)
    channel_options = [*client_options(tls), *options]
    if credentials is None:
        return grpc.insecure_channel(address, channel_options)
    return grpc.secure_channel(address, credentials, channel_options)


class _TlsEnvironment(BaseSettings):
    # Only the tls block: a probe must not fail over some other setting it never uses.
    model_config = SettingsConfigDict(env_prefix="MLOPS_", env_nested_delimiter="__", extra="ignore")

    tls: TlsSettings = Field(default_factory=TlsSettings)


@functools.cache
def process_tls() -> TlsSettings:
    """This process's TLS settings from its MLOPS_TLS__* environment, for code handed no settings
    (probes run by `mlops status`, the supervisor and container healthchecks; the CLI)."""
    return _TlsEnvironment().tls
