"""GET /health: for load balancers and for a user checking the service."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Service
from qa.domain import Health

router = APIRouter(tags=["service"])


@router.get("/health")
def health(service: Service) -> Health:
    """Status, counts, embedder and answering backend."""
    return service.health()
