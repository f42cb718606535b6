"""The API on a network: bearer keys per route scope, Host checking, and the headers that keep the page safe."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.schemas import ErrorOut
from qa.access import Caller, Gate
from qa.keys import KeyStore
from qa.keys import Scope as KeyScope
from qa.settings import Settings

# The page and the vendored API docs load scripts, styles and images from this origin only, and nothing may
# frame them (clickjacking). Swagger UI draws its icons from data: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
_bearer = HTTPBearer(auto_error=False, description="An API key made by `qa keys create` (needed once one exists).")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def install_security(app: FastAPI, settings: Settings) -> None:
    """Keys, Host checking and the security headers, on an app."""
    app.state.gate = Gate(
        KeyStore(settings.keys_path),
        settings.rate_limit,
        settings.rate_limit_storage,
        open_to_all=settings.insecure_open,
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.host_names)


def _admit(scope: KeyScope) -> Callable[..., Caller]:
    """The dependency that admits a call needing `scope` (FastAPI reads its signature: the bearer scheme shows in
    the OpenAPI schema and in the docs' Authorize button)."""

    def admit(request: Request, credentials: Bearer) -> Caller:
        gate: Gate = request.app.state.gate
        address = request.client.host if request.client else ""
        return gate.admit(credentials.credentials if credentials else None, scope, address)

    return admit


Reader = Depends(_admit("read"))
Writer = Depends(_admit("write"))
# What a guarded route may answer besides its own statuses.
REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No API key, or not a valid one."},
    403: {"model": ErrorOut, "description": "The key lacks the scope, or the server takes no anonymous call."},
    429: {"model": ErrorOut, "description": "Rate limit reached; the Retry-After header says when to retry."},
}


class SecurityHeaders:
    """Adds the security headers to every response (pure ASGI, so streams pass through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in HEADERS if h[0] not in present]
            await send(message)

        await self.app(scope, receive, with_headers)
