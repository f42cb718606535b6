"""One settings class for every shell; read from the environment (prefix QA_) and passed down."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from qa.domain import RetrievalMode

# Read by the limits library, which takes 40 ms to import: every command reads the settings, and only `qa serve`
# limits rates, so a limit is checked at start-up only when it is not this one (which a test parses).
DEFAULT_RATE_LIMIT = "600/minute"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str | float | dt.timedelta) -> dt.timedelta:
    """A polling interval: 90s, 15m, 1h, 1d, or seconds as a number; at least one second."""
    if isinstance(text, dt.timedelta):
        every = text
    elif isinstance(text, int | float):
        every = dt.timedelta(seconds=text)
    else:
        found = _DURATION.match(text)
        if not found:
            raise ValueError(f"'{text}' is not a duration; write it as 90s, 15m, 1h or 1d")
        every = dt.timedelta(seconds=float(found[1]) * _UNIT_SECONDS[(found[2] or "s").lower()])
    if every < dt.timedelta(seconds=1):
        raise ValueError("poll at most once a second (e.g. 15m)")
    return every


class Settings(BaseSettings):
    """Everything a shell may configure. Built by the shell, never at import time."""

    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default=Path(".qa-data"), description="Where Chroma, the keyword index and sessions live.")
    chroma_url: str | None = Field(default=None, description="http://HOST:PORT of a `chroma run` server.")
    collection: str = Field(default="articles", min_length=3, max_length=200)

    top_k: int = Field(default=5, ge=1, le=50, description="Passages retrieved for an answer.")
    candidates: int = Field(default=20, ge=1, le=200, description="Candidates each retriever proposes before fusion.")
    retrieval: RetrievalMode = "hybrid"
    time_aware: bool = Field(
        default=True,
        description='Read relative dates in questions ("last month") as publication windows, and answer questions '
        "about the current state from the newest report. Off: every article is read as if undated.",
    )
    max_answer_sentences: int = Field(default=3, ge=1, le=10)
    abstain_threshold: float = Field(
        default=0.53,
        ge=0.0,
        le=2.0,
        description="Below this support (best sentence's cosine + its passage's share of the question's terms) "
        "the answer is 'the articles do not say'; calibrated on the shipped evaluation sets.",
    )
    max_question_chars: int = Field(default=2000, ge=10)
    chunk_tokens: int = Field(
        default=256,
        ge=32,
        le=256,
        description="Word pieces the model reads per chunk: the title and heading it is embedded with, and its text.",
    )
    embed_batch_size: int = Field(default=32, ge=1, le=512)

    # --- generative answers and remote embeddings (opt-in) ---------------------------------------------------
    llm: Literal["extractive", "openai"] = Field(
        default="extractive", description="extractive: quotes only, offline. openai: an OpenAI-compatible model."
    )
    llm_model: str = Field(default="gpt-4o-mini", description="Chat model name on the OpenAI-compatible server.")
    llm_timeout: float = Field(default=30.0, gt=0, le=600, description="Seconds to wait for one model reply.")
    llm_retries: int = Field(default=2, ge=0, le=10, description="Retries (with backoff) on 429, 5xx and timeouts.")
    llm_fallback: Literal["none", "extractive"] = Field(
        default="none", description="What to answer with when the model fails: nothing (an error) or extractive."
    )
    llm_max_tokens: int = Field(default=400, ge=16, le=8000)
    embed: Literal["local", "openai"] = Field(default="local", description="local: the packaged MiniLM.")
    embed_model: str = Field(default="text-embedding-3-small")
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("QA_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("QA_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )

    # --- observability ---------------------------------------------------------------------------------------
    log_format: Literal["text", "json"] = Field(
        default="text", description="The server's log lines: text, or one JSON object a line (`qa serve --log-format`)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Least severe log lines written (INFO includes one access line per request)."
    )
    otel_exporter: Literal["none", "console", "otlp"] = Field(
        default="none",
        description="Where OpenTelemetry traces go: nowhere, stderr, or OTLP over HTTP (the standard "
        "OTEL_EXPORTER_OTLP_ENDPOINT says where; http://localhost:4318 when unset).",
    )

    max_body_bytes: int = Field(default=2_000_000, ge=1_000, description="Largest HTTP request body accepted.")
    background_add_chars: int = Field(
        default=100_000,
        ge=0,
        description="An article sent to the API with more characters of text than this is added in the background, "
        "as a job (202 and GET /api/jobs/ID); news articles (a few thousand characters) are added at once.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    # --- feeds polled by `qa serve` (as `qa watch` does) -------------------------------------------------------
    feeds: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="RSS/Atom feed URLs (or feed files) that `qa serve` polls in the background, comma-separated.",
    )
    feed_every: dt.timedelta = Field(
        default=dt.timedelta(minutes=15), description="How often each feed is polled: 90s, 15m, 1h, 1d."
    )

    # --- on a network --------------------------------------------------------------------------------------
    keys_file: Path | None = Field(
        default=None, description="The API keys' SQLite file (default: DATA_DIR/keys.sqlite); share it between servers."
    )
    insecure_open: bool = Field(
        default=False, description="Answer callers from other machines although no API key exists (not advised)."
    )
    allowed_hosts: str = Field(
        default="",
        description="Host header values accepted, comma-separated (news.example.com,*.example.com); default: "
        "loopback names and the listening address, or any host, with a warning, when listening on every interface.",
    )
    rate_limit: str = Field(
        default=DEFAULT_RATE_LIMIT, description="Calls per key (or anonymous address) unless the key has its own limit."
    )
    rate_limit_storage: str = Field(
        default="memory://",
        description="Where the limits library counts calls: memory:// per process, or a "
        "redis:// URL shared by several servers.",
    )

    @property
    def host_names(self) -> list[str]:
        """The Host header values the server accepts."""
        if self.allowed_hosts.strip():
            return [h.strip() for h in self.allowed_hosts.split(",") if h.strip()]
        if self.host in ("0.0.0.0", "::", ""):
            return ["*"]
        return sorted({"localhost", "127.0.0.1", "::1", "[::1]", self.host})

    @property
    def keys_path(self) -> Path:
        return self.keys_file or self.data_dir / "keys.sqlite"

    @field_validator("feeds", mode="before")
    @classmethod
    def _feed_list(cls, value: object) -> object:
        """Comma- or space-separated in the environment (URLs hold neither); a JSON list is taken too."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [part for part in re.split(r"[,\s]+", text) if part]
        return value

    @field_validator("feed_every", mode="before")
    @classmethod
    def _every(cls, value: object) -> object:
        return parse_every(value) if isinstance(value, str | int | float) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        """Settings that only make sense together, checked at start-up rather than at the first question."""
        if self.chroma_url:
            url = urlparse(self.chroma_url)
            if url.scheme not in ("http", "https") or not url.hostname:
                raise ValueError(f"QA_CHROMA_URL must look like http://HOST:PORT, not '{self.chroma_url}'")
        if self.rate_limit != DEFAULT_RATE_LIMIT:  # a limit set: its syntax is read by the limits library
            from qa.errors import InvalidInput
            from qa.keys import check_rate

            try:
                check_rate(self.rate_limit)
            except InvalidInput as exc:
                raise ValueError(f"QA_RATE_LIMIT: {str(exc).rstrip('.')}") from None
        uses = [name for name, value in (("QA_LLM", self.llm), ("QA_EMBED", self.embed)) if value == "openai"]
        if uses and not (self.openai_api_key and self.openai_api_key.get_secret_value()) and not self.openai_base_url:
            verb = "need" if len(uses) > 1 else "needs"
            raise ValueError(
                f"{' and '.join(uses)}=openai {verb} OPENAI_API_KEY. For a local OpenAI-compatible server that "
                "takes no key, set OPENAI_BASE_URL (e.g. http://127.0.0.1:8080/v1) instead"
            )
        return self


def describe_settings_error(exc: ValidationError) -> str:
    """The first problem with the settings in one line, named as the user sets it (QA_TOP_K: ...)."""
    first = exc.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    if not first["loc"]:  # a check across settings names them itself
        return message + "."
    return f"QA_{str(first['loc'][0]).upper()}: {message}"
