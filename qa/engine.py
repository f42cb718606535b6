"""The query engine: validate a question, retrieve its passages, answer from them with citations."""

from __future__ import annotations

import copy
import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from qa.answering import Answerer, AnswerResult, pieces_of
from qa.background import Background
from qa.copies import set_copies_aside
from qa.domain import Answer, ArticleInfo, Passage, RetrievalMode, SearchFilter, Timeline, TimeScope
from qa.embedder import Embedder
from qa.errors import EMPTY_QUESTION, InvalidInput
from qa.evidence import QuestionEvidence
from qa.recency import LATEST_POOL, answer_newest_first, dated_citations, reported, scoped, time_scope
from qa.replica import Replica
from qa.retrieval import Hit, HybridRetriever, to_passages
from qa.settings import Settings
from qa.span import prepare as prepare_short_answer
from qa.span import short_answer
from qa.store import ChromaStore, is_current
from qa.support import assess
from qa.telemetry import Running, carry, count_answer, stage, traced
from qa.text import NOT_TEXT, has_lone_surrogate
from qa.timeline import TIMELINE_PASSAGES, timeline_days
from qa.when import TimeReading, asks_how_it_developed, read_time

_log = logging.getLogger("qa.engine")
FRESHNESS = 0.25  # seconds: another process's write reaches this one's questions within this (plus its catch-up)


@dataclass(frozen=True)
class Retrieved:
    """A question read and its passages found: what an answerer works from."""

    question: QuestionEvidence
    hits: list[Hit]
    passages: list[Passage]
    top_k: int
    began: float
    asked: str = ""  # the question as asked (retrieval reads it without its relative date: see qa.when)
    scope: TimeScope | None = None
    infos: dict[str, ArticleInfo] | None = None
    copies: list[Passage] | None = None  # passages that repeat better ones (syndicated copies: see qa.copies)
    admitted: int | None = None  # the articles the filters, a window the question names and as_of let through


class Engine:
    """Answers questions over one index with one answerer."""

    def __init__(
        self,
        settings: Settings,
        store: ChromaStore,
        replica: Replica,
        embedder: Embedder,
        answerer: Answerer,
        many_questions: bool = True,
    ) -> None:
        self.settings = settings
        self.many_questions = many_questions  # False: a process that asks one or two (see span.prepare)
        self.store = store
        self.replica = replica
        self.embedder = embedder
        self.answerer = answerer
        self._synced = -math.inf  # when the replica last looked at the store's change log
        self._syncing = threading.Lock()  # one look at a time; questions arriving meanwhile wait for its result
        self._writes = 0  # this process's writes so far: a look that began before one does not count as fresh
        # the catch-ups after this process's writes (shared with `with_answerer` twins)
        self._follower = Background("qa-replica-follow")

    def with_answerer(self, answerer: Answerer) -> Engine:
        """The same index and retrieval with another answerer (to compare backends on the same questions)."""
        twin = copy.copy(self)
        twin.answerer = answerer
        return twin

    def refresh(self, force: bool = False, own_write: bool = False) -> Replica:
        """Bring the keyword index and the catalog in step with the store (see Replica.sync). For questions a look
        holds FRESHNESS seconds, so that busy servers do not ask the store on every one; `force` looks now (after
        a write of this process, which its next question must see). `own_write`: now, right after this process
        wrote, up to the change log's end its write read back (no look at the log of its own)."""
        self.store.require()
        force = force or own_write
        if force or time.monotonic() - self._synced >= FRESHNESS:
            with self._syncing:
                # marked fresh only once the look is done: a question that arrives during it must not go on with
                # the replica as it was before (it waits here, then finds it fresh)
                if force or time.monotonic() - self._synced >= FRESHNESS:
                    began, writes = time.monotonic(), self._writes
                    self.replica.sync(probe=not own_write)
                    if writes == self._writes:  # else a write of this process came during the look: look again
                        self._synced = began
        return self.replica

    def invalidate(self) -> None:
        """This process wrote: its next question looks at the change log whatever the time (read your writes)."""
        self._writes += 1
        self._synced = -math.inf

    def follow_own_write(self) -> None:
        """This process wrote: the replica follows on a thread of its own, so that the write's caller need not wait
        for the keyword index's commit (20-40 ms at any size). Every read of this process still sees the write:
        marked stale first, a read catches up itself or waits for this catch-up (see `refresh`)."""
        self.invalidate()
        self._follower.start(carry(self._follow_own_write))

    def settle(self) -> None:
        """Wait for the catch-up after this process's last write."""
        self._follower.wait()  # `_follow_own_write` logs its own failures

    def warm_up(self) -> None:
        """What a server does as it starts, beside everything else, so that its first questions do not pay for a
        cold start: one search of the store, on which Chroma loads its vector index (at 1,000,000 chunks after a
        reboot: about 7 s of a first question), then the replica's files read into the operating system's cache.
        Nothing is built or followed here; an index that is not there yet is left alone."""
        if self.store.exists():
            dimension = self.store.dimension
            self.store.dense_query(np.full(dimension, dimension**-0.5, dtype=np.float32), 1)
        self.replica.read_ahead()

    def close(self) -> None:
        """Let the catch-up after the last write end, then release the replica and the model's process if it has
        one (a bulk model: qa/embedding_process.py)."""
        self._follower.close()
        self.replica.close()
        if (close := getattr(self.embedder, "close", None)) is not None:
            close()

    def _follow_own_write(self) -> None:
        try:
            self.refresh(own_write=True)
        except Exception as error:  # nothing is lost: the replica is still marked stale, and the next read retries
            self.invalidate()
            _log.warning("The replica could not follow this process's write yet (%s); the next read retries.", error)

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
        as_of: dt.datetime | None = None,
    ) -> Retrieved:
        """Validate the question and find its passages; `depth` retrieves more for evaluation only. `as_of` is the
        time the question is asked at (default now): relative dates are read against it, and with an explicit
        `as_of` only articles published by then are read."""
        began = time.perf_counter()
        asked = self.validate(question)
        replica = self.refresh()
        top_k = top_k or self.settings.top_k
        now = as_of or dt.datetime.now(dt.UTC)
        reading = read_time(asked, now) if self.settings.time_aware else TimeReading(query=asked)
        # a window of publication means nothing to an archive without dates (an encyclopedia's "in May 1871")
        windowed = reading.has_window and replica.catalog.has_dated()
        if windowed:
            within = scoped(within, reading.since, reading.until)
        if as_of is not None:
            within = scoped(within, None, as_of + dt.timedelta(seconds=1))
        question = reading.query if windowed else asked
        with stage("embed"):
            vector = self.embedder.embed([question])[0]
        evidence = QuestionEvidence(question, vector, replica.keyword.idf, dated=windowed)
        candidates = max(self.settings.candidates, top_k, depth)
        catalog = replica.catalog
        retriever = HybridRetriever(
            self.store, replica.keyword, candidates, catalog.chunk_total, catalog.cosines, catalog.held_chunks
        )
        admitted = catalog.admitted(within)
        # a question about the current state looks further down the list: the newest report may rank lower
        wanted = max(top_k, depth, LATEST_POOL if reading.latest else 0)
        # twice as many as wanted: syndicated copies are set aside below, and the rest must still fill the list
        hits = retriever.retrieve(evidence, 2 * wanted, mode or self.settings.retrieval, within, admitted)
        infos = replica.catalog.infos(sorted({hit.chunk.article_id for hit in hits}))
        # Only the chunks an article's record names are cited: a write in progress (or killed) leaves others.
        hits = [hit for hit in hits if is_current(hit.chunk, infos.get(hit.chunk.article_id))]
        hits, copies = set_copies_aside(hits, infos)
        titles = {i: (a.title, a.published, a.source) for i, a in infos.items()}
        scope = time_scope(reading, now, windowed)
        passages = to_passages(hits[:wanted], titles)
        return Retrieved(
            evidence,
            hits[:wanted],
            passages,
            top_k,
            began,
            asked,
            scope,
            infos,
            to_passages(copies, titles),
            None if admitted is None else admitted.articles,
        )

    @traced("ask")
    def ask(
        self,
        question: str,
        top_k: int | None = None,
        within: SearchFilter | None = None,
        mode: RetrievalMode | None = None,
        depth: int = 0,
        as_of: dt.datetime | None = None,
    ) -> Answer:
        """Answer one question with cited, verbatim quotes, or abstain.

        The answerer reads the best `top_k` passages; `depth` asks for more in `Answer.passages` (for evaluation)
        without changing the answer.
        """
        # its model loads beside retrieval (nothing to do once loaded)
        prepare_short_answer(question, lanes=self.many_questions)
        found = self.retrieve(question, top_k, within, mode, depth, as_of)
        with stage("answer"):
            result = self._newest_first(found) or self.answerer.answer(
                found.question, found.hits[: found.top_k], found.passages[: found.top_k]
            )
        return _answer(found, result)

    @traced("timeline")
    def timeline(self, query: str, within: SearchFilter | None = None, as_of: dt.datetime | None = None) -> Timeline:
        """The dated sentences matching `query`, oldest first, grouped by day (see qa.timeline)."""
        found = self.retrieve(query, TIMELINE_PASSAGES, within, as_of=as_of)
        infos, passages = found.infos or {}, [*found.passages, *(found.copies or [])]
        # each entry names the other outlets that carried its sentence, as an answer's citations do
        days = [
            day.model_copy(update={"citations": dated_citations(day.citations, infos, passages)})
            for day in timeline_days(found.hits, infos)
        ]
        elapsed = round((time.perf_counter() - found.began) * 1000, 2)
        return Timeline(query=found.asked, days=days, time=found.scope, elapsed_ms=elapsed)

    def _newest_first(self, found: Retrieved) -> AnswerResult | None:
        """For a question about the current state, the newest report's answer (see qa.recency)."""
        if found.scope is None or not found.scope.latest or found.infos is None:
            return None
        pool = max(found.top_k, LATEST_POOL)
        hits, passages = found.hits[:pool], found.passages[:pool]
        return answer_newest_first(self.answerer, found.question, hits, passages, found.infos)

    def stream(
        self,
        question: str,
        top_k: int | None = None,
        within: SearchFilter | None = None,
        as_of: dt.datetime | None = None,
    ) -> Iterator[str | Answer]:
        """The answer text in pieces as it is produced, then the whole Answer (with its checked citations). Its
        ask span is current only while retrieving: a generator's `yield`s may resume in other threads."""
        ask, failure = Running("ask"), None
        prepare_short_answer(question, lanes=self.many_questions)
        try:
            with ask.current():
                found = self.retrieve(question, top_k, within, as_of=as_of)
            with stage("answer", parent=ask.span):  # until the last piece is taken
                newest = self._newest_first(found)
                pieces: Iterator[str | AnswerResult] = (
                    iter([*pieces_of(newest.answer), newest])
                    if newest is not None
                    else self.answerer.stream(found.question, found.hits[: found.top_k], found.passages[: found.top_k])
                )
                for item in pieces:
                    yield _answer(found, item) if isinstance(item, AnswerResult) else item
        except BaseException as exc:
            failure = exc
            raise
        finally:
            ask.finish(failure)


def _answer(found: Retrieved, result: AnswerResult) -> Answer:
    count_answer(result.abstained)
    checked = [s.supported for s in result.sentences]
    support, label = assess(result.signals, sum(checked) / len(checked) if checked else 0.0, result.abstained)
    citations = dated_citations(result.citations, found.infos or {}, [*found.passages, *(found.copies or [])])
    asked = found.asked or found.question.question
    return Answer(
        question=asked,
        answer=result.answer,
        abstained=result.abstained,
        citations=citations,
        sentences=result.sentences,
        passages=found.passages,
        reported=None if result.abstained else reported(citations),
        time=found.scope,
        timeline=asks_how_it_developed(asked),
        backend=result.backend,
        support=support,
        support_label=label,
        signals=result.signals,
        short_answer=short_answer(asked, citations, result.abstained, result.sentences),
        admitted=found.admitted,
        elapsed_ms=round((time.perf_counter() - found.began) * 1000, 2),
    )
