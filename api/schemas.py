"""API request and response types; converted to and from core types at the edge."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qa.conversation import Turn
from qa.domain import ArticleInfo, Citation


class Strict(BaseModel):
    """Unknown fields are a client mistake worth reporting, not ignoring."""

    model_config = ConfigDict(extra="forbid")


class AskRequest(Strict):
    question: str = Field(description="The question to answer.", examples=["What did Truss demand?"])
    top_k: int | None = Field(default=None, ge=1, le=50, description="Passages to retrieve.")
    article_ids: list[str] | None = Field(default=None, description="Only answer from these articles.")


class AnswerOut(BaseModel):
    """The same object `qa ask --json` prints."""

    question: str
    answer: str
    abstained: bool
    citations: list[Citation]
    backend: str
    elapsed_ms: float


class ChatRequest(Strict):
    session_id: str | None = Field(default=None, description="Leave out to start a new conversation.")
    message: str = Field(examples=["What did Truss demand?"])


class ChatOut(AnswerOut):
    session_id: str
    query: str = Field(description="The standalone question retrieval used (follow-ups resolved).")


class HistoryOut(BaseModel):
    session_id: str
    turns: list[Turn]


class ArticleIn(Strict):
    id: str | None = Field(default=None, min_length=1, max_length=200, description="Derived from the title if absent.")
    title: str = Field(min_length=1, max_length=500)
    text: str = Field(min_length=1)
    published: str | None = Field(default=None, max_length=50)
    source: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=2000)


class ArticleOut(ArticleInfo):
    text: str


class IndexOut(BaseModel):
    article: ArticleInfo
    status: Literal["added", "updated", "unchanged"]
    chunks_embedded: int


class HealthOut(BaseModel):
    status: Literal["ok"]
    articles: int
    chunks: int
    embedder: str
    backend: str


class ErrorBody(BaseModel):
    message: str
    type: str


class ErrorOut(BaseModel):
    error: ErrorBody


# --- OpenAI-compatible ---------------------------------------------------------------------------------------


class OpenAIMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message text (content parts of type text joined)."""
        if isinstance(self.content, list):
            return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """The fields of OpenAI's chat completion request that matter here; others are accepted and ignored."""

    model: str
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool = False
    model_config = ConfigDict(extra="allow")
