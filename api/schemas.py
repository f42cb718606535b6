"""Request bodies that are not domain types, and the error body. Responses are the domain types themselves."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qa.catalog import ListOrder
from qa.domain import AsOf, Moment, SearchFilter, Until
from qa.text import NOT_TEXT, has_lone_surrogate


class Request(BaseModel):
    """A request body: every string in it must be text (JSON can smuggle in half a UTF-16 pair)."""

    @model_validator(mode="before")
    @classmethod
    def _all_text(cls, data: Any) -> Any:
        where = _surrogate_at(data)
        if where is not None:
            raise ValueError(f"{where or 'the body'} {NOT_TEXT}")
        return data


def _surrogate_at(value: Any, path: str = "") -> str | None:
    """The path of the first string (key or value) holding a lone surrogate, or None."""
    if isinstance(value, str):
        return path if has_lone_surrogate(value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        here = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and has_lone_surrogate(key):
            return here
        found = _surrogate_at(item, here)
        if found is not None:
            return found
    return None


class Scoped(Request):
    """Which articles may answer, and when the question is asked: the same fields on every question endpoint."""

    article_ids: list[str] | None = Field(default=None, description="Only answer from these articles.")
    sources: list[str] | None = Field(default=None, description="Only from these outlets (as `source` names them).")
    since: Moment | None = Field(
        default=None,
        description="Only articles published at or after this (ISO 8601; UTC when no zone is given).",
        examples=["2025-03-01"],
    )
    until: Until | None = Field(
        default=None, description="Only articles published before this (a bare date: up to the end of that day)."
    )
    as_of: AsOf | None = Field(
        default=None,
        description='When the question is asked (default now; a bare date: the end of that day): "last month" is read '
        "against it, and only articles published by then are read.",
    )

    def within(self) -> SearchFilter:
        """The filter the fields make (an empty one lets every article through: NewsService.check_filter)."""
        return SearchFilter(article_ids=self.article_ids, sources=self.sources, since=self.since, until=self.until)


class TimelineQuery(BaseModel):
    """The query of GET /api/timeline: what to follow, a window, one outlet. Filters with lists (several outlets,
    chosen articles) go in the body of POST /api/timeline: a query string cannot say what is a list."""

    model_config = ConfigDict(extra="forbid")
    q: str = Field(min_length=1, max_length=2000, description="What to follow.", examples=["Cyclone Orla death toll"])
    since: Moment | None = Field(default=None, description="Published at or after this (ISO 8601).")
    until: Until | None = Field(default=None, description="Published before this (a bare date: up to its end).")
    source: str | None = Field(default=None, description="Only this outlet.")
    as_of: AsOf | None = Field(default=None, description='Read "last month" as of this time (default now).')

    def within(self) -> SearchFilter:
        """The filter the parameters make (an empty one lets every article through)."""
        sources = [self.source] if self.source is not None else None
        return SearchFilter(sources=sources, since=self.since, until=self.until)


class ArticleQuery(BaseModel):
    """The query of GET /api/articles: a page, its order, and which articles (a search, an outlet, a window)."""

    limit: int = Field(default=20, ge=1, le=200, description="Articles on the page.")
    cursor: str | None = Field(default=None, max_length=2000, description="`next_cursor` of the previous page.")
    order: ListOrder = Field(default="id", description="By id, or newest first.")
    q: str | None = Field(
        default=None,
        max_length=500,
        description="Only articles whose title holds this (any case), or one of whose passages holds every word of "
        "it (the best 200 passages).",
        examples=["Truss"],
    )
    title: str | None = Field(
        default=None, min_length=1, max_length=500, description="Only articles titled exactly this (any case)."
    )
    source: str | None = Field(default=None, description="Only this outlet.")
    since: Moment | None = Field(default=None, description="Published at or after this (ISO 8601).")
    until: Until | None = Field(default=None, description="Published before this (a bare date: up to its end).")

    def within(self) -> SearchFilter:
        """The filter the parameters make (an empty one lets every article through)."""
        sources = [self.source] if self.source is not None else None
        return SearchFilter(sources=sources, since=self.since, until=self.until)


class TimelineRequest(Scoped):
    """The body of POST /api/timeline: what to follow, with every filter a question takes."""

    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=2000, examples=["Cyclone Orla death toll"])


class AskRequest(Scoped):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a mistake worth reporting, not ignoring
    question: str = Field(description="The question to answer.", examples=["What did Truss demand?"])
    # strict: JSON `true` or "5" is not a number of passages, though pydantic's lax mode would take it
    top_k: int | None = Field(default=None, ge=1, le=50, strict=True, description="Passages to retrieve.")


class ChatRequest(Scoped):
    model_config = ConfigDict(extra="forbid")
    session_id: str | None = Field(default=None, description="Leave out to start a new conversation.")
    message: str = Field(examples=["What did Truss demand?"])


class RenameRequest(Request):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="The conversation's new name.", examples=["Grain"])


class Removed(BaseModel):
    removed: str


class ErrorBody(BaseModel):
    message: str
    type: str
    article_id: str | None = Field(
        default=None,
        description="The article the error is about, when it names one: on a 409 from POST /api/articles without "
        "an id, the article whose id the title gives (send that id to replace it).",
    )


class ErrorOut(BaseModel):
    error: ErrorBody
    request_id: str | None = Field(
        default=None, description="The request's id (its X-Request-ID): the server's log lines for it carry it."
    )


# --- OpenAI-compatible ---------------------------------------------------------------------------------------


class OpenAIMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message text (content parts of type text joined)."""
        if isinstance(self.content, list):
            return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(Scoped):
    """The fields of OpenAI's chat completion request that matter here, and this API's filters (`extra_body` in
    the openai client); OpenAI's other fields are accepted and ignored."""

    model: str
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool = Field(default=False, strict=True)  # not "yes" or 1, which lax mode would take
    # a client asking for several choices would read choices[1] and fail far from the cause: refused here
    n: int = Field(default=1, ge=1, le=1, strict=True, description="Choices to return: one, the only answer there is.")
    max_tokens: int | None = Field(
        default=None,
        ge=1,
        strict=True,
        description="Cut the reply's content after this many tokens (the local model's word pieces), with "
        "finish_reason `length`; the citations beside it stay whole. The answer is found and checked whole first.",
    )
    max_completion_tokens: int | None = Field(
        default=None, ge=1, strict=True, description="OpenAI's newer name for `max_tokens` (the smaller one counts)."
    )
    model_config = ConfigDict(extra="allow")

    def token_limit(self) -> int | None:
        """The content's limit in tokens, if the client set one."""
        given = [n for n in (self.max_tokens, self.max_completion_tokens) if n is not None]
        return min(given) if given else None

    def conversation(self) -> list[tuple[str, str]]:
        """The messages as (role, text) pairs."""
        return [(m.role, m.text()) for m in self.messages]
