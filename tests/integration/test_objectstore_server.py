"""The embedded S3 server (SeaweedFS `weed mini`): restarts keep data, lost port races are retried."""

from __future__ import annotations

import socket
from pathlib import Path

import psutil
from pydantic import SecretStr

from mlops.kernel.objectstore import ObjectStore
from mlops.kernel.settings import S3Settings
from mlops.stack.servers import SeaweedS3Server


def store_on(server: SeaweedS3Server) -> ObjectStore:
    return ObjectStore(
        S3Settings(
            endpoint=server.endpoint,
            access_key=server.access_key,
            secret_key=SecretStr(server.secret_key),
            bucket="embedded",
        )
    )


async def test_seaweedfs_keeps_blobs_across_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "seaweedfs"
    server = SeaweedS3Server(data_dir=data_dir)
    server.start(timeout=60)
    try:
        store = store_on(server)
        await store.ensure_bucket()
        info = await store.put_bytes(b"survives a restart" * 10_000)
        artifact = await store.put_object("artifacts/run-1/metrics.json", b'{"loss": 0.1}')
    finally:
        server.stop()

    # A new server object on the same directory: the same endpoint where its ports are still free.
    restarted = SeaweedS3Server(data_dir=data_dir)
    assert restarted.endpoint == server.endpoint
    restarted.start(timeout=60)
    try:
        store = store_on(restarted)
        assert await store.get_bytes(info.sha256, verify=True) == b"survives a restart" * 10_000
        assert await (await store.open_object(artifact.key, verify=True)).read_all() == b'{"loss": 0.1}'
        assert not (await store.put_bytes(b"survives a restart" * 10_000)).created
    finally:
        restarted.stop()


async def test_seaweedfs_opens_only_the_ports_it_was_given(tmp_path: Path) -> None:
    server = SeaweedS3Server(data_dir=tmp_path / "seaweedfs")
    # Another process takes one of the picked ports before weed binds it: start must pick again.
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", server.ports["filer.port"]))
    squatter.listen()
    lost_port = server.ports["filer.port"]
    try:
        server.start(timeout=60)
    finally:
        squatter.close()
    try:
        assert server.ports["filer.port"] != lost_port
        listeners = [
            conn.laddr
            for conn in psutil.Process(server.pid).net_connections(kind="tcp")
            if conn.status == psutil.CONN_LISTEN
        ]
        assert {address.port for address in listeners} <= set(server.ports.values())
        assert {address.ip for address in listeners} == {"127.0.0.1"}
        store = store_on(server)
        await store.ensure_bucket()
        assert (await store.put_bytes(b"after a lost race")).created
    finally:
        server.stop()
