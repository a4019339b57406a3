"""The embedded S3 server (SeaweedFS `weed mini`): restarts keep data, lost port races are retried."""

from __future__ import annotations

import json
import shutil
import socket
import urllib.request
from pathlib import Path

import psutil
import pytest
from pydantic import SecretStr

from mlops.kernel.errors import Unavailable
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


def volume_slots(server: SeaweedS3Server) -> tuple[int, int]:
    """(volumes the master may place, volumes in use), as the master reports them."""
    status_url = f"http://{server.host}:{server.ports['master.port']}/dir/status"
    topology = json.loads(urllib.request.urlopen(status_url, timeout=5).read())["Topology"]
    return topology["Max"], topology["Max"] - topology["Free"]


async def test_seaweedfs_has_a_volume_slot_per_128_mib_of_free_disk(tmp_path: Path) -> None:
    # Each bucket takes a volume of its own; weed's automatic count (a slot per GB free) let a CI
    # machine with less free disk run out of slots for the tests' buckets.
    data_dir = tmp_path / "seaweedfs"
    data_dir.mkdir()
    free_slots = shutil.disk_usage(data_dir).free // (128 * 1024 * 1024)
    server = SeaweedS3Server(data_dir=data_dir)
    server.start(timeout=60)
    try:
        most, _ = volume_slots(server)
        assert most == pytest.approx(max(SeaweedS3Server.MIN_VOLUMES, free_slots), rel=0.05)
    finally:
        server.stop()


async def test_seaweedfs_refuses_a_bucket_past_its_volume_slots(tmp_path: Path) -> None:
    server = SeaweedS3Server(data_dir=tmp_path / "seaweedfs", max_volumes=2)
    server.start(timeout=60)
    try:
        first, second, third = (
            ObjectStore(store_on(server).settings.model_copy(update={"bucket": name}))
            for name in ("first", "second", "third")
        )
        for store in (first, second, third):
            await store.ensure_bucket()
        assert (await first.put_object("a", b"one")).size == 3
        assert (await second.put_object("a", b"two")).size == 3
        assert volume_slots(server) == (2, 2)
        with pytest.raises(Unavailable):
            await third.put_object("a", b"three")
    finally:
        server.stop()
