"""Domain types shared by the indexer, the engine and the shells."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Article(BaseModel):
    """An article as loaded: its id is stable (path relative to the folder given, or the jsonl id)."""

    id: str
    title: str
    text: str
    published: str | None = None
    source: str | None = None
    url: str | None = None


class ArticleInfo(BaseModel):
    """What the store knows about an indexed article (without its text)."""

    id: str
    title: str
    published: str | None = None
    source: str | None = None
    url: str | None = None
    chunks: int
    content_hash: str


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
    context: str = Field(default="", description="Title and heading, read by the embedder and BM25 with the text.")


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


class AnswerSentence(BaseModel):
    """One sentence of an answer and whether the passages it cites bear it out."""

    text: str
    citations: list[int] = Field(default_factory=list, description="The [n] it keeps: citations that check out.")
    dropped: list[int] = Field(default_factory=list, description="Markers the model wrote that failed the check.")
    supported: bool


class Answer(BaseModel):
    """What every shell prints or returns for one question."""

    question: str
    answer: str
    abstained: bool
    citations: list[Citation]
    sentences: list[AnswerSentence] = Field(default_factory=list)
    passages: list[Passage] = Field(default_factory=list, exclude=True)
    backend: str = "extractive"
    elapsed_ms: float = 0.0
