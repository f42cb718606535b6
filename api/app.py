"""`create_app`: the chat page, the JSON API, streaming, and an OpenAI-compatible endpoint over one engine."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.sse import EventSourceResponse, format_sse_event
from fastapi.staticfiles import StaticFiles

from api import openai_compat
from api.errors import BodyLimit, install_error_handlers
from api.schemas import (
    AnswerOut,
    ArticleIn,
    ArticleOut,
    AskRequest,
    ChatOut,
    ChatRequest,
    ErrorOut,
    HealthOut,
    HistoryOut,
    IndexOut,
)
from indexer import LoadedArticle, index_articles, make_article
from qa.conversation import Chat, ChatReply
from qa.domain import ArticleInfo
from qa.engine import Engine
from qa.errors import Conflict, InvalidInput, NotFound, QAError
from qa.settings import Settings
from qa.wiring import build_chat, build_engine

log = logging.getLogger("api")
STATIC = Path(str(resources.files("api") / "static"))
SSE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {}}, "description": "Event stream"}}
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (400, 404, 409, 413, 422, 503)}


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The web app over one engine (built from settings unless given)."""
    settings = settings or Settings()
    engine = engine or build_engine(settings)
    chat = build_chat(settings, engine)
    writes = threading.Lock()  # one indexing write at a time; reads never wait for it

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        yield
        chat.sessions.close()

    app = FastAPI(
        title="News QA",
        summary="Answers from news articles, quoted verbatim and cited.",
        version="0.1.0",
        lifespan=lifespan,
        responses=ERRORS,
        docs_url=None,  # served below from the vendored Swagger UI: the default page loads it from a CDN
        redoc_url=None,
    )
    app.state.engine, app.state.chat = engine, chat
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="News QA - API",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/static/docs/favicon-32x32.png",
        )

    @app.get("/health", tags=["service"])
    def health() -> HealthOut:
        return HealthOut(
            status="ok",
            articles=engine.store.count_articles(),
            chunks=engine.store.count_chunks(),
            embedder=engine.embedder.model_id,
            backend=engine.answerer.name,
        )

    @app.post("/api/ask", tags=["answers"])
    def ask(body: AskRequest) -> AnswerOut:
        """Answer one question (the same object as `qa ask --json`)."""
        return AnswerOut(**engine.ask(body.question, top_k=body.top_k, article_ids=body.article_ids).model_dump())

    @app.post("/api/chat", tags=["chat"])
    def chat_once(body: ChatRequest) -> ChatOut:
        """One turn of a conversation; leave session_id out to start one."""
        return _chat_out(chat.send(body.session_id, body.message))

    @app.post("/api/chat/stream", tags=["chat"], response_model=None, responses=SSE)
    def chat_stream(body: ChatRequest) -> EventSourceResponse:
        """Server-Sent Events: `session`, then `delta` {text} as the answer is produced, `citations`, `done`."""
        return EventSourceResponse(_chat_events(chat, body))

    @app.get("/api/chat/{session_id}", tags=["chat"])
    def chat_history(session_id: str) -> HistoryOut:
        return HistoryOut(session_id=session_id, turns=chat.sessions.history(session_id))

    @app.get("/api/articles", tags=["articles"])
    def list_articles() -> list[ArticleInfo]:
        return engine.store.list_articles()

    @app.get("/api/articles/{article_id:path}", tags=["articles"])
    def get_article(article_id: str) -> ArticleOut:
        """An article's text and metadata: what a citation's offsets point into."""
        info, text = engine.store.get_article(article_id)
        return ArticleOut(**info.model_dump(), text=text)

    @app.post("/api/articles", tags=["articles"], status_code=201)
    def add_article(body: ArticleIn, response: Response) -> IndexOut:
        """Index one article through the same indexer as `qa index`; the same id again replaces it.

        Without an id, one is derived from the title, and a clash with another article is refused (409) rather
        than replacing it: send the id to replace on purpose."""
        article_id = body.id or _slug(body.title)
        if body.id is None and engine.store.article_infos([article_id]):
            raise Conflict(
                f"An article with id '{article_id}' already exists. Send its id to replace it, or change the title."
            )
        article = make_article({**body.model_dump(exclude={"text"}), "id": article_id}, body.text, body.title)
        with writes:
            report = index_articles(
                engine.store,
                engine.embedder,
                [LoadedArticle(article, origin="api")],
                chunk_tokens=settings.chunk_tokens,
                keyword_cache=settings.data_dir,
            )
        status = "added" if report.added else "updated" if report.updated else "unchanged"
        if status != "added":
            response.status_code = 200
        info = engine.store.article_infos([article.id])[article.id]
        return IndexOut(article=info, status=status, chunks_embedded=report.chunks_embedded)

    @app.delete("/api/articles/{article_id:path}", tags=["articles"])
    def delete_article(article_id: str) -> dict[str, str]:
        with writes:
            if not engine.store.remove_articles([article_id]):
                raise NotFound(f"No article with id '{article_id}'.")
            engine.store.commit()
        return {"removed": article_id}

    openai_compat.install(app, chat)
    return app


def _chat_out(reply: ChatReply) -> ChatOut:
    return ChatOut(**reply.answer.model_dump(), session_id=reply.session_id, query=reply.query)


def _chat_events(chat: Chat, body: ChatRequest) -> Iterator[bytes]:
    """Errors in the request surface as HTTP errors: the first piece is produced before streaming begins."""
    session_id, query, pieces = chat.stream(body.session_id, body.message)
    first = next(pieces)

    def events() -> Iterator[bytes]:
        yield _event("session", {"session_id": session_id, "query": query})
        try:
            for item in _prepend(first, pieces):
                if isinstance(item, str):
                    yield _event("delta", {"text": item})
                else:
                    yield _event("citations", {"citations": [c.model_dump() for c in item.answer.citations]})
                    yield _event("done", _chat_out(item).model_dump(mode="json"))
        except Exception as exc:  # the status line is gone: tell the client in the stream, then end it
            log.exception("chat stream failed", exc_info=exc)
            message = str(exc) if isinstance(exc, QAError) else "Internal error; the server log has the details."
            yield _event("error", {"error": {"message": message, "type": type(exc).__name__}})

    return events()


def _prepend(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _event(name: str, data: dict[str, Any]) -> bytes:
    return format_sse_event(event=name, data_str=json.dumps(data, ensure_ascii=False))


def _slug(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:80]
    if not slug:
        raise InvalidInput("Give the article an id, or a title with letters or digits to derive one from.")
    return slug
