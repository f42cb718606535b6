"""Dependencies of the routes, as `Annotated` aliases: a route names what it needs by type."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from qa.service import NewsService


def get_service(request: Request) -> NewsService:
    """The application's one service (made by `create_app`)."""
    service: NewsService = request.app.state.service
    return service


Service = Annotated[NewsService, Depends(get_service)]
