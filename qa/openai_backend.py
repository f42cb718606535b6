"""OpenAI, or any OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio), through the official SDK.

The SDK does the retrying (exponential backoff, honouring Retry-After) on rate limits, 5xx and timeouts; this module
turns what is left into one clear error that says what to do. Nothing here falls back silently.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import numpy as np
import openai
from openai.types.chat import ChatCompletionMessageParam

from qa.embedder import AfterBatch, MiniLMEmbedder, Span
from qa.errors import ModelError, ModelUnavailable
from qa.settings import Settings

Message = ChatCompletionMessageParam


def make_client(settings: Settings) -> openai.OpenAI:
    """The SDK client for the configured server (the settings made sure there is a key or a base URL)."""
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return openai.OpenAI(
        api_key=key or "not-needed",  # local servers ignore it, the SDK insists on one
        base_url=settings.openai_base_url,
        timeout=settings.llm_timeout,
        max_retries=settings.llm_retries,
    )


def describe(client: openai.OpenAI) -> str:
    """Where the client points, for error messages."""
    return str(client.base_url).rstrip("/")


@contextmanager
def model_errors(client: openai.OpenAI, settings: Settings) -> Iterator[None]:
    """Translate the SDK's exceptions into the product's errors, each with the fix."""
    where = describe(client)
    try:
        yield
    except openai.AuthenticationError as exc:
        raise ModelError(f"The server at {where} rejected the API key (401). Check OPENAI_API_KEY.") from exc
    except openai.PermissionDeniedError as exc:
        raise ModelError(f"The server at {where} refused access (403): {_message(exc)}") from exc
    except openai.NotFoundError as exc:
        raise ModelError(
            f"The server at {where} does not know the model or path (404): {_message(exc)}. Check QA_LLM_MODEL "
            "/ QA_EMBED_MODEL and OPENAI_BASE_URL (it usually ends in /v1)."
        ) from exc
    except openai.RateLimitError as exc:
        raise ModelUnavailable(
            f"The server at {where} is rate-limiting (429) and still was after {settings.llm_retries} retries. "
            "Try again later, or raise QA_LLM_RETRIES."
        ) from exc
    except openai.APITimeoutError as exc:
        raise ModelUnavailable(
            f"No reply from {where} within {settings.llm_timeout:g} s (QA_LLM_TIMEOUT), "
            f"after {settings.llm_retries} retries."
        ) from exc
    except openai.APIConnectionError as exc:
        raise ModelUnavailable(
            f"Cannot reach the OpenAI-compatible server at {where}. Start it, or check OPENAI_BASE_URL."
        ) from exc
    except openai.APIStatusError as exc:
        kind = ModelUnavailable if exc.status_code >= 500 else ModelError
        raise kind(f"The server at {where} answered {exc.status_code}: {_message(exc)}") from exc
    except openai.APIResponseValidationError as exc:
        raise ModelError(f"The server at {where} sent a reply that is not OpenAI's format: {exc}") from exc
    except openai.APIError as exc:
        raise ModelError(f"The server at {where} sent a malformed reply: {_message(exc)}") from exc
    except json.JSONDecodeError as exc:  # the SDK lets a half-sent or non-JSON body through as this
        raise ModelError(f"The server at {where} sent a reply that is not valid JSON ({exc.msg}).") from exc


def _message(exc: openai.APIError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    return str(error.get("message") if isinstance(error, dict) and error.get("message") else exc.message)[:300]


class OpenAIChat:
    """Chat completions, whole or streamed, with malformed and empty replies turned into errors."""

    def __init__(self, client: openai.OpenAI, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.model = settings.llm_model

    def complete(self, messages: Sequence[Message]) -> str:
        """The reply's text."""
        with model_errors(self.client, self.settings):
            reply = self.client.chat.completions.create(
                model=self.model, messages=list(messages), temperature=0, max_tokens=self.settings.llm_max_tokens
            )
            if isinstance(reply, str):  # the SDK hands back a non-JSON body (an HTML error page) as text
                raise ModelError(f"The server at {describe(self.client)} answered with text, not OpenAI's JSON.")
            choices = getattr(reply, "choices", None)
            if not choices or getattr(choices[0], "message", None) is None:
                raise ModelError(f"The server at {describe(self.client)} sent a reply without choices.")
            return _non_empty(choices[0].message.content, self.client)

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        """The reply's text as it arrives."""
        with model_errors(self.client, self.settings):
            chunks = self.client.chat.completions.create(
                model=self.model,
                messages=list(messages),
                temperature=0,
                max_tokens=self.settings.llm_max_tokens,
                stream=True,
            )
            produced, finished = False, False
            for chunk in chunks:
                for choice in getattr(chunk, "choices", None) or []:
                    text = getattr(choice.delta, "content", None) if choice.delta else None
                    finished = finished or choice.finish_reason is not None
                    if text:
                        produced = True
                        yield text
            if not produced:
                _non_empty(None, self.client)
            if not finished:  # the connection closed mid-reply: what arrived is not the whole answer
                raise ModelError(f"The reply from {describe(self.client)} was cut off before it finished.")


def _non_empty(text: str | None, client: openai.OpenAI) -> str:
    if not text or not text.strip():
        raise ModelError(f"The server at {describe(client)} sent an empty reply.")
    return text


class OpenAIEmbedder:
    """Embeddings from the server. Sentence vectors are embedded sentence by sentence (no token states)."""

    def __init__(self, client: openai.OpenAI, settings: Settings, batch_size: int = 128) -> None:
        self.client = client
        self.settings = settings
        self.model = settings.embed_model
        self.model_id = f"openai:{settings.embed_model}"
        self.batch_size = batch_size
        self._tokenizer = MiniLMEmbedder.tokenizer_only()  # chunk sizes are counted locally, offline

    @cached_property
    def dimension(self) -> int:
        """Learned from one embedding (servers differ, and some models take a size)."""
        return int(self.embed(["dimension probe"]).shape[1])

    def count_tokens(self, text: str) -> int:
        """Word pieces of the local tokenizer: only used to size chunks."""
        return len(self._tokenizer.encode(text).ids)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors from the server, in the order given."""
        vectors: list[list[float]] = []
        with model_errors(self.client, self.settings):
            for begin in range(0, len(texts), self.batch_size):
                batch = [t or " " for t in texts[begin : begin + self.batch_size]]  # servers refuse empty input
                reply: Any = self.client.embeddings.create(model=self.model, input=batch)
                data = sorted(reply.data, key=lambda d: d.index)
                if len(data) != len(batch):
                    raise ModelError(f"The server at {describe(self.client)} returned {len(data)} embeddings for "
                                     f"{len(batch)} texts.")  # fmt: skip
                vectors.extend(d.embedding for d in data)
        array = np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
        normalised: np.ndarray = array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-12)
        return normalised

    def embed_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]], after_batch: AfterBatch | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors for each text and for each of its spans, embedded as texts of their own, `batch_size` texts
        (with their spans) a step; `after_batch` hears after each step how many texts are done."""
        vectors: list[np.ndarray] = []
        span_vectors: list[np.ndarray] = []
        for begin in range(0, len(texts), self.batch_size):
            step = range(begin, min(len(texts), begin + self.batch_size))
            pieces = [texts[i][s:e] for i in step for s, e in spans[i]]
            embedded = self.embed([*(texts[i] for i in step), *pieces])
            vectors.append(embedded[: len(step)])
            offset = len(step)
            for i in step:
                span_vectors.append(embedded[offset : offset + len(spans[i])])
                offset += len(spans[i])
            if after_batch is not None:
                after_batch(step.stop)
        whole = np.concatenate(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
        return whole, span_vectors
