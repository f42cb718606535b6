"""The articles: list, read, add or replace (a big one as a background job), remove."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import Service
from api.schemas import ArticleQuery, Removed
from api.security import REFUSALS, Reader, Writer
from qa.cancel import CancelToken
from qa.domain import ArticleDraft, ArticlePage, ArticleText, ArticleWrite
from qa.jobs import STOPPING, Job

router = APIRouter(prefix="/api/articles", tags=["articles"], responses=REFUSALS)
T = TypeVar("T")
DISCONNECT_POLL = 0.5  # seconds between two looks at whether the client of a running add is still there
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "model": Job,
        "description": "A big article (over QA_BACKGROUND_ADD_CHARS characters) is added in the background: follow "
        "the job at its Location.",
        "headers": {"Location": {"description": "/api/jobs/ID: the job's progress", "schema": {"type": "string"}}},
    },
    200: {"model": ArticleWrite, "description": "Replaced (or unchanged)."},
}


@router.get("", dependencies=[Reader])
def list_articles(service: Service, query: Annotated[ArticleQuery, Query()]) -> ArticlePage:
    """A page of the indexed articles, with the total (of those matching) and the cursor of the next page; `q`
    searches titles and text, `source`, `since` and `until` filter as a question's fields do, `title` finds an
    article by its exact title (a duplicate's check)."""
    return service.list_articles(
        query.limit, query.cursor, query.order, within=query.within(), search=query.q, title=query.title
    )


@router.get("/{article_id:path}", dependencies=[Reader])
def get_article(article_id: str, service: Service) -> ArticleText:
    """An article's text and metadata: what a citation's offsets point into."""
    return service.get_article(article_id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ArticleWrite,
    responses=ACCEPTED,
    dependencies=[Writer],
)
async def put_article(
    body: ArticleDraft, request: Request, response: Response, service: Service
) -> ArticleWrite | JSONResponse:
    """Index one article through the same indexer as `qa index` (201); the same id again replaces it (200).

    Without an id, one is derived from the title, and a clash with another article is refused (409) rather than
    replacing it: send the id to replace on purpose. An article over QA_BACKGROUND_ADD_CHARS characters is added
    in the background (202 and a job: GET /api/jobs/ID). A client that goes away before the answer cancels the
    addition: nothing is stored."""
    if service.runs_in_background(body):
        job = await run_in_threadpool(service.put_article_in_background, body)
        return JSONResponse(
            job.model_dump(mode="json"),
            status_code=status.HTTP_202_ACCEPTED,
            headers={"Location": f"/api/jobs/{job.id}"},
        )
    with service.jobs.tracked() as cancel:
        written = await _unless_client_leaves(request, cancel, partial(service.put_article, body, cancel))
    if written.status != "added":
        response.status_code = status.HTTP_200_OK
    return written


@router.delete("/{article_id:path}", dependencies=[Writer])
def remove_article(article_id: str, service: Service) -> Removed:
    """Remove an article, its chunks and its keyword entries."""
    service.remove_article(article_id)
    return Removed(removed=article_id)


async def _unless_client_leaves(request: Request, cancel: CancelToken, work: Callable[[], T]) -> T:
    """Run `work` (which looks at `cancel` between its steps) on a worker thread; cancel it if the client
    disconnects, or if the server stops waiting for this request."""
    task = asyncio.ensure_future(run_in_threadpool(work))
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=DISCONNECT_POLL)
            if not task.done() and await request.is_disconnected():
                cancel.cancel("The client went away.")
    except asyncio.CancelledError:
        cancel.cancel(STOPPING)
        with contextlib.suppress(Exception):
            await task  # the thread stops at its next step; let it, rather than leave it running unowned
        raise
    return task.result()
