"""The articles: list, read, add or replace, remove."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import Service
from api.schemas import Removed
from qa.domain import ArticleDraft, ArticleInfo, ArticleText, ArticleWrite

router = APIRouter(prefix="/api/articles", tags=["articles"])


@router.get("")
def list_articles(service: Service) -> list[ArticleInfo]:
    """Every indexed article, sorted by id."""
    return service.list_articles()


@router.get("/{article_id:path}")
def get_article(article_id: str, service: Service) -> ArticleText:
    """An article's text and metadata: what a citation's offsets point into."""
    return service.get_article(article_id)


@router.post("", status_code=status.HTTP_201_CREATED)
def put_article(body: ArticleDraft, response: Response, service: Service) -> ArticleWrite:
    """Index one article through the same indexer as `qa index`; the same id again replaces it (200).

    Without an id, one is derived from the title, and a clash with another article is refused (409) rather than
    replacing it: send the id to replace on purpose."""
    written = service.put_article(body)
    if written.status != "added":
        response.status_code = status.HTTP_200_OK
    return written


@router.delete("/{article_id:path}")
def remove_article(article_id: str, service: Service) -> Removed:
    """Remove an article, its chunks and its keyword entries."""
    service.remove_article(article_id)
    return Removed(removed=article_id)
