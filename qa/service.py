"""The application service: every use case of the product, in one place, for every shell.

The CLI commands, the HTTP routes, the OpenAI-compatible endpoint and `qa eval` are a few lines each over this
class. It owns what must happen the same way whichever shell asks: validating questions, resolving follow-ups
and recording conversations, the write lock, the store's batches (each appends a record to the change log), and
telling the engine to follow the log before its next question after a write of its own.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Literal, TypeVar

from indexer import FeedState, LoadedArticle, count_sources, index_articles, iter_sources, local_folders, make_article
from indexer.dates import DateError, parse_date
from indexer.pipeline import Embedded
from qa.answering import Answerer
from qa.cancel import CancelToken
from qa.catalog import ArticleMatch, ListOrder
from qa.conversation import FollowUpResolver, SessionStore, history_from_messages
from qa.domain import (
    Answer,
    Article,
    ArticleDraft,
    ArticleInfo,
    ArticlePage,
    ArticleText,
    ArticleWrite,
    ChatAnswer,
    ChatHistory,
    ConversationInfo,
    Health,
    IndexReport,
    Readiness,
    ReadinessCheck,
    ResolvedAnswer,
    RetrievalMode,
    SearchFilter,
    Story,
    StoryPage,
    Timeline,
    Turn,
    WriteStatus,
)
from qa.engine import Engine, Retrieved
from qa.errors import (
    EMPTY_WINDOW,
    UNKNOWN_ARTICLE,
    UNKNOWN_FILTER_ARTICLE,
    UNKNOWN_SOURCE,
    Conflict,
    InvalidInput,
    NotFound,
)
from qa.export import conversation_markdown
from qa.heaps import give_back_memory
from qa.jobs import Job, JobRunner
from qa.settings import Settings
from qa.store import ChromaStore
from qa.text import slug

Progress = Callable[[int, int], None]  # (articles read so far, articles in all)
T = TypeVar("T")
API_ORIGIN = "api"  # the origin of an article sent by a client, not read from a folder
# what an article's record holds besides its text
_ARTICLE_FIELDS = {"id", "title", "published", "published_inferred", "source", "url"}
FEED_STATE = "feeds.json"  # in the data directory: what each polled feed's server said last (ETag, Last-Modified)
NAME_CHARS = 200  # the longest name a conversation can be given
TEXT_MATCHES = 200  # passages holding every word of a search of the article list, best first (BM25)
BIG_WRITE_CHUNKS = 256  # an add of this many chunks or more gives the memory it freed back to the system


@dataclass(frozen=True)
class ChatStream:
    """A conversation turn being answered: the session and the standalone question are known before the text."""

    session_id: str
    query: str
    pieces: Iterator[str | ChatAnswer]


class NewsService:
    """Questions, conversations and articles over one index."""

    def __init__(self, settings: Settings, engine: Engine, resolver: FollowUpResolver) -> None:
        self.settings = settings
        self.engine = engine
        self.resolver = resolver
        self._writes = threading.Lock()  # one write at a time in this process; questions never wait for it
        self.jobs = JobRunner()  # big additions in the background; and every long write can be cancelled
        self._sessions: SessionStore | None = None
        self._sessions_lock = threading.Lock()
        self._model_ready = False  # the embedding model embedded once (readiness)

    @property
    def store(self) -> ChromaStore:
        """The index."""
        return self.engine.store

    @property
    def backend(self) -> str:
        """The answerer's name ("extractive", "openai:MODEL")."""
        return self.engine.answerer.name

    def with_answerer(self, answerer: Answerer) -> NewsService:
        """The same index, retrieval and sessions with another answerer (to compare backends on one run)."""
        twin = NewsService(self.settings, self.engine.with_answerer(answerer), self.resolver)
        twin._sessions = self._sessions
        twin.jobs = self.jobs
        return twin

    def time_blind(self) -> NewsService:
        """The same service reading no dates (QA_TIME_AWARE off): the baseline time-awareness is measured against."""
        engine = self.engine.with_answerer(self.engine.answerer)
        engine.settings = self.settings.model_copy(update={"time_aware": False})
        twin = NewsService(engine.settings, engine, self.resolver)
        twin._sessions = self._sessions
        twin.jobs = self.jobs
        return twin

    def stop_work(self) -> None:
        """Take no more long work and cancel what is under way (each stops at its next step, before writing):
        for a server that was told to stop."""
        self.jobs.stop()

    def close(self) -> None:
        """Stop the jobs (giving a running one a few seconds), let the last write's catch-up and clean-up end, then
        release the session database and the replica."""
        self.jobs.close()
        self.store.settle()
        if self._sessions is not None:
            self._sessions.close()
        self.engine.close()

    # -- questions -------------------------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        *,
        top_k: int | None = None,
        within: SearchFilter | None = None,
        mode: RetrievalMode | None = None,
        depth: int = 0,
        as_of: dt.datetime | None = None,
    ) -> Answer:
        """Answer one question with cited, verbatim quotes, or abstain; only from the articles `within` lets
        through, as of `as_of` (default now: see Engine.retrieve). `depth` retrieves more passages into
        `Answer.passages` for evaluation, without changing the answer."""
        within = self.check_filter(within)
        return self.engine.ask(question, top_k=top_k, within=within, mode=mode, depth=depth, as_of=as_of)

    def stream(
        self,
        question: str,
        *,
        top_k: int | None = None,
        within: SearchFilter | None = None,
        as_of: dt.datetime | None = None,
    ) -> Iterator[str | Answer]:
        """The answer's text in pieces, then the whole Answer. A bad question, or a model that fails before its
        first word, raises here, before anything is streamed (an HTTP shell can still send an error status)."""
        within = self.check_filter(within)
        return _primed(self.engine.stream(question, top_k=top_k, within=within, as_of=as_of))

    def timeline(self, query: str, *, within: SearchFilter | None = None, as_of: dt.datetime | None = None) -> Timeline:
        """The dated sentences matching `query` in the order they were reported, grouped by day, each cited."""
        return self.engine.timeline(query, within=self.check_filter(within), as_of=as_of)

    def sources(self) -> list[str]:
        """The outlets the indexed articles come from, sorted."""
        return sorted(self.engine.refresh().catalog.sources())

    def check_filter(self, within: SearchFilter | None) -> SearchFilter | None:
        """The filter, or an InvalidInput that says how to fix it: an empty window, an outlet or an article id no
        article has (each shell names its own field in a hint: qa/cli/console.py, api/errors.py)."""
        if within is None or within.is_empty:
            return None
        if within.since is not None and within.until is not None and within.until <= within.since:
            raise InvalidInput(f"The date window is empty: {_window_words(within.since, within.until)}.", EMPTY_WINDOW)
        if within.sources is None and within.article_ids is None:
            return within  # a window alone needs no look at the catalog
        catalog = self.engine.refresh().catalog
        if within.sources is not None:
            known = catalog.sources()
            unknown = [s for s in within.sources if s not in known]
            if unknown:
                listed = ", ".join(repr(k) for k in known[:10]) + (", ..." if len(known) > 10 else "")
                raise InvalidInput(
                    f"No article comes from the source {unknown[0]!r}. "
                    + (f"The sources are: {listed}." if known else "No article has a source yet."),
                    UNKNOWN_SOURCE,
                )
        if within.article_ids is not None:
            missing = sorted(set(within.article_ids) - set(catalog.infos(within.article_ids)))
            if missing:
                raise InvalidInput(f"No article has the id {missing[0]!r}.", UNKNOWN_FILTER_ARTICLE)
        return within

    def retrieve(self, question: str, *, top_k: int | None = None, mode: RetrievalMode | None = None) -> Retrieved:
        """The passages a question finds, best first, without answering (for retrieval-only integrations)."""
        return self.engine.retrieve(question, top_k=top_k, mode=mode)

    # -- conversations ---------------------------------------------------------------------------------------

    def chat(
        self,
        session_id: str | None,
        message: str,
        *,
        within: SearchFilter | None = None,
        as_of: dt.datetime | None = None,
        owner: str | None = None,
    ) -> ChatAnswer:
        """Answer a message in its conversation (a new one without `session_id`) and record both turns. A
        conversation belongs to `owner` (an API key's id; None: callers without a key): no one else reaches it."""
        within = self.check_filter(within)
        session_id, query = self._prepare_turn(session_id, message, owner)
        answer = self.engine.ask(query, within=within, as_of=as_of)
        return self._record(
            session_id, Turn(role="user", content=message, query=query, within=within, as_of=as_of), answer
        )

    def chat_stream(
        self,
        session_id: str | None,
        message: str,
        *,
        within: SearchFilter | None = None,
        as_of: dt.datetime | None = None,
        owner: str | None = None,
    ) -> ChatStream:
        """Like `chat`, with the answer's text in pieces first; errors are raised before anything is streamed."""
        within = self.check_filter(within)
        session_id, query = self._prepare_turn(session_id, message, owner)

        def pieces() -> Iterator[str | ChatAnswer]:
            for item in self.engine.stream(query, within=within, as_of=as_of):
                asked = Turn(role="user", content=message, query=query, within=within, as_of=as_of)
                yield self._record(session_id, asked, item) if isinstance(item, Answer) else item

        return ChatStream(session_id, query, _primed(pieces()))

    def history(self, session_id: str, owner: str | None = None) -> ChatHistory:
        """The turns of a stored conversation."""
        return ChatHistory(session_id=session_id, turns=self.sessions.history(session_id, owner))

    def conversations(self, limit: int = 100, owner: str | None = None) -> list[ConversationInfo]:
        """The owner's stored conversations, the most recently active first, each titled by its name or first
        question."""
        return self.sessions.conversations(limit, owner)

    def rename_conversation(self, session_id: str, name: str, owner: str | None = None) -> ConversationInfo:
        """Name a conversation (InvalidInput for an empty name or one over NAME_CHARS characters)."""
        name = " ".join(name.split())
        if not name:
            raise InvalidInput("Give the conversation a name with at least one letter, digit or sign.")
        if len(name) > NAME_CHARS:
            raise InvalidInput(f"A conversation's name is at most {NAME_CHARS} characters; this one has {len(name)}.")
        self.sessions.rename(session_id, name, owner)
        return self.sessions.info(session_id, owner)

    def delete_conversation(self, session_id: str, owner: str | None = None) -> None:
        """Delete a stored conversation (NotFound for an unknown one)."""
        self.sessions.delete(session_id, owner)

    def export_conversation(self, session_id: str, owner: str | None = None) -> tuple[ConversationInfo, str]:
        """A conversation and its Markdown: questions, answers, and the quotes as footnotes with outlet, title, date
        and the article's URL."""
        info = self.sessions.info(session_id, owner)
        turns = self.sessions.history(session_id, owner)
        cited = sorted({c.article_id for turn in turns for c in turn.citations})
        urls = {i: a.url for i, a in self.engine.refresh().catalog.infos(cited).items()} if cited else {}
        return info, conversation_markdown(info, turns, urls)

    def complete(
        self,
        messages: Sequence[tuple[str, str]],
        *,
        within: SearchFilter | None = None,
        as_of: dt.datetime | None = None,
    ) -> ResolvedAnswer:
        """OpenAI-style: the conversation travels with the request ((role, content) pairs) and nothing is stored."""
        within = self.check_filter(within)
        message, query = self._resolve_messages(messages)
        return _resolved(self.engine.ask(query, within=within, as_of=as_of), message, query)

    def complete_stream(
        self,
        messages: Sequence[tuple[str, str]],
        *,
        within: SearchFilter | None = None,
        as_of: dt.datetime | None = None,
    ) -> Iterator[str | ResolvedAnswer]:
        """`complete` with the answer's text in pieces first; errors are raised before anything is streamed."""
        within = self.check_filter(within)
        message, query = self._resolve_messages(messages)
        pieces = self.engine.stream(query, within=within, as_of=as_of)
        return _primed(_resolved(i, message, query) if isinstance(i, Answer) else i for i in pieces)

    @property
    def sessions(self) -> SessionStore:
        """Conversations under the data directory, opened on first use (`qa ask` never creates the file)."""
        with self._sessions_lock:
            if self._sessions is None:
                self._sessions = SessionStore(self.settings.data_dir / "sessions.sqlite3")
            return self._sessions

    def _prepare_turn(self, session_id: str | None, message: str, owner: str | None) -> tuple[str, str]:
        message = self.engine.validate(message)
        history = self.sessions.history(session_id, owner) if session_id else []
        query = self.engine.validate(self.resolver.resolve(history, message))
        return session_id or self.sessions.create(owner), query

    def _record(self, session_id: str, asked: Turn, answer: Answer) -> ChatAnswer:
        """Store the question's turn and the answer's, and give the answer as the conversation's reply."""
        query = asked.query or asked.content
        reply = ChatAnswer(**_resolved(answer, asked.content, query).model_dump(), session_id=session_id)
        reply.passages = answer.passages
        said = Turn(
            role="assistant",
            content=reply.answer,
            citations=reply.citations,
            abstained=reply.abstained,
            short_answer=reply.short_answer,
            support=reply.support,
            support_label=reply.support_label,
            backend=reply.backend,
            reported=reply.reported,
            time=reply.time,
            timeline=reply.timeline,
            admitted=reply.admitted,
        )
        self.sessions.append(session_id, [asked, said])
        return reply

    def _resolve_messages(self, messages: Sequence[tuple[str, str]]) -> tuple[str, str]:
        history, message = history_from_messages(messages)
        message = self.engine.validate(message)
        return message, self.engine.validate(self.resolver.resolve(history, message))

    # -- articles --------------------------------------------------------------------------------------------

    def index_paths(
        self,
        paths: Sequence[Path | str],
        progress: Progress | None = None,
        *,
        conditional: bool = False,
        cancel: CancelToken | None = None,
    ) -> IndexReport:
        """Index files, folders, feed files and feed or page URLs: new articles added, edited ones replaced,
        vanished files removed. The input streams through a window at a time, each window written and followed by
        the replica before the next; `progress` hears (articles read, articles in all). `conditional` (polling)
        sends each feed what its server said last time, and an unchanged feed gives nothing. `cancel` stops the run
        at its next step (Cancelled): the windows written so far are kept whole."""
        with self._writes:
            self.store.ensure()
            catalog = self.engine.refresh(force=True).catalog  # in step: it says what came from which folder
            feed_state = FeedState(self.settings.data_dir / FEED_STATE) if conditional else None
            report = index_articles(
                self.store,
                self.engine.embedder,
                iter_sources(paths, feed_state),
                folders=local_folders(paths),
                chunk_tokens=self.settings.chunk_tokens,
                progress=progress,
                indexed_from=catalog.indexed_from,
                after_window=self._follow_window,
                total=count_sources(paths) if progress else 0,
                cancel=cancel,
            )
            if feed_state is not None:
                feed_state.save()  # only now: every item of the feeds fetched is in the index
            return self._counted(report)

    def put_article(
        self, draft: ArticleDraft, cancel: CancelToken | None = None, embedded: Embedded | None = None
    ) -> ArticleWrite:
        """Add an article, or replace the one with its id. Without an id, one is derived from the title, and a
        clash with another article is refused rather than replacing it. `cancel` stops it between batches of
        the model, before anything is written (Cancelled); `embedded` hears (chunks embedded, chunks to embed)."""
        article = self._article_of(draft)
        with self._writing(cancel):  # the clash check and the write are one step: two clients cannot both pass it
            self._refuse_clash(draft, article.id)
            report = index_articles(
                self.store,
                self.engine.embedder,
                [LoadedArticle(article, origin=API_ORIGIN)],
                chunk_tokens=self.settings.chunk_tokens,
                after_window=self.engine.invalidate,
                cancel=cancel,
                embedded=embedded,
            )
            info = self._written(article.id, wrote=bool(report.added or report.updated))
        if report.chunks_embedded >= BIG_WRITE_CHUNKS:
            give_back_memory()
        status: WriteStatus = "added" if report.added else "updated" if report.updated else "unchanged"
        return ArticleWrite(article=info, status=status, chunks_embedded=report.chunks_embedded)

    def rewrite_articles(self, records: Sequence[tuple[ArticleInfo, str]]) -> None:
        """Write articles again from their stored records (metadata, text), unchanged as they are: qa doctor
        --fix rebuilds damaged chunks so."""
        articles = [
            LoadedArticle(Article(**info.model_dump(include=_ARTICLE_FIELDS), text=text), origin=info.origin)
            for info, text in records
        ]
        with self._writes:
            index_articles(
                self.store,
                self.engine.embedder,
                articles,
                chunk_tokens=self.settings.chunk_tokens,
                after_window=self._follow_window,
                rewrite=True,
            )

    def runs_in_background(self, draft: ArticleDraft) -> bool:
        """Whether an article is big enough to be added as a job (QA_BACKGROUND_ADD_CHARS)."""
        return len(draft.text) > self.settings.background_add_chars

    def put_article_in_background(self, draft: ArticleDraft) -> Job:
        """`put_article` as a job: the draft is checked now (a bad one or a clash is refused here), then added in
        the background; `job` follows it and `cancel_job` stops it before it writes anything."""
        article = self._article_of(draft)
        self._refuse_clash(draft, article.id)  # now for a quick answer, and again when the job runs
        return self.jobs.submit(article.id, lambda cancel, embedded: self.put_article(draft, cancel, embedded))

    def job(self, job_id: str) -> Job:
        """A background job as it is now."""
        return self.jobs.get(job_id)

    def cancel_job(self, job_id: str) -> Job:
        """Cancel a background job: nothing it would have stored is stored (Conflict if it is done already)."""
        return self.jobs.cancel(job_id)

    @contextmanager
    def _writing(self, cancel: CancelToken | None) -> Iterator[None]:
        """Hold the write lock; a cancelled writer gives up waiting for it (another may hold it for minutes)."""
        while not self._writes.acquire(timeout=0.25):
            if cancel is not None:
                cancel.check()
        try:
            if cancel is not None:
                cancel.check()
            yield
        finally:
            self._writes.release()

    def _article_of(self, draft: ArticleDraft) -> Article:
        """The article a client's draft describes (its id derived from the title when it has none)."""
        article_id = draft.id.strip() if draft.id else slug(draft.title, any_script=True)
        if not article_id:
            raise InvalidInput("Give the article an id, or a title with letters or digits to derive one from.")
        if draft.published is not None:
            # a file's unreadable date is a warning in a run of many; a client sending one article hears of it
            try:
                parse_date(draft.published)
            except DateError as exc:
                raise InvalidInput(
                    f"published: {exc}; give ISO 8601, e.g. 2025-03-01 or 2025-03-01T09:30+01:00, or leave it out."
                ) from None
        return make_article({**draft.model_dump(exclude={"text"}), "id": article_id}, draft.text, draft.title)

    def _refuse_clash(self, draft: ArticleDraft, article_id: str) -> None:
        """A draft without an id must not replace the article whose id its title gives."""
        if draft.id is None and self.store.article_infos([article_id]):
            raise Conflict(
                f"An article with id '{article_id}' already exists. Send its id to replace it, or change the title.",
                article_id=article_id,
            )

    def remove_articles(self, article_ids: Sequence[str]) -> list[str]:
        """Remove articles with their chunks and keyword entries; returns the ids that were there."""
        self.store.require()
        with self._writes:
            with self.store.batch():
                removed = self.store.remove_articles(article_ids)
            if removed:
                self.engine.invalidate()
        return removed

    def remove_article(self, article_id: str) -> None:
        """Remove one article; NotFound when there is none with this id."""
        if not self.remove_articles([article_id]):
            raise NotFound(f"No article with id '{article_id}'.", UNKNOWN_ARTICLE)

    def list_articles(
        self,
        limit: int = 20,
        cursor: str | None = None,
        order: ListOrder = "id",
        *,
        within: SearchFilter | None = None,
        search: str | None = None,
        title: str | None = None,
    ) -> ArticlePage:
        """A page of the indexed articles in `order` (by id, or newest first), with the total; only those `within`
        lets through (outlets, window), those whose title holds `search` or one of whose passages holds every word
        of it (the keyword index's best TEXT_MATCHES), those titled exactly `title` (any case)."""
        within = self.check_filter(within)
        search = search.strip() if search and search.strip() else None
        if not self.store.exists():
            return ArticlePage(articles=[], total=0)
        replica = self.engine.refresh()
        if within is None and search is None and title is None:
            return replica.catalog.page(limit, cursor, order)
        text_ids = _articles_of(replica.keyword.containing_all(search, TEXT_MATCHES, within)) if search else []
        match = ArticleMatch(within=within, search=search, text_ids=text_ids, title=title)
        return replica.catalog.page(limit, cursor, order, match)

    def get_article(self, article_id: str) -> ArticleText:
        """An article's record and stored text."""
        info, text = self.store.get_article(article_id)
        return ArticleText(**self._with_story(info).model_dump(), text=text)

    def story_of(self, article_id: str) -> list[ArticleInfo]:
        """The articles carrying the same story as this one, first-indexed first (empty when it stands alone)."""
        if not self.store.exists():
            return []
        return self.engine.refresh().catalog.story_of(article_id)

    def stories(self, limit: int = 20, cursor: str | None = None) -> StoryPage:
        """A page of the stories several articles carry (each first-indexed first), and where the next starts."""
        if not self.store.exists():
            return StoryPage(stories=[])
        groups, after = self.engine.refresh().catalog.stories(limit, cursor)
        stories = [
            Story(
                story_id=group[0].story_id or group[0].id,
                outlets=list(dict.fromkeys(a.source for a in group if a.source)),
                articles=group,
            )
            for group in groups
        ]
        return StoryPage(stories=stories, next_cursor=after)

    def _written(self, article_id: str, wrote: bool) -> ArticleInfo:
        """An article just written (or found unchanged), with its story, as the catalog will list it (no read of
        the store: 2-4 ms of an add). After a write into a catalog in step with the log up to it, the replica
        follows on a thread of its own: the caller does not wait for the keyword index's commit, and this
        process's next read waits for it if it must. Behind other writers, the catch-up comes first, as it must
        for the story to count their articles."""
        written = self.store.last_own_write(article_id) if wrote else None
        if written is not None:
            self.engine.settle()  # the previous write's catch-up: the stories are worked out against what it wrote
            position, record = written
            previewed = self.engine.replica.preview(record, position)
            if previewed is not None:
                self.engine.follow_own_write()
                return previewed
        listed = self.engine.refresh(own_write=wrote).catalog.infos([article_id]).get(article_id)
        if listed is None:  # another client removed it at once
            raise NotFound(f"The article '{article_id}' was written, then removed by another client.", UNKNOWN_ARTICLE)
        return listed

    def _with_story(self, info: ArticleInfo) -> ArticleInfo:
        """The record with its story and the other outlets carrying it, as the catalog has them (see qa.stories)."""
        listed = self.engine.refresh().catalog.infos([info.id]).get(info.id)
        if listed is None:
            return info
        return info.model_copy(update={"story_id": listed.story_id, "story_outlets": listed.story_outlets})

    def health(self) -> Health:
        """Counts, embedder and backend; reading them proves the store answers."""
        articles = chunks = 0
        if self.store.exists():
            catalog = self.engine.refresh(force=True).catalog  # a call to the store: it answers
            articles, chunks = catalog.count(), catalog.chunk_total()
        return Health(
            status="ok",
            articles=articles,
            chunks=chunks,
            embedder=self.engine.embedder.model_id,
            backend=self.backend,
        )

    def readiness(self) -> Readiness:
        """Whether questions can be answered now: the store answers a read, the replica catches up with its
        change log, and the embedding model has embedded (the first check loads it). Never raises: what fails
        is the answer."""
        checks = [self._check("store", self._store_answers)]
        if checks[0].ok:
            checks.append(self._check("replica", self._replica_caught_up))
        checks.append(self._check("model", self._model_loaded))
        failed = [c for c in checks if not c.ok]
        reason = "; ".join(f"{c.name}: {c.detail}" for c in failed) or None
        return Readiness(status="not_ready" if failed else "ready", reason=reason, checks=checks)

    @staticmethod
    def _check(name: Literal["store", "replica", "model"], probe: Callable[[], str]) -> ReadinessCheck:
        try:
            return ReadinessCheck(name=name, ok=True, detail=probe())
        except Exception as exc:  # a probe's failure, whatever its kind, is the answer it gives
            return ReadinessCheck(name=name, ok=False, detail=str(exc) or type(exc).__name__)

    def _store_answers(self) -> str:
        if not self.store.exists():
            return f"nothing indexed yet in {self.store.where}"
        return f"{self.store.change_count()} change-log records in {self.store.where}"

    def _replica_caught_up(self) -> str:
        if not self.store.exists():
            return "nothing to follow yet"
        applied, _ = self.engine.refresh(force=True).catalog.state()
        return f"{applied} change-log records applied"

    def _model_loaded(self) -> str:
        if not self._model_ready:
            self.engine.embedder.embed(["ready"])  # loads the model once; proves it embeds
            self._model_ready = True
        return self.engine.embedder.model_id

    def _counted(self, report: IndexReport) -> IndexReport:
        """The report with the index's chunk total (from the catalog: counting the store costs its size)."""
        report.chunks_total = self.engine.refresh(force=True).catalog.chunk_total()
        return report

    def _follow_window(self) -> None:
        """A long run keeps the replica in step window by window: each catch-up reads one window back. The C
        heap's free memory goes back to the system after each window: a long run's peak follows the window."""
        self.engine.refresh(force=True)
        give_back_memory()


def _articles_of(chunk_ids: Iterable[str]) -> list[str]:
    """The article ids a chunk id may belong to: "ID::VERSION::N" (or "ID::N" in an index written before versions).
    Both readings are kept; the catalog knows only real ids, so the wrong one matches nothing."""
    found: dict[str, None] = {}
    for chunk in chunk_ids:
        parts = chunk.split("::")
        for cut in (1, 2):
            if len(parts) > cut:
                found["::".join(parts[:-cut])] = None
    return list(found)


def _resolved(answer: Answer, message: str, query: str) -> ResolvedAnswer:
    """The answer to `message` (as the user wrote it), retrieved for `query`."""
    resolved = ResolvedAnswer(**answer.model_dump(), query=query)
    resolved.question = message
    resolved.passages = answer.passages
    return resolved


def _primed(items: Iterator[T]) -> Iterator[T]:
    """Take the first item now, so that whatever fails before it (a bad question, a model that cannot be
    reached) raises to the caller instead of in the middle of a stream."""
    first = next(items)
    return chain([first], items)


def _window_words(since: dt.datetime, until: dt.datetime) -> str:
    """An empty window as its reader wrote it: an end at midnight is the day before's end (a bare date "until
    2025-03-01" takes in that day, so it is stored as 2025-03-02T00:00, which the reader never typed)."""
    if _readable(until) == until.date().isoformat():
        return (
            f"it starts at {_readable(since)} but its last day is {(until - dt.timedelta(days=1)).date().isoformat()}"
        )
    return f"it starts at {_readable(since)} but ends before {_readable(until)}"


def _readable(moment: dt.datetime) -> str:
    """A window's bound as a person would write it: the day alone at midnight, else to the minute."""
    if (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
        return moment.date().isoformat()
    return moment.isoformat(timespec="minutes")
