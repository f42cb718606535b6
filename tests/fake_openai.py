"""A scriptable, OpenAI-compatible HTTP server on loopback, for tests.

The product's generative backend talks to "OpenAI or any OpenAI-compatible server" through the official
`openai` SDK. The real service is unreachable in tests, so tests point the SDK (or the product, via its
base-URL setting) at a `FakeOpenAI` and script what it answers:

    with FakeOpenAI(api_key="sk-test") as fake:
        fake.reply_with("Truss demanded a recount [1].")
        client = OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
        assert reply.choices[0].message.content == "Truss demanded a recount [1]."
        assert fake.chat_requests[0].body["messages"][0]["content"] == "Hi"

Endpoints (OpenAI wire format, as the SDK 2.x parses it): `GET /v1/models`, `POST /v1/chat/completions`
(JSON, or server-sent events when `"stream": true`), `POST /v1/embeddings` (float or base64 vectors).

The server is real HTTP (uvicorn in a background thread), so it also serves products run as subprocesses.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import math
import re
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

__all__ = [
    "DEFAULT_REPLY",
    "MALFORMED_KINDS",
    "FakeOpenAI",
    "RecordedRequest",
    "fake_embedding",
    "prompt_text",
]

DEFAULT_REPLY = "This is a reply from the fake OpenAI server."
DEFAULT_MODELS = ("gpt-4o-mini", "text-embedding-3-small")

Endpoint = Literal["chat", "embeddings", "models"]
MalformedKind = Literal["not_json", "truncated", "no_choices", "empty", "null_content"]
MALFORMED_KINDS: tuple[str, ...] = ("not_json", "truncated", "no_choices", "empty", "null_content")

# OpenAI's error `type` per status; 429 and 5xx matter most because the SDK retries exactly those (plus 408/409).
_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
_ERROR_CODES: dict[int, str] = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}
_ERROR_MESSAGES: dict[int, str] = {
    400: "Invalid request.",
    401: "Incorrect API key provided",
    403: "You are not allowed to sample from this model.",
    404: "The model does not exist or you do not have access to it.",
    429: "Rate limit reached for requests. Please try again later.",
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
}

_WORD = re.compile(r"\w+")
_PIECE = re.compile(r"\s*\S+")  # a word with its leading whitespace: pieces concatenate back to the text


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received: `headers` has lower-case names, `body` is the parsed JSON (or None)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def endpoint(self) -> str:
        """`chat`, `embeddings`, `models` or the bare path for anything else."""
        return _endpoint_of(self.path)


@dataclass
class _Failure:
    """A scripted error response, used for the next `remaining` matching requests."""

    status: int
    remaining: int
    message: str
    endpoint: Endpoint | None
    retry_after: float | None
    type: str
    code: str | None
    should_retry: bool | None


@dataclass
class _Script:
    """Everything tests script; only touched under `FakeOpenAI._lock`."""

    replies: list[str] = field(default_factory=list)
    reply_fn: Callable[[dict[str, Any]], str] | None = None
    failures: list[_Failure] = field(default_factory=list)
    malformed: list[MalformedKind] = field(default_factory=list)
    delay: float = 0.0


def _endpoint_of(path: str) -> str:
    for suffix, name in (("/chat/completions", "chat"), ("/embeddings", "embeddings"), ("/models", "models")):
        if path.rstrip("/").endswith(suffix):
            return name
    return path


def prompt_text(body: dict[str, Any]) -> str:
    """All message text of a chat-completions request body, joined by newlines (handy inside `reply_by`)."""
    texts: list[str] = []
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
            texts.extend(part.get("text", "") for part in content if isinstance(part, dict))
    return "\n".join(texts)


def fake_embedding(text: str, dimension: int = 64) -> list[float]:
    """A deterministic, L2-normalised hashed bag-of-words vector: texts sharing words get similar vectors.

    Values are rounded to float32 so the float and base64 encodings of a vector are identical.
    """
    vector = [0.0] * dimension
    words = _WORD.findall(text.lower()) or [text]  # punctuation-only text still gets a stable, non-zero vector
    for word in words:
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        number = int.from_bytes(digest, "little")
        # One bucket and a sign per word (feature hashing); the sign keeps unrelated texts near orthogonal.
        vector[number % dimension] += 1.0 if (number >> 32) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0.0:  # words whose signs cancelled out in one bucket: fall back to the whole text's bucket
        vector[int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") % dimension] = 1.0
        norm = 1.0
    return list(struct.unpack(f"<{dimension}f", struct.pack(f"<{dimension}f", *(v / norm for v in vector))))


def _count_tokens(text: str) -> int:
    """A crude token count (words and punctuation marks) for `usage`; good enough to be non-zero and stable."""
    return len(re.findall(r"\w+|[^\w\s]", text))


def _error_body(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class _ThreadServer(uvicorn.Server):
    """A uvicorn server that never touches signal handlers: signals belong to the main thread (pytest's)."""

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29 calls this
        pass

    @contextmanager
    def capture_signals(self) -> Iterator[None]:  # uvicorn >= 0.29 calls this (and skips non-main threads itself)
        yield


class FakeOpenAI:
    """An OpenAI-compatible server on 127.0.0.1 that tests script. Use as a context manager or `start()`/`stop()`.

    Args:
        api_key: if given, requests must carry `Authorization: Bearer <api_key>`, otherwise they get a 401.
        dimension: default embedding size (a request's `dimensions` overrides it).
        models: model ids listed by `GET /v1/models` (any model id is accepted by the other endpoints).
    """

    def __init__(self, api_key: str | None = None, dimension: int = 64, models: tuple[str, ...] = DEFAULT_MODELS):
        self.api_key = api_key
        self.dimension = dimension
        self.models = tuple(models)
        self._lock = threading.Lock()
        self._script = _Script()
        self._requests: list[RecordedRequest] = []
        self._errors: list[BaseException] = []
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._server: _ThreadServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self.app = self._build_app()

    # ----------------------------------------------------------------------------------------------- lifecycle

    def start(self, timeout: float = 10.0) -> FakeOpenAI:
        """Start serving on a free loopback port; returns once the server answers HTTP."""
        if self._thread is not None:
            raise RuntimeError("FakeOpenAI is already running")
        # Bind port 0 ourselves and hand the socket to uvicorn: the port is known up front and cannot be raced.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self._port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="asyncio",
            http="h11",
            timeout_graceful_shutdown=2,  # never let a stuck handler hold up stop()
        )
        self._stopping.clear()
        self._server = _ThreadServer(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"fake-openai-{self._port}", daemon=True
        )
        self._thread.start()
        self._wait_until_up(timeout)
        return self

    def _wait_until_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self._port}/_fake/health"
        while time.monotonic() < deadline:
            if self._thread is None or not self._thread.is_alive():
                break
            if self._server is not None and self._server.started:
                try:
                    if httpx.get(url, timeout=1.0).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"FakeOpenAI did not start on 127.0.0.1:{self._port} within {timeout} s")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server and wait for its thread; safe to call twice."""
        self._stopping.set()  # wakes handlers sleeping in `delay()` so shutdown is quick
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout)
        self._server = self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeOpenAI has not been started")
        return self._port

    @property
    def base_url(self) -> str:
        """The URL to give the SDK as `base_url` (or the product as its OpenAI base URL)."""
        return f"http://127.0.0.1:{self.port}/v1"

    # ----------------------------------------------------------------------------------------------- scripting

    def reply_with(self, *contents: str) -> None:
        """Queue chat replies, used in order; the last one repeats once the queue runs out. Replaces `reply_by`."""
        if not contents:
            raise ValueError("reply_with needs at least one reply")
        with self._lock:
            self._script.replies = list(contents)
            self._script.reply_fn = None

    def reply_by(self, fn: Callable[[dict[str, Any]], str]) -> None:
        """Compute each chat reply as `fn(request_json)`. Replaces queued `reply_with` replies.

        If `fn` raises, the request gets a 500 with `x-should-retry: false` (so the SDK does not retry it) and
        the exception is kept in `errors` for the test to re-raise or inspect. `fn` runs on the server's event
        loop, so keep it quick.
        """
        with self._lock:
            self._script.reply_fn = fn
            self._script.replies = []

    def fail_next(
        self,
        status: int,
        times: int = 1,
        message: str | None = None,
        retry_after: float | None = None,
        *,
        endpoint: Endpoint | None = None,
        type: str | None = None,
        code: str | None = None,
        should_retry: bool | None = None,
    ) -> None:
        """Answer the next `times` requests (of `endpoint`, or any) with `status` and an OpenAI error body.

        `retry_after` (seconds, floats allowed) is sent as `retry-after`; the SDK sleeps exactly that long when
        it is > 0 and <= 120, otherwise it uses its own backoff (0.5 s, 1 s, ... with jitter).
        `should_retry` sends `x-should-retry: true/false`, which the SDK obeys over its status-code rules.
        Scripted failures are used first-in first-out; failures take precedence over `malformed_next`.
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        failure = _Failure(
            status=status,
            remaining=times,
            message=message or _ERROR_MESSAGES.get(status, f"Fake error {status}."),
            endpoint=endpoint,
            retry_after=retry_after,
            type=type or _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
            code=code if code is not None else _ERROR_CODES.get(status),
            should_retry=should_retry,
        )
        with self._lock:
            self._script.failures.append(failure)

    def malformed_next(self, kind: MalformedKind, times: int = 1) -> None:
        """Make the next `times` chat replies malformed (HTTP 200 each time):

        - `not_json`: a non-JSON HTML body (`text/html`; streaming: an SSE `data:` line that is not JSON);
        - `truncated`: JSON cut off mid-way, labelled `application/json` (streaming: the stream stops after a
          few content chunks, without a finish chunk or `[DONE]`);
        - `no_choices`: valid JSON without a `choices` key (streaming: chunks without `choices`);
        - `empty`: `choices[0].message.content == ""` (streaming: role chunk, finish chunk, no content);
        - `null_content`: `content` is null (streaming: as `empty`, with a null content in the first delta).

        A malformed reply takes the place of a scripted one: the `reply_with` queue does not advance (the
        truncated stream carries `DEFAULT_REPLY`'s first words).
        """
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"unknown malformed kind {kind!r}; expected one of {MALFORMED_KINDS}")
        with self._lock:
            self._script.malformed.extend([kind] * times)

    def delay(self, seconds: float) -> None:
        """Wait `seconds` before answering every request from now on (0 to stop delaying)."""
        with self._lock:
            self._script.delay = max(0.0, seconds)

    def reset(self) -> None:
        """Forget all scripts, recorded requests and errors; the server keeps running."""
        with self._lock:
            self._script = _Script()
            self._requests.clear()
            self._errors.clear()

    # ----------------------------------------------------------------------------------------------- inspection

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (a copy), including failed and unauthorised ones."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint == "chat"]

    @property
    def embedding_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint == "embeddings"]

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised by `reply_by` functions."""
        with self._lock:
            return list(self._errors)

    # ----------------------------------------------------------------------------------------------- the app

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="fake-openai", docs_url=None, redoc_url=None, openapi_url=None)

        @app.get("/_fake/health", include_in_schema=False)
        async def health() -> dict[str, bool]:
            return {"ok": True}

        @app.get("/v1/models")
        async def models(request: Request) -> Response:
            _, early = await self._intake(request, "models")
            if early is not None:
                return early
            data = [{"id": m, "object": "model", "created": 1700000000, "owned_by": "fake-openai"} for m in self.models]
            return JSONResponse({"object": "list", "data": data})

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Response:
            body, early = await self._intake(request, "chat")
            return early if early is not None else self._chat(body)

        @app.post("/v1/embeddings")
        async def embeddings(request: Request) -> Response:
            body, early = await self._intake(request, "embeddings")
            return early if early is not None else self._embeddings(body)

        return app

    async def _intake(self, request: Request, endpoint: Endpoint) -> tuple[Any, Response | None]:
        """Record the request, then apply delay, auth and scripted failures.

        Returns the parsed body and, when the request ends here, the (error) response to send.
        """
        body = await _json_or_none(request)
        with self._lock:
            self._requests.append(RecordedRequest(request.method, request.url.path, dict(request.headers), body))
            script = self._script
        if script.delay:
            await self._sleep(script.delay)
            if script is not self._script:
                # reset() ran while this request slept (its client gave up long ago): it must not consume the
                # scripts of the test that came next
                return body, JSONResponse(_error_body("stale request", "server_error", None), status_code=503)
        if self.api_key is not None:
            auth = request.headers.get("authorization", "")
            if auth != f"Bearer {self.api_key}":
                message = _ERROR_MESSAGES[401] if auth else "You didn't provide an API key."
                error = _error_body(message, "invalid_request_error", "invalid_api_key")
                return body, JSONResponse(error, status_code=401)
        failure = self._take_failure(endpoint)
        if failure is not None:
            headers: dict[str, str] = {}
            if failure.retry_after is not None:
                headers["retry-after"] = f"{failure.retry_after:g}"
            if failure.should_retry is not None:
                headers["x-should-retry"] = "true" if failure.should_retry else "false"
            content = _error_body(failure.message, failure.type, failure.code)
            return body, JSONResponse(content, status_code=failure.status, headers=headers)
        if request.method == "POST" and not isinstance(body, dict):
            error = _error_body("We could not parse the JSON body of your request.", "invalid_request_error", None)
            return body, JSONResponse(error, status_code=400)
        return body, None

    async def _sleep(self, seconds: float) -> None:
        # Sleep in small steps so stop() is not held up by a long scripted delay.
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set() and (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.05))

    def _take_failure(self, endpoint: Endpoint) -> _Failure | None:
        with self._lock:
            for failure in self._script.failures:
                if failure.endpoint in (None, endpoint):
                    failure.remaining -= 1
                    if failure.remaining == 0:
                        self._script.failures.remove(failure)
                    return failure
        return None

    def _next_reply(self, body: dict[str, Any]) -> tuple[str | None, MalformedKind | None]:
        """The scripted reply text and malformed kind for this chat request (exactly one of them is set)."""
        with self._lock:
            if self._script.malformed:
                return None, self._script.malformed.pop(0)
            fn = self._script.reply_fn
            if fn is None:
                replies = self._script.replies
                if not replies:
                    return DEFAULT_REPLY, None
                return (replies.pop(0) if len(replies) > 1 else replies[0]), None
        return fn(body), None  # outside the lock: the function may be slow or inspect the fake

    # ----------------------------------------------------------------------------------------------- chat

    def _chat(self, body: dict[str, Any]) -> Response:
        try:
            text, kind = self._next_reply(body)
        except Exception as exc:  # a bug in the test's reply_by function: surface it, don't let the SDK retry it
            with self._lock:
                self._errors.append(exc)
            error = _error_body(f"reply_by function raised {exc!r}", "server_error", None)
            return JSONResponse(error, status_code=500, headers={"x-should-retry": "false"})
        model = str(body.get("model") or "gpt-4o-mini")
        completion_id = f"chatcmpl-fake{next(self._ids)}"
        created = int(time.time())
        prompt_tokens = _count_tokens(prompt_text(body))
        finish_reason = "stop"
        if text is not None:
            limit = body.get("max_completion_tokens") or body.get("max_tokens")
            if isinstance(limit, int) and _count_tokens(text) > limit:
                # Like the real API, stop at the token budget and say so.
                text = "".join(_PIECE.findall(text)[:limit])
                finish_reason = "length"
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = self._stream_chunks(
                completion_id, created, model, text, kind, finish_reason, prompt_tokens, include_usage
            )
            return StreamingResponse(chunks, media_type="text/event-stream", headers={"cache-control": "no-cache"})
        return self._chat_json(completion_id, created, model, text, kind, finish_reason, prompt_tokens)

    def _chat_json(
        self,
        completion_id: str,
        created: int,
        model: str,
        text: str | None,
        kind: MalformedKind | None,
        finish_reason: str,
        prompt_tokens: int,
    ) -> Response:
        if kind == "not_json":
            html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
            return Response(html, status_code=200, media_type="text/html")
        content = "" if kind == "empty" else None if kind == "null_content" else text
        completion_tokens = _count_tokens(content or "")
        completion: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": _usage(prompt_tokens, completion_tokens),
            "system_fingerprint": "fp_fake",
        }
        if kind == "no_choices":
            del completion["choices"]
        if kind == "truncated":
            raw = json.dumps(completion)
            return Response(raw[: len(raw) // 2], status_code=200, media_type="application/json")
        return JSONResponse(completion)

    async def _stream_chunks(
        self,
        completion_id: str,
        created: int,
        model: str,
        text: str | None,
        kind: MalformedKind | None,
        finish_reason: str,
        prompt_tokens: int,
        include_usage: bool,
    ) -> AsyncIterator[str]:
        """The SSE body of a streamed chat completion, chunk by chunk, as OpenAI sends it."""

        def chunk(delta: dict[str, Any] | None, finish: str | None = None) -> str:
            payload: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}],
            }
            if include_usage:
                payload["usage"] = None  # OpenAI sends null usage on every chunk but the last when asked for usage
            if kind == "no_choices":
                del payload["choices"]
            return f"data: {json.dumps(payload)}\n\n"

        if kind == "not_json":
            yield "data: <html>502 Bad Gateway</html>\n\n"
            yield "data: [DONE]\n\n"
            return
        reply = text or ""
        if kind == "truncated":
            reply = reply or DEFAULT_REPLY
        pieces = _split_pieces("" if kind in ("empty", "null_content") else reply)
        yield chunk({"role": "assistant", "content": None if kind == "null_content" else ""})
        if kind == "truncated":
            for piece in pieces[: max(1, len(pieces) // 2)]:
                yield chunk({"content": piece})
            return  # the connection ends here: no finish chunk, no [DONE]
        for piece in pieces:
            yield chunk({"content": piece})
            await asyncio.sleep(0)  # let each chunk go out on its own, as a real stream would
        yield chunk({}, finish_reason)
        if include_usage:
            usage = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [],
                "usage": _usage(prompt_tokens, _count_tokens(reply if kind is None else "")),
            }
            yield f"data: {json.dumps(usage)}\n\n"
        yield "data: [DONE]\n\n"

    # ----------------------------------------------------------------------------------------------- embeddings

    def _embeddings(self, body: dict[str, Any]) -> Response:
        raw = body.get("input")
        inputs: list[Any] = raw if isinstance(raw, list) else [raw]
        # Token-id inputs (list[int] or list[list[int]]) are allowed by the API; treat each id as a word.
        if raw and isinstance(raw, list) and all(isinstance(x, int) for x in raw):
            inputs = [raw]
        texts = [" ".join(f"t{t}" for t in x) if isinstance(x, list) else x for x in inputs]
        if not texts or any(not isinstance(t, str) or not t for t in texts):
            # Like the real API, which rejects empty strings and empty lists.
            message = "'$.input' is invalid. Please check the API reference."
            return JSONResponse(_error_body(message, "invalid_request_error", None, param="input"), status_code=400)
        dimension = body.get("dimensions") or self.dimension
        base64_format = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = fake_embedding(text, dimension)
            encoded: list[float] | str = (
                base64.b64encode(struct.pack(f"<{dimension}f", *vector)).decode() if base64_format else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(_count_tokens(t) for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        model = str(body.get("model") or "text-embedding-3-small")
        return JSONResponse({"object": "list", "data": data, "model": model, "usage": usage})


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _split_pieces(text: str) -> list[str]:
    """Split a reply into several stream deltas (word by word; short replies by characters) that join back."""
    pieces = _PIECE.findall(text)
    if "".join(pieces) != text:  # trailing whitespace is not captured by _PIECE; keep it on the last piece
        pieces.append(text[len("".join(pieces)) :])
    if len(pieces) < 3 and len(text) >= 3:
        step = math.ceil(len(text) / 3)
        pieces = [text[i : i + step] for i in range(0, len(text), step)]
    return [p for p in pieces if p]


async def _json_or_none(request: Request) -> Any:
    """The parsed JSON body, or None when there is none or it is not JSON (Starlette caches the bytes)."""
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None
