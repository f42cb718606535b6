"""GET /api/sources: the outlets the articles come from (what `sources` filters accept); GET /api/stories: the
stories several articles carry (syndicated copies), with their outlets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Service
from api.security import REFUSALS, Reader
from qa.domain import StoryPage

router = APIRouter(prefix="/api", tags=["articles"], dependencies=[Reader], responses=REFUSALS)


@router.get("/sources")
def sources(service: Service) -> list[str]:
    """Every outlet named by an article's `source`, sorted."""
    return service.sources()


@router.get("/stories")
def stories(
    service: Service,
    limit: Annotated[int, Query(ge=1, le=200, description="Stories on the page.")] = 20,
    cursor: Annotated[str | None, Query(max_length=2000, description="`next_cursor` of the previous page.")] = None,
) -> StoryPage:
    """A page of the stories several articles carry, first-indexed first (what `qa list --stories --json` prints)."""
    return service.stories(limit, cursor)
