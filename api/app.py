"""`create_app`: the chat page, the JSON API and the OpenAI-compatible endpoint over one service."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.errors import BodyLimit, install_error_handlers
from api.observability import TELEMETRY, install_observability
from api.routers import answers, articles, chat, health, jobs, metrics, openai, pages, sources, timeline
from api.schemas import ErrorOut
from api.security import install_security
from qa.service import NewsService
from qa.settings import Settings

_log = logging.getLogger("api.app")
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (400, 404, 409, 413, 422, 503)}


def create_app(settings: Settings | None = None, service: NewsService | None = None) -> FastAPI:
    """The web app over one service (opened from settings unless given)."""
    if service is None:
        from qa.wiring import open_service

        settings = settings or Settings()
        service = open_service(settings)
    the_service = service

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop_watching = _watch_feeds(the_service)
        # the index's files into the operating system's cache, Chroma's vector index loaded, before the first question
        threading.Thread(target=_warm_up, args=(the_service,), name="qa-warm-up", daemon=True).start()
        # What the process loaded to serve (modules, the service, its settings: some 77,000 objects) lives as long
        # as it does: kept out of the garbage collector's full passes, which took 34-41 ms each over them (a
        # question's worth, landing on whichever question was running), and 0.2 ms once frozen
        gc.collect()
        gc.freeze()
        yield
        stop_watching()
        the_service.close()

    app = FastAPI(
        title="News QA",
        summary="Answers from news articles, quoted verbatim and cited.",
        version="0.1.0",
        lifespan=lifespan,
        responses=ERRORS,
        docs_url=None,  # served by the pages router from the vendored Swagger UI
        redoc_url=None,
        telemetry=TELEMETRY,
    )
    app.state.service = service
    app.add_middleware(BodyLimit, max_bytes=service.settings.max_body_bytes)
    install_security(app, service.settings)  # added last, so the Host is checked before anything else runs
    install_observability(app)  # after the other middleware: outermost, so every response carries its request id
    install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    for router in (
        pages.router,
        health.router,
        metrics.router,
        answers.router,
        timeline.router,
        chat.router,
        articles.router,
        sources.router,
        openai.router,
    ):
        app.include_router(router)
    app.include_router(jobs.router)
    return app


def _warm_up(service: NewsService) -> None:
    """Reads whose results are thrown away (a daemon thread may be left behind at exit): its failure is not the
    server's, and questions read the same as they would have anyway."""
    try:
        service.engine.warm_up()
    except Exception as error:
        _log.info("Could not warm the index up (%s); the first questions do.", error)


def _watch_feeds(service: NewsService) -> Callable[[], None]:
    """Poll QA_FEEDS in the background while the app runs (as `qa watch` does); what stops it."""
    settings = service.settings
    if not settings.feeds:
        return lambda: None
    from qa.errors import QAError
    from qa.watching import log, start_watching

    # Open the replica now, before the poller and the first requests could race to open it (Engine.refresh marks
    # it fresh before its first sync has opened it): the store is made if it is new, as the first poll would.
    try:
        service.store.ensure()
        service.health()
    except QAError as exc:  # a store that is down now: the polls say so, one line each, and go on
        log.warning("feeds: %s", exc)
    every = settings.feed_every.total_seconds()
    return start_watching(settings.feeds, every, lambda url: service.index_paths([url], conditional=True))
