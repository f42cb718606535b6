"""One settings class for every shell; read from the environment (prefix QA_) and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qa.domain import RetrievalMode


class Settings(BaseSettings):
    """Everything a shell may configure. Built by the shell, never at import time."""

    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default=Path(".qa-data"), description="Where Chroma, the keyword index and sessions live.")
    chroma_url: str | None = Field(default=None, description="http://HOST:PORT of a `chroma run` server.")
    collection: str = Field(default="articles", min_length=3, max_length=200)

    top_k: int = Field(default=5, ge=1, le=50, description="Passages retrieved for an answer.")
    candidates: int = Field(default=20, ge=1, le=200, description="Candidates each retriever proposes before fusion.")
    retrieval: RetrievalMode = "hybrid"
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

    max_body_bytes: int = Field(default=2_000_000, ge=1_000, description="Largest HTTP request body accepted.")
    background_add_chars: int = Field(
        default=100_000,
        ge=0,
        description="An article sent to the API with more characters of text than this is added in the background, "
        "as a job (202 and GET /api/jobs/ID); news articles (a few thousand characters) are added at once.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        """Settings that only make sense together, checked at start-up rather than at the first question."""
        if self.chroma_url:
            url = urlparse(self.chroma_url)
            if url.scheme not in ("http", "https") or not url.hostname:
                raise ValueError(f"QA_CHROMA_URL must look like http://HOST:PORT, not '{self.chroma_url}'")
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
