"""`qa serve`: the chat page, the JSON API and the OpenAI-compatible endpoint on uvicorn."""

from __future__ import annotations

import contextlib
import errno
import socket
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from qa.cli.console import err, fail, load_settings, local_store_note, out, run
from qa.errors import QAError
from qa.keys import KeyStore
from qa.logs import LogFormat, configure_logging
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.service import NewsService


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (QA_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (QA_PORT)", min=1, max=65535)] = None,
    insecure_open: Annotated[
        bool,
        typer.Option(help="Listen beyond loopback without API keys: anyone who reaches the port may delete articles."),
    ] = False,
    log_format: Annotated[LogFormat | None, typer.Option(help="Log lines as text or JSON (QA_LOG_FORMAT)")] = None,
) -> None:
    """Serve the chat page, the JSON API and the OpenAI-compatible endpoint."""
    import uvicorn

    from api import create_app

    config = load_settings()
    config = config.model_copy(
        update={
            "host": host or config.host,
            "port": port or config.port,
            "insecure_open": insecure_open or config.insecure_open,
        }
    )
    _check_port(config.host, config.port)  # first: a host that names no address is no network to warn about
    _check_exposure(config)
    configure_logging(log_format or config.log_format, config.log_level)
    application = run(lambda: create_app(config))
    out.print(f"Chat at http://{config.host}:{config.port}/  (API docs at /docs; Ctrl-C stops)")
    _note_a_big_local_store(config, application.state.service)

    class StoppingServer(uvicorn.Server):
        """At the first signal, cancel the service's long work too (an article being embedded stops at its next
        step, writing nothing): the server exits within seconds, not once the work is done."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            application.state.service.stop_work()
            super().handle_exit(sig, frame)

    try:
        # A request still running 5 s after the signal is cancelled.
        # uvicorn's own logging set-up and access lines are off: ours (one line per request, with its id) replace them.
        settings = uvicorn.Config(
            application,
            config.host,
            config.port,
            log_level="warning",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        StoppingServer(settings).run()
    except KeyboardInterrupt:  # Ctrl-C, raised again once the server stopped: as uvicorn.run does, end quietly
        pass
    except OSError as exc:  # port taken, address not available: the user's to fix
        raise fail(f"cannot listen on {config.host}:{config.port}: {exc}", 6) from None


def _note_a_big_local_store(config: Settings, service: NewsService) -> None:
    """The note `qa index` and `qa doctor` print past LOCAL_STORE_CHUNKS: a server is where the cost of the local
    store shows most (every process holds the store whole, and loads it again after another process writes). A
    store that cannot be read now gets no note: the server starts, and its requests say what is wrong."""
    if config.chroma_url:
        return
    with contextlib.suppress(QAError):
        if note := local_store_note(service.health().chunks, config):
            err.print(note)


def _check_port(host: str, port: int) -> None:
    """Fail at once, in one line, if the address cannot be listened on (uvicorn would log it and exit 3 after the
    model has loaded)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except OSError as exc:
        raise fail(
            f"cannot listen on {host}:{port}: the host name is not known ({exc.strerror or exc}). Give --host an "
            "address of this machine (127.0.0.1, or 0.0.0.0 for every network).",
            6,
        ) from None
    try:
        socket.create_server((host, port), family=family).close()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        what_to_do = (
            "Choose another --port, or stop what uses it."
            if exc.errno == errno.EADDRINUSE
            else "Give --host an address of this machine (127.0.0.1, or 0.0.0.0 for every network)."
            if exc.errno == errno.EADDRNOTAVAIL
            else "Choose another --port or --host."
        )
        raise fail(f"cannot listen on {host}:{port}: {reason}. {what_to_do}", 6) from None


def _check_exposure(config: Settings) -> None:
    """Refuse to put a keyless server on a network unless told to; warn about what stays open."""
    from qa.access import is_loopback  # here: its rate limiter's import is for the server alone, not every command

    local = config.host == "localhost" or is_loopback(config.host)
    keys = run(lambda: KeyStore(config.keys_path).any_live())
    if not local and not keys and not config.insecure_open:
        raise fail(
            f"--host {config.host} would let other machines read, add and delete articles, and no API key exists. "
            "Create one first (qa keys create --name NAME --scope write), or pass --insecure-open to serve "
            "without keys.",
            2,
        )
    if not local and not keys:
        err.print("[bold yellow]warning:[/] no API keys: anyone who reaches this port may delete articles.")
    if config.host_names == ["*"]:
        err.print(
            "[bold yellow]warning:[/] any Host header is accepted; name this server's host names in "
            "QA_ALLOWED_HOSTS (e.g. news.example.com)."
        )
