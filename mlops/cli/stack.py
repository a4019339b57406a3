"""`mlops up`, `mlops down`, `mlops status`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds the stack commands to the top-level app."""
