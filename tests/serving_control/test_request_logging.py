"""Request-logging settings in the control plane: checked, stored, changed in place (no new revision),
and handed to the workers in their assignments (off: rate 0)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mlops.kernel.db import Database
from mlops.kernel.errors import InvalidArgument
from services.serving.service import DeployCommand, ServingService, UpdateCommand
from tests.serving_control.test_service import Clock, Versions, db, worker

__all__ = ["db"]


async def test_logging_settings_change_in_place_and_reach_the_assignments(db: Database) -> None:
    service = ServingService(db, Versions(), clock=Clock(), dead_after=timedelta(seconds=10))
    await service.register_worker(worker("w1"))
    await service.deploy("erin", DeployCommand("fraud", "m", 1), None)
    (off,) = await service.heartbeat("w1", [], {})
    assert (off.request_log_sample_rate, off.request_log_max_payload_bytes) == (0.0, 0)
    assert (off.revision.model, off.revision.version) == ("m", 1)

    updated = await service.update(
        "erin", UpdateCommand("fraud", request_logging=True, request_log_sample_rate=0.25), None
    )
    assert updated.request_logging and len(updated.revisions) == 1
    (on,) = await service.heartbeat("w1", [], {})
    assert (on.request_log_sample_rate, on.request_log_max_payload_bytes) == (0.25, 64 * 1024)
    stored = await service.get("fraud")
    assert (stored.request_log_sample_rate, stored.request_log_max_payload_bytes) == (0.25, 64 * 1024)

    for bad in (
        UpdateCommand("fraud", request_log_sample_rate=0.0),
        UpdateCommand("fraud", request_log_sample_rate=1.5),
        UpdateCommand("fraud", request_log_max_payload_bytes=-1),
    ):
        with pytest.raises(InvalidArgument):
            await service.update("erin", bad, None)
    assert (await service.get("fraud")).request_log_sample_rate == 0.25
    with pytest.raises(InvalidArgument):
        await service.deploy("erin", DeployCommand("other", "m", 1, request_log_sample_rate=2.0), None)
