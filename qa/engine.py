"""The query engine: validate a question, retrieve its passages, answer from them with citations."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

from qa.answering import Answerer, AnswerResult
from qa.domain import Answer, Passage, RetrievalMode, SearchFilter
from qa.embedder import Embedder
from qa.errors import EMPTY_QUESTION, InvalidInput
from qa.evidence import QuestionEvidence
from qa.replica import Replica
from qa.retrieval import Hit, HybridRetriever, to_passages
from qa.settings import Settings
from qa.store import ChromaStore, is_current
from qa.telemetry import Running, count_answer, stage, traced
from qa.text import NOT_TEXT, has_lone_surrogate

FRESHNESS = 0.25  # seconds: another process's write reaches this one's questions within this (plus its catch-up)


@dataclass(frozen=True)
class Retrieved:
    """A question read and its passages found: what an answerer works from."""

    question: QuestionEvidence
    hits: list[Hit]
    passages: list[Passage]
    top_k: int
    began: float


class Engine:
    """Answers questions over one index with one answerer."""

    def __init__(
        self, settings: Settings, store: ChromaStore, replica: Replica, embedder: Embedder, answerer: Answerer
    ) -> None:
        self.settings = settings
        self.store = store
        self.replica = replica
        self.embedder = embedder
        self.answerer = answerer
        self._synced = -math.inf  # when the replica last looked at the store's change log

    def with_answerer(self, answerer: Answerer) -> Engine:
        """The same index and retrieval with another answerer (to compare backends on the same questions)."""
        twin = copy.copy(self)
        twin.answerer = answerer
        return twin

    def refresh(self, force: bool = False) -> Replica:
        """Bring the keyword index and the catalog in step with the store (see Replica.sync). For questions a look
        holds FRESHNESS seconds, so that busy servers do not ask the store on every one; `force` looks now (after
        a write of this process, which its next question must see)."""
        self.store.require()
        if force or time.monotonic() - self._synced >= FRESHNESS:
            self._synced = time.monotonic()
            self.replica.sync()
        return self.replica

    def invalidate(self) -> None:
        """This process wrote: its next question looks at the change log whatever the time (read your writes)."""
        self._synced = -math.inf

    def validate(self, question: str) -> str:
        """The question, stripped; an InvalidInput saying what to do when it cannot be asked."""
        question = question.strip() if isinstance(question, str) else ""
        if not question:
            raise InvalidInput("The question is empty.", EMPTY_QUESTION)
        if has_lone_surrogate(question):
            raise InvalidInput(f"The question {NOT_TEXT}.")
        if len(question) > self.settings.max_question_chars:
            raise InvalidInput(
                f"The question is {len(question):,} characters long; the limit is "
                f"{self.settings.max_question_chars:,} (QA_MAX_QUESTION_CHARS). Ask a shorter question."
            )
        return question

    def retrieve(
        self,
        question: str,
        top_k: int | None = None,
        within: SearchFilter | None = None,
        mode: RetrievalMode | None = None,
        depth: int = 0,
    ) -> Retrieved:
        """Validate the question and find its passages; `depth` retrieves more for evaluation only."""
        began = time.perf_counter()
        question = self.validate(question)
        replica = self.refresh()
        top_k = top_k or self.settings.top_k
        with stage("embed"):
            vector = self.embedder.embed([question])[0]
        evidence = QuestionEvidence(question, vector, replica.keyword.idf)
        candidates = max(self.settings.candidates, top_k, depth)
        retriever = HybridRetriever(self.store, replica.keyword, candidates, replica.catalog.chunk_total)
        allowed = replica.catalog.chunk_ids(within)
        hits = retriever.retrieve(evidence, max(top_k, depth), mode or self.settings.retrieval, within, allowed)
        infos = replica.catalog.infos(sorted({hit.chunk.article_id for hit in hits}))
        # Only the chunks an article's record names are cited: a write in progress (or killed) leaves others.
        hits = [hit for hit in hits if is_current(hit.chunk, infos.get(hit.chunk.article_id))]
        titles = {i: (a.title, a.published, a.source) for i, a in infos.items()}
        return Retrieved(evidence, hits, to_passages(hits, titles), top_k, began)

    @traced("ask")
    def ask(
        self,
        question: str,
        top_k: int | None = None,
        within: SearchFilter | None = None,
        mode: RetrievalMode | None = None,
        depth: int = 0,
    ) -> Answer:
        """Answer one question with cited, verbatim quotes, or abstain.

        The answerer reads the best `top_k` passages; `depth` asks for more in `Answer.passages` (for evaluation)
        without changing the answer.
        """
        found = self.retrieve(question, top_k, within, mode, depth)
        with stage("answer"):
            result = self.answerer.answer(found.question, found.hits[: found.top_k], found.passages[: found.top_k])
        return _answer(found, result)

    def stream(
        self, question: str, top_k: int | None = None, within: SearchFilter | None = None
    ) -> Iterator[str | Answer]:
        """The answer text in pieces as it is produced, then the whole Answer (with its checked citations). Its
        ask span is current only while retrieving: a generator's `yield`s may resume in other threads."""
        ask, failure = Running("ask"), None
        try:
            with ask.current():
                found = self.retrieve(question, top_k, within)
            with stage("answer", parent=ask.span):  # until the last piece is taken
                pieces = self.answerer.stream(found.question, found.hits[: found.top_k], found.passages[: found.top_k])
                for item in pieces:
                    yield _answer(found, item) if isinstance(item, AnswerResult) else item
        except BaseException as exc:
            failure = exc
            raise
        finally:
            ask.finish(failure)


def _answer(found: Retrieved, result: AnswerResult) -> Answer:
    count_answer(result.abstained)
    return Answer(
        question=found.question.question,
        answer=result.answer,
        abstained=result.abstained,
        citations=result.citations,
        sentences=result.sentences,
        passages=found.passages,
        backend=result.backend,
        elapsed_ms=round((time.perf_counter() - found.began) * 1000, 2),
    )
