"""Shared fixtures: quick-preset trainings, done once per module and scenario, on one CPU thread."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # The machine is shared; one thread keeps training both polite and reproducible.
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
