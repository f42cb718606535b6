"""GET /metrics: Prometheus's text format, for a scraper."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import Service
from qa.errors import QAError
from qa.telemetry import set_index_size

router = APIRouter(tags=["service"])
log = logging.getLogger("api")


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "The metrics."}},
)
def metrics(service: Service) -> Response:
    """Requests by route and status, latency by route, the stages of asking and indexing, answers by outcome,
    chunks embedded, and the index's size (read now)."""
    try:
        health = service.health()
        set_index_size(health.articles, health.chunks)
    except QAError as exc:  # the store is down: the other metrics still say why, the size stays as last read
        log.warning("index size not read for /metrics: %s", exc)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
