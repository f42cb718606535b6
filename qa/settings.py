"""One settings class for every shell; read from the environment (prefix QA_) and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a shell may configure. Built by the shell, never at import time."""

    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore")

    data_dir: Path = Field(default=Path(".qa-data"), description="Where Chroma, the keyword index and sessions live.")
    chroma_url: str | None = Field(default=None, description="http://HOST:PORT of a `chroma run` server.")
    collection: str = Field(default="articles", min_length=3, max_length=200)

    top_k: int = Field(default=5, ge=1, le=50, description="Passages retrieved for an answer.")
    candidates: int = Field(default=20, ge=1, le=200, description="Candidates each retriever proposes before fusion.")
    retrieval: Literal["hybrid", "dense", "bm25"] = "hybrid"
    max_answer_sentences: int = Field(default=3, ge=1, le=10)
    abstain_threshold: float = Field(
        default=0.6,
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

    max_body_bytes: int = Field(default=2_000_000, ge=1_000, description="Largest HTTP request body accepted.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
