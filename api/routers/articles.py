"""The articles: list, read, add or replace, remove."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.deps import Service
from api.schemas import Removed
from api.security import REFUSALS, Reader, Writer
from qa.catalog import ListOrder
from qa.domain import ArticleDraft, ArticlePage, ArticleText, ArticleWrite

router = APIRouter(prefix="/api/articles", tags=["articles"], responses=REFUSALS)


@router.get("", dependencies=[Reader])
def list_articles(
    service: Service,
    limit: Annotated[int, Query(ge=1, le=200, description="Articles on the page.")] = 20,
    cursor: Annotated[str | None, Query(max_length=2000, description="`next_cursor` of the previous page.")] = None,
    order: Annotated[ListOrder, Query(description="By id, or newest first.")] = "id",
) -> ArticlePage:
    """A page of the indexed articles, with the total and the cursor of the next page."""
    return service.list_articles(limit, cursor, order)


@router.get("/{article_id:path}", dependencies=[Reader])
def get_article(article_id: str, service: Service) -> ArticleText:
    """An article's text and metadata: what a citation's offsets point into."""
    return service.get_article(article_id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Writer],
    responses={200: {"model": ArticleWrite, "description": "Replaced, or unchanged (the same content again)."}},
)
def put_article(body: ArticleDraft, response: Response, service: Service) -> ArticleWrite:
    """Index one article through the same indexer as `qa index`; the same id again replaces it (200).

    Without an id, one is derived from the title, and a clash with another article is refused (409) rather than
    replacing it: send the id to replace on purpose."""
    written = service.put_article(body)
    if written.status != "added":
        response.status_code = status.HTTP_200_OK
    return written


@router.delete("/{article_id:path}", dependencies=[Writer])
def remove_article(article_id: str, service: Service) -> Removed:
    """Remove an article, its chunks and its keyword entries."""
    service.remove_article(article_id)
    return Removed(removed=article_id)
