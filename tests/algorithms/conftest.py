"""Trainings here run on a fixed number of torch threads (tests/fixtures/torch_threads.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fixed_threads(fixed_torch_threads: None) -> None:
    pass
