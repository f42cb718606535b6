"""The fake OpenAI server, exercised through the real `openai` SDK (2.54) so tests built on it see what the SDK sees.

Besides checking the fake, these tests pin down how the SDK reacts to each failure, which the product's error
handling relies on:

- non-JSON 200 body (`text/html`): `create()` returns the body as a plain `str` (no exception!);
- truncated JSON labelled `application/json`: a bare `json.JSONDecodeError` (not an `openai.OpenAIError`);
- a stream whose `data:` line is not JSON: `json.JSONDecodeError` while iterating;
- a stream cut before its finish chunk and `[DONE]`: iteration simply ends, no exception, no finish_reason;
- JSON without `choices`: a `ChatCompletion` whose `choices` is None (chunks likewise);
- empty / null content: a normal `ChatCompletion` with `content == ""` / `content is None`;
- status codes map to `BadRequestError` (400), `AuthenticationError` (401), `PermissionDeniedError` (403),
  `NotFoundError` (404), `ConflictError` (409), `UnprocessableEntityError` (422), `RateLimitError` (429),
  `InternalServerError` (>= 500); 408, 409, 429 and >= 500 are retried, the rest are not.
"""

from __future__ import annotations

import json
import math
import socket
import time
from collections.abc import Iterator

import openai
import pytest
from openai import OpenAI

from tests.fake_openai import DEFAULT_REPLY, FakeOpenAI, fake_embedding, prompt_text

KEY = "sk-test"
USER = [{"role": "user", "content": "What did Truss demand?"}]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    """One server for the module: starting is cheap, but sharing keeps the file fast."""
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """The shared server with clean scripts and records for each test."""
    server.reset()
    yield server
    server.reset()


def client(fake: FakeOpenAI, *, api_key: str = KEY, max_retries: int = 0, timeout: float = 5.0) -> OpenAI:
    """An SDK client on the fake; no retries unless a test asks for them."""
    return OpenAI(base_url=fake.base_url, api_key=api_key, max_retries=max_retries, timeout=timeout)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# --------------------------------------------------------------------------------------------------- basics


def test_models_are_listed(fake: FakeOpenAI) -> None:
    ids = [m.id for m in client(fake).models.list()]
    assert ids == ["gpt-4o-mini", "text-embedding-3-small"]
    assert fake.requests[0].method == "GET"
    assert fake.requests[0].path == "/v1/models"


def test_base_url_is_loopback_v1(fake: FakeOpenAI) -> None:
    assert fake.base_url == f"http://127.0.0.1:{fake.port}/v1"


def test_start_stop_frees_the_port() -> None:
    fake = FakeOpenAI()
    fake.start()
    port = fake.port
    assert client(fake).models.list().data
    fake.stop()
    fake.stop()  # idempotent
    with pytest.raises(openai.APIConnectionError):
        client(fake).models.list()
    with socket.socket() as sock:  # nothing listens any more
        assert sock.connect_ex(("127.0.0.1", port)) != 0


# --------------------------------------------------------------------------------------------------- chat


def test_chat_non_streaming(fake: FakeOpenAI) -> None:
    fake.reply_with("Truss demanded a recount [1].")
    reply = client(fake).chat.completions.create(model="gpt-4o-mini", messages=USER, temperature=0)

    assert reply.object == "chat.completion"
    assert reply.model == "gpt-4o-mini"
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "Truss demanded a recount [1]."
    assert choice.finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens

    [recorded] = fake.chat_requests
    assert recorded.path == "/v1/chat/completions"
    assert recorded.headers["authorization"] == f"Bearer {KEY}"
    assert recorded.body["messages"] == USER
    assert recorded.body["temperature"] == 0


def test_default_reply_and_queue_whose_last_reply_repeats(fake: FakeOpenAI) -> None:
    sdk = client(fake)

    def ask() -> str | None:
        return sdk.chat.completions.create(model="m", messages=USER).choices[0].message.content

    assert ask() == DEFAULT_REPLY
    fake.reply_with("one", "two")
    assert [ask(), ask(), ask()] == ["one", "two", "two"]


def test_reply_by_computes_the_reply_from_the_request(fake: FakeOpenAI) -> None:
    def cite_passages(body: dict) -> str:
        numbers = [n for n in range(1, 10) if f"[{n}]" in prompt_text(body)]
        return " ".join(f"Claim [{n}]." for n in numbers)

    fake.reply_by(cite_passages)
    messages = [
        {"role": "system", "content": "Answer from the passages."},
        {"role": "user", "content": [{"type": "text", "text": "[1] Truss spoke. [3] Sunak replied."}]},
    ]
    reply = client(fake).chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Claim [1]. Claim [3]."


def test_reply_by_errors_are_surfaced_not_retried(fake: FakeOpenAI) -> None:
    def broken(body: dict) -> str:
        raise KeyError("oops")

    fake.reply_by(broken)
    with pytest.raises(openai.InternalServerError):
        client(fake, max_retries=2).chat.completions.create(model="m", messages=USER)
    assert len(fake.chat_requests) == 1  # x-should-retry: false stopped the SDK's retries
    assert isinstance(fake.errors[0], KeyError)


def test_max_tokens_cuts_the_reply_with_finish_reason_length(fake: FakeOpenAI) -> None:
    fake.reply_with("one two three four five six")
    reply = client(fake).chat.completions.create(model="m", messages=USER, max_tokens=3)
    assert reply.choices[0].message.content == "one two three"
    assert reply.choices[0].finish_reason == "length"


def test_chat_streaming(fake: FakeOpenAI) -> None:
    text = "Truss demanded a recount of the votes [2]."
    fake.reply_with(text)
    with client(fake).chat.completions.create(model="m", messages=USER, stream=True) as stream:
        chunks = list(stream)

    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    deltas = [c.choices[0].delta.content for c in chunks[1:-1]]
    assert len(deltas) >= 3
    assert "".join(d or "" for d in deltas) == text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert all(c.usage is None for c in chunks)
    assert fake.chat_requests[0].body["stream"] is True


def test_chat_streaming_with_usage(fake: FakeOpenAI) -> None:
    fake.reply_with("Short answer here.")
    stream = client(fake).chat.completions.create(
        model="m", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    *content_chunks, usage_chunk = chunks
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.completion_tokens == 4
    assert content_chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in content_chunks)


def test_short_replies_still_stream_in_pieces(fake: FakeOpenAI) -> None:
    fake.reply_with("Yes")
    chunks = list(client(fake).chat.completions.create(model="m", messages=USER, stream=True))
    pieces = [c.choices[0].delta.content for c in chunks[1:-1]]
    assert pieces == ["Y", "e", "s"]


# --------------------------------------------------------------------------------------------------- embeddings


def test_embeddings_float_and_base64_agree(fake: FakeOpenAI) -> None:
    sdk = client(fake)
    default = sdk.embeddings.create(model="text-embedding-3-small", input="Truss demanded a recount")
    as_float = sdk.embeddings.create(
        model="text-embedding-3-small", input="Truss demanded a recount", encoding_format="float"
    )

    # The SDK asks for base64 unless told otherwise, and decodes it back to floats itself.
    assert [r.body["encoding_format"] for r in fake.embedding_requests] == ["base64", "float"]
    assert default.data[0].embedding == as_float.data[0].embedding
    assert as_float.data[0].embedding == fake_embedding("Truss demanded a recount")
    assert default.model == "text-embedding-3-small"
    assert default.usage.prompt_tokens == default.usage.total_tokens == 4


def test_embeddings_explicit_base64_is_a_string(fake: FakeOpenAI) -> None:
    reply = client(fake).embeddings.create(model="e", input="hello", encoding_format="base64")
    # An explicit format is returned untouched: the SDK leaves decoding to the caller.
    assert isinstance(reply.data[0].embedding, str)


def test_embeddings_are_deterministic_normalised_and_similar_for_similar_texts(fake: FakeOpenAI) -> None:
    texts = ["Truss demanded a recount", "Truss demanded a recount today", "Weather in Lisbon is sunny"]
    reply = client(fake).embeddings.create(model="e", input=texts)
    again = client(fake).embeddings.create(model="e", input=texts)

    assert [d.index for d in reply.data] == [0, 1, 2]
    vectors = [d.embedding for d in reply.data]
    assert vectors == [d.embedding for d in again.data]
    assert all(len(v) == 64 for v in vectors)
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-6) for v in vectors)
    assert cosine(vectors[0], vectors[1]) > 0.8
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])


def test_embeddings_dimensions_and_empty_input(fake: FakeOpenAI) -> None:
    reply = client(fake).embeddings.create(model="e", input="hello", dimensions=16)
    assert len(reply.data[0].embedding) == 16
    with pytest.raises(openai.BadRequestError):  # like the real API
        client(fake).embeddings.create(model="e", input="")


# --------------------------------------------------------------------------------------------------- auth and errors


def test_wrong_key_is_rejected(fake: FakeOpenAI) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        client(fake, api_key="sk-wrong", max_retries=2).chat.completions.create(model="m", messages=USER)
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert caught.value.body == {
        "message": "Incorrect API key provided",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
    assert len(fake.requests) == 1  # 401 is not retried
    assert fake.requests[0].headers["authorization"] == "Bearer sk-wrong"


def test_rate_limit_then_success_with_retries(fake: FakeOpenAI) -> None:
    fake.fail_next(429, times=2, retry_after=0.01)
    started = time.monotonic()
    reply = client(fake, max_retries=2).chat.completions.create(model="m", messages=USER)
    assert reply.choices[0].message.content == DEFAULT_REPLY
    assert time.monotonic() - started < 1.0  # retry-after was honoured instead of the 0.5 s backoff
    assert len(fake.requests) == 3
    assert [r.headers["x-stainless-retry-count"] for r in fake.requests] == ["0", "1", "2"]


def test_rate_limit_outlasting_retries_raises(fake: FakeOpenAI) -> None:
    fake.fail_next(429, times=5)
    with pytest.raises(openai.RateLimitError) as caught:
        client(fake, max_retries=1).chat.completions.create(model="m", messages=USER)
    assert caught.value.body["type"] == "rate_limit_error"  # type: ignore[index]
    assert len(fake.requests) == 2


def test_failures_can_target_one_endpoint(fake: FakeOpenAI) -> None:
    fake.fail_next(503, endpoint="embeddings")
    sdk = client(fake)
    assert sdk.chat.completions.create(model="m", messages=USER).choices
    with pytest.raises(openai.InternalServerError):
        sdk.embeddings.create(model="e", input="hello")
    assert sdk.embeddings.create(model="e", input="hello").data


@pytest.mark.parametrize(
    ("status", "error", "error_type"),
    [
        (400, openai.BadRequestError, "invalid_request_error"),
        (401, openai.AuthenticationError, "invalid_request_error"),
        (403, openai.PermissionDeniedError, "permission_error"),
        (404, openai.NotFoundError, "invalid_request_error"),
        (422, openai.UnprocessableEntityError, "invalid_request_error"),
        (429, openai.RateLimitError, "rate_limit_error"),
        (500, openai.InternalServerError, "server_error"),
        (503, openai.InternalServerError, "server_error"),
    ],
)
def test_status_codes_map_to_sdk_exceptions(
    fake: FakeOpenAI, status: int, error: type[openai.APIStatusError], error_type: str
) -> None:
    fake.fail_next(status, message="scripted")
    with pytest.raises(error) as caught:
        client(fake).chat.completions.create(model="m", messages=USER)
    assert caught.value.status_code == status
    assert caught.value.type == error_type
    assert caught.value.body["message"] == "scripted"  # type: ignore[index]


def test_slow_server_times_out(fake: FakeOpenAI) -> None:
    fake.delay(2)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client(fake, timeout=0.5).chat.completions.create(model="m", messages=USER)
    assert time.monotonic() - started < 1.5


# --------------------------------------------------------------------------------------------------- malformed replies


def test_malformed_not_json_comes_back_as_a_string(fake: FakeOpenAI) -> None:
    fake.malformed_next("not_json")
    reply = client(fake).chat.completions.create(model="m", messages=USER)
    # No exception: the SDK hands back the raw body, so `reply.choices` would raise AttributeError.
    assert isinstance(reply, str)
    assert "502 Bad Gateway" in reply


def test_malformed_not_json_stream_raises_json_error(fake: FakeOpenAI) -> None:
    fake.malformed_next("not_json")
    stream = client(fake).chat.completions.create(model="m", messages=USER, stream=True)
    with pytest.raises(json.JSONDecodeError):
        list(stream)


def test_malformed_truncated_raises_json_error(fake: FakeOpenAI) -> None:
    fake.malformed_next("truncated")
    with pytest.raises(json.JSONDecodeError) as caught:
        client(fake).chat.completions.create(model="m", messages=USER)
    assert not isinstance(caught.value, openai.OpenAIError)


def test_malformed_truncated_stream_just_ends(fake: FakeOpenAI) -> None:
    fake.malformed_next("truncated")
    chunks = list(client(fake).chat.completions.create(model="m", messages=USER, stream=True))
    assert len(chunks) > 1
    assert all(c.choices[0].finish_reason is None for c in chunks)  # the only sign of the cut


@pytest.mark.parametrize("stream", [False, True])
def test_malformed_no_choices_gives_none(fake: FakeOpenAI, stream: bool) -> None:
    fake.malformed_next("no_choices")
    if stream:
        chunks = list(client(fake).chat.completions.create(model="m", messages=USER, stream=True))
        assert chunks
        assert all(c.choices is None for c in chunks)
    else:
        reply = client(fake).chat.completions.create(model="m", messages=USER)
        assert reply.choices is None
        assert reply.id.startswith("chatcmpl-")


@pytest.mark.parametrize(("kind", "content"), [("empty", ""), ("null_content", None)])
def test_malformed_empty_content(fake: FakeOpenAI, kind: str, content: str | None) -> None:
    fake.malformed_next(kind)  # type: ignore[arg-type]
    reply = client(fake).chat.completions.create(model="m", messages=USER)
    assert reply.choices[0].message.content == content
    assert reply.choices[0].finish_reason == "stop"

    fake.malformed_next(kind)  # type: ignore[arg-type]
    chunks = list(client(fake).chat.completions.create(model="m", messages=USER, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == ""
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_malformed_applies_once_then_normal_replies_resume(fake: FakeOpenAI) -> None:
    fake.reply_with("fine")
    fake.malformed_next("empty")
    sdk = client(fake)
    assert sdk.chat.completions.create(model="m", messages=USER).choices[0].message.content == ""
    assert sdk.chat.completions.create(model="m", messages=USER).choices[0].message.content == "fine"


def test_unknown_malformed_kind_is_refused(fake: FakeOpenAI) -> None:
    with pytest.raises(ValueError, match="unknown malformed kind"):
        fake.malformed_next("garbage")  # type: ignore[arg-type]


def test_reset_forgets_scripts_and_requests(fake: FakeOpenAI) -> None:
    fake.reply_with("scripted")
    fake.fail_next(500, times=3)
    fake.delay(5)
    fake.reset()
    reply = client(fake).chat.completions.create(model="m", messages=USER)
    assert reply.choices[0].message.content == DEFAULT_REPLY
    assert len(fake.requests) == 1
