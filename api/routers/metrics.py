"""GET /metrics: Prometheus's text format, for a scraper."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import Service
from api.security import REFUSALS, Reader
from qa.telemetry import set_index_size

router = APIRouter(tags=["service"])
log = logging.getLogger("api")


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Reader],  # counts and routes say something about the archive: a key once keys exist
    responses={
        **REFUSALS,
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "The metrics."},
    },
)
def metrics(service: Service) -> Response:
    """Requests by route and status, latency by route, the stages of asking and indexing, answers by outcome,
    chunks embedded, and the index's size (read now)."""
    try:
        health = service.health()
        set_index_size(health.articles, health.chunks)
    except Exception as exc:  # the store is down (a Chroma server's client raises its own errors): the size
        # stays as last read, and the other metrics, which say what is going on, are still served
        log.warning("index size not read for /metrics: %s: %s", type(exc).__name__, exc)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
