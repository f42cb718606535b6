"""The chat page and the API docs (Swagger UI is vendored: the default page loads it from a CDN)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(str(resources.files("api") / "static"))
router = APIRouter(include_in_schema=False)


@router.get("/")
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html")


@router.get("/docs")
def docs() -> FileResponse:
    """Swagger UI, started by a script file (FastAPI's own page starts it inline, which the CSP forbids)."""
    return FileResponse(STATIC / "docs" / "index.html")
