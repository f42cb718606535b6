"""GET /api/sources: the outlets the articles come from (what `sources` filters accept)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Service
from api.security import REFUSALS, Reader

router = APIRouter(prefix="/api", tags=["articles"], dependencies=[Reader], responses=REFUSALS)


@router.get("/sources")
def sources(service: Service) -> list[str]:
    """Every outlet named by an article's `source`, sorted."""
    return service.sources()
