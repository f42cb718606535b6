"""GET and POST /api/timeline: how a story developed, in the order it was reported."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Service
from api.schemas import TimelineQuery, TimelineRequest
from api.security import REFUSALS, Reader
from qa.domain import Timeline

router = APIRouter(prefix="/api", tags=["answers"], dependencies=[Reader], responses=REFUSALS)


@router.get("/timeline")
def timeline(service: Service, query: Annotated[TimelineQuery, Query()]) -> Timeline:
    """The dated sentences matching `q`, oldest first, grouped by day, each quoted and cited with its article's
    date and outlet (`qa timeline QUERY --json` prints the same object)."""
    return service.timeline(query.q, within=query.within(), as_of=query.as_of)


@router.post("/timeline")
def timeline_with_filters(body: TimelineRequest, service: Service) -> Timeline:
    """The same, with every filter of a question: several outlets (`sources`), chosen articles (`article_ids`)."""
    return service.timeline(body.query, within=body.within(), as_of=body.as_of)
