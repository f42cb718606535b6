"""`qa keys create | list | revoke`: the API keys a server on a network asks for."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape

from qa.cli.console import err, load_settings, out, run
from qa.keys import ApiKey, KeyStore, Scope

app = typer.Typer(no_args_is_help=True, help="API keys: every API call needs one once a key exists.")


def _store() -> KeyStore:
    return KeyStore(load_settings().keys_path)


@app.command()
def create(
    name: Annotated[str, typer.Option(help="Who or what uses the key, e.g. newsroom-bot.")],
    scope: Annotated[Scope, typer.Option(help="read: ask and chat. write: also add and remove articles.")] = "read",
    rate: Annotated[str | None, typer.Option(help="This key's rate limit, e.g. 6000/minute (QA_RATE_LIMIT).")] = None,
) -> None:
    """Create a key and print it once: only its hash is kept."""
    key, token = run(lambda: _store().create(name, scope, rate))
    err.print(f"Created key {key.id} '{escape(key.name)}' ({key.scope}). Keep it now: it cannot be shown again.")
    out.print(token, markup=False)


@app.command("list")
def list_keys(
    all_keys: Annotated[bool, typer.Option("--all", help="Revoked keys too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines.")] = False,
) -> None:
    """The keys (never their secrets)."""
    keys = run(lambda: _store().keys(include_revoked=all_keys))
    if as_json:
        for key in keys:
            out.print(json.dumps(_row(key)), markup=False)
        return
    if not keys:
        err.print("No keys: the server answers on loopback only. Create one: qa keys create --name NAME")
    for key in keys:
        row = _row(key)
        state = f"revoked {row['revoked']}" if key.revoked else "live"
        rate = key.rate_limit or "default rate"
        out.print(f"{key.id}  {escape(key.name)}  {key.scope}  {rate}  created {row['created']}  {state}")


@app.command()
def revoke(key: Annotated[str, typer.Argument(help="The key's id or name (qa keys list).")]) -> None:
    """Revoke a key: the next call made with it is refused."""
    revoked = run(lambda: _store().revoke(key))
    out.print(f"Revoked {revoked.id} '{escape(revoked.name)}'.")


def _row(key: ApiKey) -> dict[str, str | None]:
    def when(stamp: float | None) -> str | None:
        return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds") if stamp else None

    return {
        "id": key.id,
        "name": key.name,
        "scope": key.scope,
        "rate_limit": key.rate_limit,
        "created": when(key.created),
        "revoked": when(key.revoked),
    }
