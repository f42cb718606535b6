"""`qa serve`: the chat page, the JSON API and the OpenAI-compatible endpoint on uvicorn."""

from __future__ import annotations

from types import FrameType
from typing import Annotated

import typer

from qa.cli.console import fail, load_settings, out, run


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (QA_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (QA_PORT)", min=1, max=65535)] = None,
) -> None:
    """Serve the chat page, the JSON API and the OpenAI-compatible endpoint."""
    import uvicorn

    from api import create_app

    config = load_settings()
    config = config.model_copy(update={"host": host or config.host, "port": port or config.port})
    application = run(lambda: create_app(config))
    out.print(f"Chat at http://{config.host}:{config.port}/  (API docs at /docs; Ctrl-C stops)")

    class StoppingServer(uvicorn.Server):
        """At the first signal, cancel the service's long work too (an article being embedded stops at its next
        step, writing nothing): the server exits within seconds, not once the work is done."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            application.state.service.stop_work()
            super().handle_exit(sig, frame)

    try:
        # A request still running 5 s after the signal is cancelled.
        settings = uvicorn.Config(
            application, config.host, config.port, log_level="warning", timeout_graceful_shutdown=5
        )
        StoppingServer(settings).run()
    except KeyboardInterrupt:  # Ctrl-C, raised again once the server stopped: as uvicorn.run does, end quietly
        pass
    except OSError as exc:  # port taken, address not available: the user's to fix
        raise fail(f"cannot listen on {config.host}:{config.port}: {exc}", 6) from None
