"""Rich tables of the stack's components, for `mlops up` and `mlops status`."""

from __future__ import annotations

from rich.table import Table

from mlops.stack.stackfile import StackInfo

_STYLES = {"healthy": "green", "external": "cyan", "starting": "yellow", "restarting": "yellow"}


def component_table(info: StackInfo, live: dict[str, tuple[bool, str]] | None = None) -> Table:
    table = Table("component", "status", "endpoint", "pid", "restarts", "detail", box=None)
    for component in info.components.values():
        status = component.status
        detail = component.detail
        if live is not None and component.name in live:
            healthy, detail = live[component.name]
            if status != "external" or not healthy:
                status = "healthy" if healthy else "unhealthy"
        style = _STYLES.get(status, "red")
        table.add_row(
            component.name,
            f"[{style}]{status}[/{style}]",
            component.endpoint,
            str(component.pid or ""),
            str(component.restarts or ""),
            detail,
        )
    return table
