"""POST /api/ask: one question, one answer."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Service
from api.schemas import AskRequest
from api.security import REFUSALS, Reader
from qa.domain import Answer

router = APIRouter(prefix="/api", tags=["answers"], dependencies=[Reader], responses=REFUSALS)


@router.post("/ask")
def ask(body: AskRequest, service: Service) -> Answer:
    """Answer one question: the same object `qa ask --json` prints."""
    return service.ask(body.question, top_k=body.top_k, within=body.within(), as_of=body.as_of)
