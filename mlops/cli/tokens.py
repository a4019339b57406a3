"""`mlops tokens create|list|revoke`: API tokens through the gateway's REST API (admins only)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import typer
from rich.table import Table

from mlops.cli.client import (
    DEFAULT_DATA_DIR,
    CliError,
    DataDirOption,
    GatewayUrlOption,
    JsonOption,
    TokenOption,
    cli_errors,
    connect,
    console,
    request_json,
)
from mlops.kernel.auth import ASSIGNABLE_ROLES

app = typer.Typer(no_args_is_help=True)

TOKENS_PATH = "/api/v1/tokens"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_TTL = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")


def parse_ttl(value: str) -> int:
    """Seconds from `3600`, `90m`, `12h`, `30d` or `2w`; 0 means the token never expires."""
    match = _TTL.match(value.lower())
    if match is None:
        raise CliError(f"--ttl {value!r}: a number of seconds, or one with a unit s, m, h, d or w (e.g. 30d)")
    return int(match.group(1)) * _UNITS[match.group(2) or "s"]


def _emit_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2))


@app.command()
def create(
    role: Annotated[
        str, typer.Option("--role", "-r", help=f"One of: {', '.join(r.value for r in ASSIGNABLE_ROLES)}.")
    ],
    subject: Annotated[str, typer.Option("--subject", "-s", help="Holder (default: <role>-<id>).")] = "",
    description: Annotated[str, typer.Option("--description", "-d", help="What it is for.")] = "",
    ttl: Annotated[str, typer.Option("--ttl", help="Seconds, or 90m, 12h, 30d; 0: never expires.")] = "0",
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    gateway_url: GatewayUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a token. Its secret is shown this once; only a hash is kept."""
    with cli_errors():
        body = {"role": role, "subject": subject, "description": description, "ttl_seconds": parse_ttl(ttl)}
        with connect(data_dir, token, gateway_url).http() as client:
            created = request_json(client, "POST", TOKENS_PATH, json=body)
    if as_json:
        _emit_json(created)
        return
    info = created["info"]
    expires = _short(info.get("expires_at")) or "never"
    console.print(
        f"Created token [bold]{info['token_id']}[/] for [bold]{info['subject']}[/] "
        f"(role {info['role']}, expires {expires})."
    )
    console.print("Copy it now; it is not shown again:", style="yellow")
    console.print(created["token"], highlight=False, soft_wrap=True)


@app.command("list")
def list_tokens(
    include_revoked: Annotated[bool, typer.Option("--all", "-a", help="Include revoked tokens.")] = False,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    gateway_url: GatewayUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """List tokens (never their secrets)."""
    with cli_errors(), connect(data_dir, token, gateway_url).http() as client:
        listed = request_json(client, "GET", TOKENS_PATH, params={"include_revoked": include_revoked})
    if as_json:
        _emit_json(listed)
        return
    # Narrow enough for an 80-column terminal; `--json` has every field.
    table = Table("ID", "Subject", "Role", "Status", "Description")
    for info in listed["tokens"]:
        table.add_row(
            info["token_id"],
            info["subject"],
            info["role"],
            _status(info),
            info["description"],
        )
    for column in (table.columns[0], table.columns[2], table.columns[3]):
        column.no_wrap = True
    table.columns[1].overflow = "fold"
    console.print(table)


@app.command()
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (see `mlops tokens list`).")],
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    gateway_url: GatewayUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a token: every service refuses it from now on."""
    with cli_errors(), connect(data_dir, token, gateway_url).http() as client:
        revoked = request_json(client, "DELETE", f"{TOKENS_PATH}/{token_id}")
    if as_json:
        _emit_json(revoked)
        return
    console.print(f"Revoked token [bold]{revoked['token_id']}[/] ({revoked['subject']}, {revoked['role']}).")


def _status(info: dict[str, Any]) -> str:
    if info.get("revoked_at"):
        return f"revoked {info['revoked_at'][:10]}"
    if info.get("expires_at"):
        return f"expires {info['expires_at'][:10]}"
    return "active"


def _short(timestamp: str | None) -> str:
    """ISO timestamps to the minute, which is all a table needs."""
    return timestamp[:16].replace("T", " ") if timestamp else ""
