"""Domain types shared by the indexer, the engine, the service and the shells.

The shells return these (or types derived from them) as they are: the API's response models are these classes,
so a field added here reaches the CLI's JSON, the JSON API and the OpenAI-compatible endpoint alike.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator

from qa.text import NOT_TEXT, has_lone_surrogate

RetrievalMode = Literal["dense", "bm25", "hybrid"]
RETRIEVAL_MODES: tuple[RetrievalMode, ...] = get_args(RetrievalMode)


def aware(moment: dt.datetime) -> dt.datetime:
    """A time with its zone: one given without is read as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


ISO_PATTERN = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
_ISO = re.compile(ISO_PATTERN)
_ISO_SCHEMA = WithJsonSchema(
    {"type": "string", "pattern": ISO_PATTERN, "examples": ["2025-03-01", "2025-03-01T09:30:00+01:00"]}
)


def _iso_only(value: object) -> object:
    """An ISO 8601 date or time, nothing else: pydantic alone would read 0 or "-1107" as seconds since 1970."""
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO.match(value.strip()):
        return value.strip()
    raise ValueError("give an ISO 8601 date or time, e.g. 2025-03-01 or 2025-03-01T09:30:00+01:00")


def _date_only(value: object) -> dt.date | None:
    """The date, when `value` names a day without a time ("2025-03-14")."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _day_end(value: object) -> object:
    """A day given without a time means the end of it: asked "as of 14 March", that day's news is known."""
    value = _iso_only(value)
    day = _date_only(value)
    return dt.datetime.combine(day, dt.time(23, 59, 59)) if day else value


def _next_day(value: object) -> object:
    """ "until 2025-03-31" keeps 31 March: a bare day as an exclusive end is the start of the day after."""
    value = _iso_only(value)
    day = _date_only(value)
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time()) if day else value


Moment = Annotated[dt.datetime, BeforeValidator(_iso_only), AfterValidator(aware), _ISO_SCHEMA]
AsOf = Annotated[dt.datetime, BeforeValidator(_day_end), AfterValidator(aware), _ISO_SCHEMA]
Until = Annotated[dt.datetime, BeforeValidator(_next_day), AfterValidator(aware), _ISO_SCHEMA]


class SearchFilter(BaseModel):
    """Which articles a question may be answered from; every part given must hold (None: no limit)."""

    article_ids: list[str] | None = None
    sources: list[str] | None = None
    since: Moment | None = Field(default=None, description="Published at or after (UTC when no zone is given).")
    until: Until | None = Field(
        default=None, description="Published before (a bare date: before the end of that day; UTC when no zone)."
    )

    @field_validator("article_ids", "sources")
    @classmethod
    def _once_each(cls, values: list[str] | None) -> list[str] | None:
        """Each id or outlet once, in the order given: a client repeating one a thousand times asked for one
        (Chroma refuses a lookup with repeated ids)."""
        return None if values is None else list(dict.fromkeys(values))

    @property
    def is_empty(self) -> bool:
        """Whether it lets every article through."""
        return self.article_ids is None and self.sources is None and self.since is None and self.until is None

    @property
    def since_ts(self) -> int | None:
        """`since` in seconds since the epoch."""
        return int(self.since.timestamp()) if self.since else None

    @property
    def until_ts(self) -> int | None:
        """`until` in seconds since the epoch."""
        return int(self.until.timestamp()) if self.until else None


class Article(BaseModel):
    """An article as loaded: its id is stable (path relative to the folder given, or the jsonl id)."""

    id: str
    title: str
    text: str
    published: str | None = None
    source: str | None = None
    url: str | None = None
    published_inferred: bool = False  # the date was read from a dateline in the text, not given

    @field_validator("id", "title", "text", "published", "source", "url")
    @classmethod
    def _is_text(cls, value: str | None) -> str | None:
        """Text that can be stored and sent back (JSON Lines can carry a lone surrogate; see qa.text)."""
        if value is not None and has_lone_surrogate(value):
            raise ValueError(NOT_TEXT)
        return value


class ArticleDraft(BaseModel):
    """An article as a client sends it. Without an id, one is derived from the title."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field is worth reporting, not ignoring

    id: str | None = Field(default=None, min_length=1, max_length=200, description="Derived from the title if absent.")
    title: str = Field(min_length=1, max_length=500)
    text: str = Field(min_length=1)
    published: str | None = Field(default=None, max_length=50)
    source: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=2000)

    @field_validator("id", "title", "text")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value


class ArticleInfo(BaseModel):
    """What the store knows about an indexed article (without its text)."""

    id: str
    title: str
    published: str | None = None
    source: str | None = None
    url: str | None = None
    chunks: int
    content_hash: str = Field(description="Changes whenever the article's text or metadata does.")
    origin: str = Field(default="", exclude=True, description="The folder it was indexed from ('api' if sent).")
    version: str = Field(default="", exclude=True, description="Names its current chunks (see qa.chunking.chunk_id).")
    published_inferred: bool = Field(default=False, description="The date was read from a dateline, not given.")
    story_id: str | None = Field(
        default=None,
        description="Articles carrying the same story (near-duplicate text: a syndicated copy) share it: the id of "
        "the story's first-indexed article. None for an article that stands alone.",
    )
    story_outlets: list[str] = Field(
        default_factory=list, description="The other outlets carrying the same story (empty when it stands alone)."
    )
    indexed_at: float = Field(default=0.0, exclude=True, description="When first indexed: elects a story's id.")
    minhash: str | None = Field(
        default=None, exclude=True, description="The text's MinHash signature (qa.stories); None: not computed."
    )


class ArticleText(ArticleInfo):
    """An indexed article with its stored text: what citation offsets point into."""

    text: str


class ArticlePage(BaseModel):
    """One page of the article list, with the total and where the next page starts."""

    articles: list[ArticleInfo]
    total: int
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page; none at the end.")


class Story(BaseModel):
    """One story several articles carry (syndicated copies, near-duplicates): its outlets and its articles."""

    story_id: str = Field(description="The id of the story's first-indexed article.")
    outlets: list[str] = Field(description="The outlets carrying it, in the order their articles were indexed.")
    articles: list[ArticleInfo]


class StoryPage(BaseModel):
    """One page of the stories, first-indexed first, and where the next page starts."""

    stories: list[Story]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page; none at the end.")


WriteStatus = Literal["added", "updated", "unchanged"]


class ArticleWrite(BaseModel):
    """What adding or replacing one article did."""

    article: ArticleInfo
    status: WriteStatus
    chunks_embedded: int


class LoadFailure(BaseModel):
    """A file (or a jsonl line) that was not indexed, and why."""

    path: str
    reason: str
    loaded: int = Field(
        default=0, description="Articles of this file read all the same: a JSON Lines file loses only its bad lines."
    )
    # an article skipped because an earlier one of the run has its id: that id is indexed, so this is no file
    # that may hold an article the folder lost
    repeated_id: bool = Field(default=False, exclude=True)


class IndexReport(BaseModel):
    """What one indexing run did."""

    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    kept: list[str] = Field(
        default_factory=list,
        description="Articles indexed from a folder before and not loaded from it this time, kept because a file "
        "there failed to load (it may be the one they came from).",
    )
    failed: list[LoadFailure] = Field(default_factory=list)
    chunks_embedded: int = 0
    chunks_reused: int = 0
    chunks_total: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """Whether the store was written."""
        return bool(self.added or self.updated or self.removed)

    @property
    def loaded(self) -> bool:
        """Whether any article could be read (and so is in the index now)."""
        return bool(self.added or self.updated or self.unchanged)


class Chunk(BaseModel):
    """A passage of an article with exact character offsets and the sentence spans inside it."""

    id: str
    article_id: str
    position: int
    start: int
    end: int
    text: str
    sentences: list[tuple[int, int]] = Field(description="Sentence spans, offsets into the article.")
    heading: str = Field(default="", description="The section heading the chunk falls under, if any.")
    context: str = Field(default="", description="Title and heading, read by the embedder with the text.")


class Passage(BaseModel):
    """A retrieved chunk with its article's metadata and its retrieval scores."""

    chunk_id: str
    article_id: str
    title: str
    published: str | None = None
    source: str | None = None
    start: int
    end: int
    text: str
    sentences: list[tuple[int, int]]
    score: float
    dense_score: float | None = None
    rank: int


class Copy(BaseModel):
    """Where else a quote appears: another outlet's copy of the same story."""

    article_id: str
    title: str
    source: str | None = None
    published: str | None = None
    start: int
    end: int
    exact: bool = Field(
        default=True, description="The copy's sentence is the quote word for word (else it differs in a few words)."
    )


class Citation(BaseModel):
    """A numbered quote: exactly the article's text from start to end."""

    n: int
    article_id: str
    title: str
    quote: str
    start: int
    end: int
    score: float
    chunk_id: str | None = None
    published: str | None = Field(default=None, description="The article's publication time (ISO 8601), if known.")
    source: str | None = Field(default=None, description="The article's outlet, if known.")
    earlier: bool = Field(
        default=False, description="Earlier reporting: an older article's account, shown beside the newest one's."
    )
    copies: list[Copy] = Field(
        default_factory=list, description="The same quote in other articles (a story syndicated by several outlets)."
    )


class TimeScope(BaseModel):
    """How the engine read the question's time: the reference time, and the window of publication it kept to."""

    as_of: dt.datetime = Field(description="The reference time relative expressions were read against.")
    since: dt.datetime | None = Field(default=None, description="Only articles published at or after this.")
    until: dt.datetime | None = Field(default=None, description="Only articles published before this.")
    phrase: str | None = Field(default=None, description='The expression the window was read from ("last month").')
    latest: bool = Field(default=False, description="The question asks about the current state: newest first.")


class TimelineDay(BaseModel):
    """The reports of one day (the articles' own calendar day), in the order they were published."""

    day: str = Field(description="YYYY-MM-DD.")
    citations: list[Citation]


class Timeline(BaseModel):
    """Dated sentences matching a query, oldest first, grouped by day, each quoted and cited."""

    query: str
    days: list[TimelineDay]
    time: TimeScope | None = Field(default=None, description="How the query's time was read, when it said one.")
    elapsed_ms: float = 0.0


class AnswerSentence(BaseModel):
    """One sentence of an answer and whether the passages it cites bear it out."""

    text: str
    citations: list[int] = Field(default_factory=list, description="The [n] it keeps: citations that check out.")
    dropped: list[int] = Field(default_factory=list, description="Markers the model wrote that failed the check.")
    supported: bool


class ShortAnswer(BaseModel):
    """The exact fact: the span of one cited quote that answers the question (see qa.span)."""

    text: str
    citation: int = Field(description="The n of the citation whose quote holds it.")
    start: int = Field(description="Offset into the article's text: article.text[start:end] == text.")
    end: int


class Answer(BaseModel):
    """What every shell prints or returns for one question."""

    question: str
    answer: str
    abstained: bool
    citations: list[Citation]
    sentences: list[AnswerSentence] = Field(default_factory=list)
    passages: list[Passage] = Field(default_factory=list, exclude=True)
    reported: str | None = Field(
        default=None, description='When the quoted reports are from, e.g. "as of 20 Oct 2022" (dated articles only).'
    )
    time: TimeScope | None = Field(default=None, description="How the question's time was read, when it said one.")
    timeline: bool = Field(
        default=False, description="The question asks how something developed: GET /api/timeline shows it in order."
    )
    backend: str = "extractive"
    elapsed_ms: float = 0.0
    support: float = Field(
        default=0.0, ge=0.0, le=1.0, description="How well the answer is supported: roughly the chance it is right."
    )
    support_label: Literal["strong", "weak", "abstained"] = Field(
        default="abstained", description="strong; weak (check the sources); abstained (the articles do not say)."
    )
    signals: dict[str, float] = Field(
        default_factory=dict, exclude=True, description="The answerer's signals support was computed from."
    )
    short_answer: ShortAnswer | None = Field(
        default=None, description="The span of a cited quote that answers the question; none when none is pinned."
    )
    admitted: int | None = Field(
        default=None,
        description="How many articles the question could read from, under its filters, a window its words name "
        "and as_of; none when nothing narrows them. 0: no article at all (the answer abstains for that).",
    )


class ResolvedAnswer(Answer):
    """An answer to a message of a conversation, with the standalone question retrieval used."""

    query: str = Field(description="The standalone question retrieval used (follow-ups resolved).")


class ChatAnswer(ResolvedAnswer):
    """One exchange of a stored conversation."""

    session_id: str


Role = Literal["user", "assistant"]


class Turn(BaseModel):
    """One message of a conversation."""

    role: Role
    content: str
    query: str | None = Field(default=None, description="For a user turn: the question as retrieval saw it.")
    citations: list[Citation] = Field(default_factory=list)
    abstained: bool = False
    created_at: str = Field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    # A user turn keeps the filters it was asked with, an assistant turn what a reader saw beside its text, so that
    # a conversation opened again shows the same (turns stored before these fields have their defaults).
    within: SearchFilter | None = Field(default=None, description="For a user turn: the filters it was asked with.")
    as_of: dt.datetime | None = Field(default=None, description="For a user turn: the as_of it was asked with.")
    short_answer: ShortAnswer | None = None
    support: float | None = Field(default=None, description="For an assistant turn: see Answer.support.")
    support_label: Literal["strong", "weak", "abstained"] | None = None
    backend: str | None = None
    reported: str | None = None
    time: TimeScope | None = None
    timeline: bool = False
    admitted: int | None = None


class ChatHistory(BaseModel):
    """A stored conversation, oldest turn first."""

    session_id: str
    turns: list[Turn]


class ConversationInfo(BaseModel):
    """A stored conversation in a list: its title (its name, or its first question) and when it was active."""

    session_id: str
    title: str
    named: bool = Field(description="The title is a name given to it, not its first question.")
    created_at: str
    updated_at: str = Field(description="When its last turn was recorded.")
    questions: int


class ReadinessCheck(BaseModel):
    """One thing a ready service needs, and how it stands."""

    name: Literal["store", "replica", "model"]
    ok: bool
    detail: str


class Readiness(BaseModel):
    """Whether the service can answer now: its store answers, its replica has caught up with the store's change
    log, and its embedding model is loaded. `reason` says what is missing when it cannot."""

    status: Literal["ready", "not_ready"]
    reason: str | None = None
    checks: list[ReadinessCheck]


class Health(BaseModel):
    """What a load balancer or a user checks: the index is readable, and with what it answers."""

    status: Literal["ok"]
    articles: int
    chunks: int
    embedder: str
    backend: str


def published_timestamp(published: str | None) -> int | None:
    """An article's publication time in seconds since the epoch (UTC when no zone is given); None when unknown or
    not an ISO date."""
    if not published:
        return None
    try:
        when = dt.datetime.fromisoformat(published.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp())
