"""Where the core's time goes: each stage of asking and indexing is timed into a Prometheus histogram and, when an
exporter is configured, recorded as an OpenTelemetry span under its operation (an ask, an indexing run).

Without a tracer provider no span is made at all: a stage then costs two clock reads and a histogram observation,
about a microsecond (bench/overhead.py). Stage spans are never made current, so a stage may safely span the `yield`s
of a stream that different threads resume; the operation's span is current where its stages start.
"""

from __future__ import annotations

import contextvars
import functools
import os
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Literal, ParamSpec, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:  # the SDK is imported only when tracing is configured
    from opentelemetry.sdk.trace.export import SpanExporter

P = ParamSpec("P")
T = TypeVar("T")
Exporter = Literal["none", "console", "otlp"]
Operation = Literal["ask", "timeline", "index"]

SERVICE_NAME = "newsqa"
# From a tenth of a millisecond (a keyword search) to a minute (embedding a long article's window).
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

STAGE_SECONDS = Histogram(
    "qa_stage_seconds",
    "Seconds spent in each stage of asking (embed, dense, keyword, fuse, answer) and indexing (plan, embed, write).",
    ["operation", "stage"],
    buckets=BUCKETS,
)
OPERATION_SECONDS = Histogram(
    "qa_operation_seconds", "Seconds of whole asks and indexing runs.", ["operation"], buckets=BUCKETS
)
ANSWERS = Counter("qa_answers", "Answers given, by outcome (answered, abstained).", ["outcome"])
CHUNKS_EMBEDDED = Counter("qa_index_chunks_embedded", "Chunks embedded by indexing (reused vectors not counted).")
INDEX_ARTICLES = Gauge("qa_index_articles", "Articles in the index.")
INDEX_CHUNKS = Gauge("qa_index_chunks", "Chunks in the index.")

_tracer = trace.get_tracer("qa")
_configure_lock = threading.Lock()
NO_SPAN: Span = trace.INVALID_SPAN  # what a stage gives when nothing records spans


def tracing() -> bool:
    """Whether a tracer provider is installed (by `configure_tracing`, or by the host process): only then are
    spans made. Until then even OpenTelemetry's no-op spans are skipped (they cost more than the timing)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


class stage:  # lower case: used like a function, `with stage("dense"):`
    """Time a stage of `operation` into qa_stage_seconds and, when tracing, record it as a span (a child of the
    current span, or of `parent`). Never made current: a stage may span the `yield`s of a stream that different
    threads resume. A class rather than a generator: it runs several times per question."""

    __slots__ = ("_began", "_histogram", "_name", "_parent", "_span")

    def __init__(self, name: str, operation: Operation = "ask", parent: Span | None = None) -> None:
        self._name = name
        self._histogram = _stage_histogram(operation, name)
        self._parent = parent

    def __enter__(self) -> Span:
        self._span = NO_SPAN
        if tracing():
            parent = trace.set_span_in_context(self._parent) if self._parent is not None else None
            self._span = _tracer.start_span(self._name, context=parent)
        self._began = perf_counter()
        return self._span

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace_back: TracebackType | None
    ) -> None:
        self._histogram.observe(perf_counter() - self._began)
        if self._span is not NO_SPAN:
            _end(self._span, error)


@functools.cache
def _stage_histogram(operation: str, name: str) -> Histogram:
    """The labelled child, looked up once (the lookup takes a lock)."""
    return STAGE_SECONDS.labels(operation, name)


class operation:  # lower case: used like a function, `with operation("ask"):`
    """An ask or an indexing run in one block: timed into qa_operation_seconds, and when tracing its span is the
    current one inside (its stages hang under it)."""

    __slots__ = ("_began", "_name", "_span", "_token")

    def __init__(self, name: Operation) -> None:
        self._name = name

    def __enter__(self) -> Span:
        self._span, self._token = NO_SPAN, None
        if tracing():
            self._span = _tracer.start_span(self._name)
            self._token = otel_context.attach(trace.set_span_in_context(self._span))
        self._began = perf_counter()
        return self._span

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace_back: TracebackType | None
    ) -> None:
        OPERATION_SECONDS.labels(self._name).observe(perf_counter() - self._began)
        if self._token is not None:
            otel_context.detach(self._token)
            _end(self._span, error)


class Running:
    """An operation whose stages are not all in one block (a stream, resumed by whichever thread reads it): begun
    here, made current (`with running.current():`) around the parts that start stages, finished once."""

    def __init__(self, name: Operation) -> None:
        self.name: Operation = name
        self.span = _tracer.start_span(name) if tracing() else NO_SPAN
        self._began = perf_counter()

    def current(self) -> AbstractContextManager[Span]:
        """Its span as the current one, for a block that does not yield."""
        if self.span is NO_SPAN:
            return nullcontext(self.span)
        return trace.use_span(self.span, end_on_exit=False, record_exception=False, set_status_on_exception=False)

    def finish(self, error: BaseException | None = None) -> None:
        """Time it and end its span (marked failed when `error` is an exception)."""
        OPERATION_SECONDS.labels(self.name).observe(perf_counter() - self._began)
        if self.span is not NO_SPAN:
            _end(self.span, error)


def traced(name: Operation) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """The decorator form of `operation`."""

    def decorate(function: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> T:
            with operation(name):
                return function(*args, **kwargs)

        return run

    return decorate


def carry(function: Callable[P, T]) -> Callable[P, T]:
    """`function` to run in another thread with this thread's context (its current span, its request id): an
    executor's threads start from an empty one."""
    context = contextvars.copy_context()

    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return context.run(function, *args, **kwargs)

    return run


def count_answer(abstained: bool) -> None:
    """One more answer, by outcome: the abstention rate is abstained / all."""
    ANSWERS.labels("abstained" if abstained else "answered").inc()


def count_embedded(chunks: int) -> None:
    """Chunks an indexing run embedded (with qa_stage_seconds{operation="index",stage="embed"}: its throughput)."""
    CHUNKS_EMBEDDED.inc(chunks)


def set_index_size(articles: int, chunks: int) -> None:
    """The index's size as last seen (set when metrics are read)."""
    INDEX_ARTICLES.set(articles)
    INDEX_CHUNKS.set(chunks)


def _end(span: Span, error: BaseException | None) -> None:
    """End a span, marked failed by an exception (not by a generator closed early, or an interrupt)."""
    if isinstance(error, Exception):
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    span.end()


# -- tracing set-up -------------------------------------------------------------------------------------------


def configure_tracing(exporter: Exporter, span_exporter: SpanExporter | None = None) -> bool:
    """Install an SDK tracer provider exporting to the console (stderr), to OTLP over HTTP (the standard
    OTEL_EXPORTER_OTLP_* variables say where), or to `span_exporter` (a test's in-memory exporter). With "none"
    and no `span_exporter` nothing is installed and the API stays a no-op. Once per process: OpenTelemetry allows
    one global provider; later calls change nothing. Returns whether spans are exported."""
    if exporter == "none" and span_exporter is None:
        return tracing()
    with _configure_lock:
        if tracing():
            return True
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        # OTEL_SERVICE_NAME, when set, names the service; the SDK reads it (and OTEL_RESOURCE_ATTRIBUTES) itself.
        named = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE_NAME}
        provider = TracerProvider(resource=Resource.create(named))
        if span_exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        elif exporter == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            # stderr: the CLI's answers (`qa ask --json`) own stdout.
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
        elif exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            raise ValueError(f"unknown span exporter {exporter!r}")
        trace.set_tracer_provider(provider)
        return True
