"""TLS between the platform's processes: a real service runtime (the dataset service) serving TLS,
resolving tokens over TLS with a real identity server; clients trusting the platform's CA get through,
plaintext clients and clients trusting another CA do not; health probes keep working; mutual TLS
refuses a client without a certificate; settings name what is wrong."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from pydantic import ValidationError

from mlops.api.audit.v1 import audit_pb2, audit_pb2_grpc
from mlops.api.identity.v1 import identity_pb2_grpc
from mlops.kernel.grpcx import open_channel
from mlops.kernel.grpcx.tls import add_port
from mlops.kernel.runtime import ServiceRuntime
from mlops.kernel.settings import KernelSettings, TlsSettings
from mlops.stack.health import probe
from mlops.stack.ports import free_port
from mlops.stack.probe import grpc_healthy
from services.dataset.main import build
from services.dataset.settings import DatasetSettings
from services.gateway.health import HEALTHY, UNHEALTHY, HealthChecker
from tests.integration.test_grpc_auth import ADMIN, TOKENS, FixedIdentity

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
        "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=directory,
    )  # fmt: skip
    return directory / f"{name}.crt", directory / f"{name}.key"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, a certificate it signs for 127.0.0.1 and localhost (served and presented by every
    process, as one certificate per process would be), and an unrelated CA."""
    directory = tmp_path_factory.mktemp("pki")
    ca, ca_key = _make_ca(directory, "platform-ca")
    other_ca, _ = _make_ca(directory, "other-ca")
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", "service.key", "-out", "service.csr", cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "service.csr", "-CA", str(ca), "-CAkey", str(ca_key), "-set_serial", "2",
        "-days", "2", "-extfile", "san.cnf", "-out", "service.crt", cwd=directory,
    )  # fmt: skip
    return Pki(ca=ca, cert=directory / "service.crt", key=directory / "service.key", other_ca=other_ca)


def _tls(pki: Pki, *, mutual: bool = False) -> TlsSettings:
    return TlsSettings(cert_file=pki.cert, key_file=pki.key, ca_file=pki.ca, require_client_certs=mutual)


@dataclass
class TlsStack:
    address: str
    runtime: ServiceRuntime


async def _start(tmp_path: Path, tls: TlsSettings) -> AsyncIterator[TlsStack]:
    identity = grpc.aio.server()
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(FixedIdentity(TOKENS), identity)
    identity_port = add_port(identity, "127.0.0.1:0", tls)
    await identity.start()
    settings = DatasetSettings(
        data_dir=tmp_path,
        grpc_port=0,
        identity_address=f"127.0.0.1:{identity_port}",
        events_enabled=False,
        shutdown_grace_seconds=0.5,
        tls=tls,
    )
    runtime = build(settings)
    await runtime.start()
    try:
        yield TlsStack(f"127.0.0.1:{runtime.port}", runtime)
    finally:
        await runtime.stop()
        await identity.stop(0)


@pytest.fixture
async def tls_stack(tmp_path: Path, pki: Pki) -> AsyncIterator[TlsStack]:
    async for stack in _start(tmp_path, _tls(pki)):
        yield stack


@pytest.fixture
async def mutual_stack(tmp_path: Path, pki: Pki) -> AsyncIterator[TlsStack]:
    async for stack in _start(tmp_path, _tls(pki, mutual=True)):
        yield stack


async def _list_audit(address: str, tls: TlsSettings | None) -> audit_pb2.ListAuditRecordsResponse:
    async with open_channel(address, token=ADMIN, default_timeout=5, tls=tls) as channel:
        return await audit_pb2_grpc.AuditServiceStub(channel).ListAuditRecords(
            audit_pb2.ListAuditRecordsRequest()
        )


async def _refused(address: str, tls: TlsSettings | None) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _list_audit(address, tls)
    return refused.value.code()


async def test_a_client_trusting_the_platform_ca_is_served_and_authorised(
    tls_stack: TlsStack, pki: Pki
) -> None:
    # The token was resolved by the identity server over TLS too (the runtime's verifier dials it).
    reply = await _list_audit(tls_stack.address, TlsSettings(ca_file=pki.ca))
    assert reply is not None


async def test_plaintext_and_foreign_ca_clients_are_refused(tls_stack: TlsStack, pki: Pki) -> None:
    assert await _refused(tls_stack.address, None) is grpc.StatusCode.UNAVAILABLE
    assert await _refused(tls_stack.address, TlsSettings(ca_file=pki.other_ca)) is grpc.StatusCode.UNAVAILABLE


async def test_a_name_override_verifies_the_certificate_against_another_name(
    tls_stack: TlsStack, pki: Pki
) -> None:
    right = TlsSettings(ca_file=pki.ca, server_name_override="localhost")
    assert await _list_audit(tls_stack.address, right) is not None
    wrong = TlsSettings(ca_file=pki.ca, server_name_override="elsewhere.example")
    assert await _refused(tls_stack.address, wrong) is grpc.StatusCode.UNAVAILABLE


async def test_health_probes_dial_tls(tls_stack: TlsStack, pki: Pki) -> None:
    client = TlsSettings(ca_file=pki.ca)
    assert await probe(f"grpc-health:{tls_stack.address}", tls=client) == (True, "SERVING")
    assert (await probe(f"grpc-health:{tls_stack.address}", limit=1, tls=TlsSettings()))[0] is False
    # The container probe blocks: off the loop that runs the server.
    assert await asyncio.to_thread(grpc_healthy, tls_stack.address, tls=client)
    checker = HealthChecker({"dataset": tls_stack.address}, timeout=5, tls=client)
    plaintext = HealthChecker({"dataset": tls_stack.address}, timeout=1)
    try:
        assert (await checker.check()).status == HEALTHY
        assert (await plaintext.check()).status == UNHEALTHY
    finally:
        await checker.close()
        await plaintext.close()


async def test_mutual_tls_requires_a_client_certificate(mutual_stack: TlsStack, pki: Pki) -> None:
    assert await _list_audit(mutual_stack.address, _tls(pki)) is not None
    assert await _refused(mutual_stack.address, TlsSettings(ca_file=pki.ca)) is grpc.StatusCode.UNAVAILABLE


async def _run(*args: str, env: dict[str, str]) -> tuple[int, bytes]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stderr


async def _wait_healthy(address: str, tls: TlsSettings) -> None:
    """Bound it with asyncio.timeout."""
    while True:
        healthy, _ = await probe(f"grpc-health:{address}", limit=1, tls=tls)
        if healthy:
            return
        await asyncio.sleep(0.1)


async def test_a_service_process_reads_tls_from_its_environment(tmp_path: Path, pki: Pki) -> None:
    """The deployed path: MLOPS_TLS__* variables, and the container probe reading the same ones."""
    identity = grpc.aio.server()
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(FixedIdentity(TOKENS), identity)
    identity_port = add_port(identity, "127.0.0.1:0", _tls(pki))
    await identity.start()
    tls_env = {
        "MLOPS_TLS__CERT_FILE": str(pki.cert),
        "MLOPS_TLS__KEY_FILE": str(pki.key),
        "MLOPS_TLS__CA_FILE": str(pki.ca),
    }
    grpc_port = free_port()
    env = {
        **os.environ,
        **tls_env,
        "MLOPS_DATA_DIR": str(tmp_path / "data"),
        "MLOPS_GRPC_PORT": str(grpc_port),
        "MLOPS_IDENTITY_ADDRESS": f"127.0.0.1:{identity_port}",
        "MLOPS_EVENTS_ENABLED": "false",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.dataset.main", cwd=REPO, env=env, stderr=asyncio.subprocess.DEVNULL
    )
    address = f"127.0.0.1:{grpc_port}"
    try:
        async with asyncio.timeout(30):
            await _wait_healthy(address, TlsSettings(ca_file=pki.ca))
        assert await _list_audit(address, TlsSettings(ca_file=pki.ca)) is not None
        probe_env = {**os.environ, "MLOPS_TLS__CA_FILE": str(pki.ca)}
        assert (await _run("-m", "mlops.stack.probe", "grpc", address, env=probe_env))[0] == 0
        assert (await _run("-m", "mlops.stack.probe", "grpc", address, env=dict(os.environ)))[0] == 1
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()
        await identity.stop(0)


async def test_a_missing_certificate_stops_the_process_at_start_naming_it(tmp_path: Path, pki: Pki) -> None:
    missing = tmp_path / "absent.key"
    env = {
        **os.environ,
        "MLOPS_TLS__CERT_FILE": str(pki.cert),
        "MLOPS_TLS__KEY_FILE": str(missing),
        "MLOPS_DATA_DIR": str(tmp_path / "data"),
        "MLOPS_EVENTS_ENABLED": "false",
    }
    returncode, stderr = await _run("-m", "services.dataset.main", env=env)
    assert returncode != 0
    assert f"TLS file {missing} cannot be read" in stderr.decode()


def test_a_certificate_without_its_key_is_a_configuration_error(pki: Pki) -> None:
    with pytest.raises(
        ValidationError, match="MLOPS_TLS__CERT_FILE and MLOPS_TLS__KEY_FILE must be set together"
    ):
        TlsSettings(cert_file=pki.cert)
    with pytest.raises(ValidationError, match="must be set together"):
        TlsSettings(key_file=pki.key, ca_file=pki.ca)
    with pytest.raises(ValidationError, match="REQUIRE_CLIENT_CERTS needs"):
        TlsSettings(ca_file=pki.ca, require_client_certs=True)


def test_an_unreadable_file_is_named_when_settings_load(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "absent.crt"
    monkeypatch.setenv("MLOPS_TLS__CA_FILE", str(missing))
    with pytest.raises(ValidationError, match=f"TLS file {missing} cannot be read"):
        KernelSettings()
    monkeypatch.setenv("MLOPS_TLS__CA_FILE", str(pki.ca))
    monkeypatch.setenv("MLOPS_TLS__CERT_FILE", str(pki.cert))
    monkeypatch.setenv("MLOPS_TLS__KEY_FILE", str(pki.key))
    tls = KernelSettings().tls
    assert (tls.serves_tls, tls.dials_tls) == (True, True)


def test_no_tls_settings_keep_everything_plaintext() -> None:
    tls = KernelSettings().tls
    assert (tls.serves_tls, tls.dials_tls) == (False, False)
