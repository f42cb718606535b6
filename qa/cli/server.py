"""`qa serve`: the chat page, the JSON API and the OpenAI-compatible endpoint on uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from qa.cli.console import fail, load_settings, out, run
from qa.logs import LogFormat, configure_logging


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (QA_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (QA_PORT)", min=1, max=65535)] = None,
    log_format: Annotated[LogFormat | None, typer.Option(help="Log lines as text or JSON (QA_LOG_FORMAT)")] = None,
) -> None:
    """Serve the chat page, the JSON API and the OpenAI-compatible endpoint."""
    import uvicorn

    from api import create_app

    config = load_settings()
    config = config.model_copy(update={"host": host or config.host, "port": port or config.port})
    configure_logging(log_format or config.log_format, config.log_level)
    application = run(lambda: create_app(config))
    out.print(f"Chat at http://{config.host}:{config.port}/  (API docs at /docs; Ctrl-C stops)")
    try:
        # uvicorn's own logging set-up and access lines are off: ours (one line per request, with its id) replace them.
        uvicorn.run(
            application, host=config.host, port=config.port, log_level="warning", log_config=None, access_log=False
        )
    except OSError as exc:  # port taken, address not available: the user's to fix
        raise fail(f"cannot listen on {config.host}:{config.port}: {exc}", 6) from None
