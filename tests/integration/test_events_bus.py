"""The event bus: connecting while NATS is down, and keeping the streams' configuration."""

from __future__ import annotations

import asyncio

from mlops.kernel.events import DEADLETTER_STREAM, STREAM, EventBus
from mlops.kernel.events.testing import eventually
from mlops.stack.servers import NatsServer


async def test_connect_returns_while_nats_is_down_and_connects_later(own_nats_server: NatsServer) -> None:
    own_nats_server.stop()
    bus = EventBus(own_nats_server.url, name="late", reconnect_time_wait=0.2)
    reconnects: list[bool] = []
    bus.on_reconnect(lambda: reconnects.append(bus.connected))
    try:
        async with asyncio.timeout(1):
            await bus.connect()
        assert not bus.connected
        own_nats_server.start()
        async with asyncio.timeout(15):
            await bus.wait_ready()
        assert bus.connected
        assert (await bus.js.stream_info(STREAM)).config.subjects == ["mlops.events.>"]
        assert (await bus.js.stream_info(DEADLETTER_STREAM)).config.subjects == ["mlops.deadletter.>"]

        own_nats_server.stop()
        await eventually(lambda: not bus.connected)
        own_nats_server.start()
        await eventually(lambda: len(reconnects) == 2, within=15)
        assert reconnects == [True, True]
    finally:
        await bus.close()


async def test_streams_drifted_from_their_declaration_are_restored(own_nats_server: NatsServer) -> None:
    bus = EventBus(own_nats_server.url, name="ensure")
    await bus.connect(wait=True)
    try:
        async with asyncio.timeout(10):
            await bus.wait_ready()
        config = (await bus.js.stream_info(STREAM)).config
        assert config.duplicate_window == 600
        assert config.max_age == 14 * 24 * 3600
        await bus.js.update_stream(config.evolve(max_age=3600.0, duplicate_window=5.0, max_msgs=1_000_000))
        await bus.ensure_streams()
        config = (await bus.js.stream_info(STREAM)).config
        assert config.max_age == 14 * 24 * 3600
        assert config.duplicate_window == 600
        assert config.max_msgs == 1_000_000  # an operator's own limit stays
    finally:
        await bus.close()
