"""GET /health (status and counts), /health/live (the process answers) and /health/ready (it can answer questions)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import Service
from qa.domain import Health, Readiness

router = APIRouter(tags=["service"])


class Liveness(BaseModel):
    status: Literal["alive"]


@router.get("/health")
def health(service: Service) -> Health:
    """Status, counts, embedder and answering backend."""
    return service.health()


@router.get("/health/live")
async def live() -> Liveness:
    """The process answers (nothing else is looked at: a liveness probe that read the store would restart a
    healthy server whose store is down). Runs on the event loop, so it also shows the loop is not stuck."""
    return Liveness(status="alive")


@router.get(
    "/health/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: `reason` says what is missing."}},
)
def ready(service: Service) -> Readiness | JSONResponse:
    """Whether questions can be answered now: the store answers, the replica has caught up with the store's
    change log, and the embedding model is loaded (the first call loads it). 503 with the reason when not."""
    readiness = service.readiness()
    if readiness.status != "ready":
        return JSONResponse(readiness.model_dump(mode="json"), status_code=503)
    return readiness
