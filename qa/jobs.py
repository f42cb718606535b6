"""Work that outlives its request: a big article is added in the background, as a job a client follows and can
cancel. And every piece of long work in the process, job or not, can be cancelled at once when it stops.

Jobs live in this process: a restart forgets them (their work is written whole or not at all). One worker runs
them in turn, as writes take turns anyway. A bounded number wait (each holds its article's text); finished jobs
are kept for a while, and a bounded number of them, for clients to read their outcome.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

from pydantic import BaseModel, Field

from qa.cancel import Cancelled, CancelToken
from qa.domain import ArticleWrite
from qa.errors import Conflict, NotFound, QAError

log = logging.getLogger("qa.jobs")

JobState = Literal["queued", "running", "done", "failed", "cancelled"]
FINISHED: frozenset[JobState] = frozenset({"done", "failed", "cancelled"})
Embedded = Callable[[int, int], None]  # (chunks embedded so far, chunks to embed)
Work = Callable[[CancelToken, Embedded], ArticleWrite]
UNKNOWN_JOB = "unknown_job"
STOPPING = "The server is stopping."


class Busy(QAError):
    """Too much work is waiting already."""

    exit_code = 1
    http_status = 503
    default_code = "busy"


class JobError(BaseModel):
    """Why a job failed (the same message and type as the error of a request)."""

    message: str
    type: str


class Job(BaseModel):
    """A background addition of an article, as a client sees it."""

    id: str
    article_id: str = Field(description="The article being added or replaced.")
    state: JobState = Field(description="queued, running, then done, failed or cancelled.")
    chunks_done: int = Field(default=0, description="Chunks embedded so far.")
    chunks_total: int = Field(default=0, description="Chunks to embed (0 until the article is cut into chunks).")
    cancel_requested: bool = Field(default=False, description="A cancel was asked for; the job stops at its next step.")
    result: ArticleWrite | None = Field(default=None, description="What the addition did, once done.")
    error: JobError | None = Field(default=None, description="Why it failed, or what cancelled it.")
    created: dt.datetime
    started: dt.datetime | None = None
    finished: dt.datetime | None = None


class JobRunner:
    """Runs jobs one at a time on a worker thread of its own, and cancels long work when asked to stop."""

    def __init__(self, max_waiting: int = 16, keep_finished: int = 100, keep_seconds: float = 3600.0) -> None:
        self.max_waiting = max_waiting
        self.keep_finished = keep_finished
        self.keep_seconds = keep_seconds
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()  # in the order they were submitted
        self._tokens: dict[str, CancelToken] = {}  # of the jobs not finished
        self._work: dict[str, Work] = {}  # of the jobs waiting
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._tracked: set[CancelToken] = set()  # long work of requests (not jobs) under way
        self._stopping = False

    # -- jobs ----------------------------------------------------------------------------------------------

    def submit(self, article_id: str, work: Work) -> Job:
        """Queue `work` (it gets the job's cancel token and a progress callback) and return its job."""
        with self._lock:
            if self._stopping:
                raise Cancelled(f"{STOPPING} Send the article again once it is back.")
            waiting = sum(1 for job in self._jobs.values() if job.state == "queued")
            if waiting >= self.max_waiting:
                raise Busy(f"{waiting} articles are waiting to be added already; try again when some are done.")
            self._forget_old()
            job = Job(id=uuid.uuid4().hex, article_id=article_id, state="queued", created=_now())
            self._jobs[job.id] = job
            self._tokens[job.id] = CancelToken()
            self._work[job.id] = work
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="jobs", daemon=True)
                self._worker.start()
        self._queue.put(job.id)
        return job.model_copy()

    def get(self, job_id: str) -> Job:
        """A job as it is now; NotFound for an id this process does not know (or no longer keeps)."""
        with self._lock:
            self._forget_old()
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFound(f"No job with id '{job_id}' (finished jobs are kept for a while only).", UNKNOWN_JOB)
            return job.model_copy()

    def cancel(self, job_id: str, wait: float = 10.0) -> Job:
        """Cancel a job: a waiting one at once, a running one at its next step (waiting up to `wait` seconds for
        it to stop). Nothing it would have stored is stored. Conflict for a job that is done already."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFound(f"No job with id '{job_id}' (finished jobs are kept for a while only).", UNKNOWN_JOB)
            if job.state == "done":
                raise Conflict(
                    f"Job '{job_id}' is done: article '{job.article_id}' is stored. Remove the article to undo it."
                )
            if job.state == "queued":
                self._finish(job, "cancelled", error=JobError(message="Cancelled before it started.", type="Cancelled"))
            elif job.state == "running":
                job.cancel_requested = True
                self._tokens[job_id].cancel("The job was cancelled.")
        self._wait_finished(job_id, wait)
        return self.get(job_id)

    def _run(self) -> None:
        """The worker: run the jobs in the order they came."""
        while (job_id := self._queue.get()) is not None:
            with self._lock:
                job, work, token = self._jobs.get(job_id), self._work.pop(job_id, None), self._tokens.get(job_id)
                if job is None or work is None or token is None or job.state != "queued":
                    continue  # cancelled while waiting
                job.state, job.started = "running", _now()

            def progress(done: int, total: int, job: Job = job) -> None:
                job.chunks_done, job.chunks_total = done, total

            try:
                result = work(token, progress)
            except Cancelled as exc:
                self._finished(job, "cancelled", error=JobError(message=str(exc), type="Cancelled"))
            except QAError as exc:
                self._finished(job, "failed", error=JobError(message=str(exc), type=type(exc).__name__))
            except Exception as exc:
                log.exception("job %s failed", job_id, exc_info=exc)
                message = "Internal error; the server log has the details."
                self._finished(job, "failed", error=JobError(message=message, type="internal_error"))
            else:
                self._finished(job, "done", result=result)

    def _finished(self, job: Job, state: JobState, **outcome: object) -> None:
        with self._lock:
            self._finish(job, state, **outcome)

    def _finish(self, job: Job, state: JobState, **outcome: object) -> None:
        """(Under the lock.) Record a job's end; its token and work are let go."""
        for name, value in outcome.items():
            setattr(job, name, value)
        job.state, job.finished = state, _now()
        self._tokens.pop(job.id, None)
        self._work.pop(job.id, None)

    def _wait_finished(self, job_id: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self._lock:
                job = self._jobs.get(job_id)
                if job is None or job.state in FINISHED:
                    return
            time.sleep(0.05)

    def _forget_old(self) -> None:
        """(Under the lock.) Drop finished jobs past their age, and the oldest past the count kept."""
        oldest = _now() - dt.timedelta(seconds=self.keep_seconds)
        finished = [job for job in self._jobs.values() if job.state in FINISHED]
        for job in finished:
            if job.finished is not None and job.finished < oldest:
                del self._jobs[job.id]
        finished = [job for job in finished if job.id in self._jobs]
        for job in finished[: max(0, len(finished) - self.keep_finished)]:
            del self._jobs[job.id]

    # -- all long work -------------------------------------------------------------------------------------

    @contextmanager
    def tracked(self) -> Iterator[CancelToken]:
        """A cancel token for long work done inside a request: `stop()` cancels it too."""
        token = CancelToken()
        with self._lock:
            if self._stopping:
                token.cancel(STOPPING)
            self._tracked.add(token)
        try:
            yield token
        finally:
            with self._lock:
                self._tracked.discard(token)

    def stop(self, reason: str = STOPPING) -> None:
        """Take no more work and cancel all under way: waiting jobs end now, running work at its next step."""
        with self._lock:
            self._stopping = True
            stopped = JobError(message=f"{reason} Nothing was stored.", type="Cancelled")
            for job in self._jobs.values():
                if job.state == "queued":
                    self._finish(job, "cancelled", error=stopped)
            for token in [*self._tokens.values(), *self._tracked]:
                token.cancel(reason)

    def close(self, wait: float = 4.0) -> None:
        """`stop()`, then give the running job up to `wait` seconds to stop (or to finish the write it began):
        with uvicorn's 5 s for requests, a server stops within 10 s of its signal."""
        self.stop()
        self._queue.put(None)
        if self._worker is not None:
            self._worker.join(wait)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
