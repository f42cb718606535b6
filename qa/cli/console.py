"""What every command shares: the consoles, settings, errors as one line and an exit code, the progress bar,
and how an answer is printed."""

from __future__ import annotations

import datetime as dt
import json
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from qa.cancel import Cancelled, CancelToken
from qa.domain import Answer, Citation, TimeScope
from qa.errors import (
    EMPTY_QUESTION,
    EMPTY_WINDOW,
    UNKNOWN_ARTICLE,
    UNKNOWN_FILTER_ARTICLE,
    UNKNOWN_SESSION,
    UNKNOWN_SOURCE,
    NotIndexed,
    QAError,
)
from qa.settings import Settings
from qa.support import LABEL_TEXT

if TYPE_CHECKING:
    from rich.progress import Progress

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
T = TypeVar("T")

# What to do next, in commands: the core's messages leave that to each shell.
HINTS = {
    EMPTY_QUESTION: 'Ask something, e.g.: qa ask "What did Truss demand?"',
    NotIndexed.default_code: "Index articles first: qa index PATH",
    UNKNOWN_ARTICLE: "See the ids with: qa list",
    UNKNOWN_SESSION: "Start a new conversation: qa chat (without --session)",
    EMPTY_WINDOW: "Give --until a later date than --since, e.g. --since 2025-03-01 --until 2025-03-31.",
    UNKNOWN_SOURCE: "--source takes an outlet as qa list shows it.",
    UNKNOWN_FILTER_ARTICLE: "--article takes an id as qa list shows it.",
}


# Past this many chunks the local store costs every process memory and time in proportion to the archive: each
# holds the whole vector index (`qa serve` 1.6 GB at 100,000 chunks, 6 GB at 1,000,000) and loads it again after
# another process writes (0.45 s, 5.7 s); through a Chroma server neither grows much (README, Scale).
LOCAL_STORE_CHUNKS = 100_000


def local_store_note(chunks: int, config: Settings) -> str | None:
    """How to move on, for an index that has outgrown the local store; None otherwise."""
    if config.chroma_url or chunks <= LOCAL_STORE_CHUNKS:
        return None
    files = escape(str(config.data_dir / "chroma"))
    return (
        f"[yellow]note:[/] {chunks:,} chunks in the local store, which every process holds whole in memory and "
        "loads again after another process writes, at a cost that grows with the archive. Past about 100,000 "
        f"chunks, serve the same files from a Chroma server: chroma run --path {files} --port 8100, then run every "
        "qa command with QA_CHROMA_URL=http://127.0.0.1:8100 (README: Scale)."
    )


def message(exc: QAError) -> str:
    """The error's message with the CLI's hint."""
    hint = HINTS.get(exc.code)
    return f"{exc} {hint}" if hint else str(exc)


def fail(text: str, code: int) -> typer.Exit:
    """Print one `error:` line; the caller raises what this returns."""
    err.print(f"[bold red]error:[/] {escape(text)}")
    return typer.Exit(code)


@contextmanager
def user_errors(interrupted: str = "interrupted") -> Iterator[None]:
    """Turn the errors a user can fix into one line and an exit code: never a traceback. `interrupted` is said on
    Ctrl-C (what was kept, what to do)."""
    try:
        yield
    except (KeyboardInterrupt, Cancelled):  # in the CLI, work is cancelled only by Ctrl-C (see ctrl_c_cancels)
        err.print(interrupted)
        raise typer.Exit(130) from None
    except QAError as exc:
        raise fail(message(exc), exc.exit_code) from None


@contextmanager
def ctrl_c_cancels(token: CancelToken) -> Iterator[None]:
    """While inside, the first Ctrl-C cancels `token` (the work stops at its next step, between two writes) and a
    second one interrupts at once. A flag, not an exception, because Python drops a KeyboardInterrupt that lands
    in a finaliser (`Exception ignored in ... __del__`; seen while nltk compiled its patterns) and the run went on
    to the end. Outside the main thread (a command called from a thread) Python takes no handler: nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def first(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        err.print("stopping after the step under way (Ctrl-C again to stop at once)")
        token.cancel("interrupted")

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run(action: Callable[[], T], interrupted: str = "interrupted") -> T:
    """Run an action under `user_errors`."""
    with user_errors(interrupted):
        return action()


def load_settings() -> Settings:
    """Settings from the environment; a bad value is a user error too."""
    from pydantic import ValidationError

    from qa.settings import describe_settings_error

    try:
        return Settings()
    except ValidationError as exc:
        raise fail(describe_settings_error(exc), 2) from None


@contextmanager
def progress_bar(unit: str = "") -> Iterator[Progress]:
    """The one progress bar, on stderr and on a terminal only (in a log it is noise): done of total, the rate in
    `unit`s a second, the time taken and the time left."""
    from qa.cli.progress import bar_for

    with bar_for(err, unit) as bar:
        yield bar


def print_answer(answer: Answer, as_json: bool) -> None:
    """An answer as JSON (the object the API returns too), or as text: the answer, then the numbered quotes."""
    if as_json:
        out.print(json.dumps(answer.model_dump(mode="json"), ensure_ascii=False), markup=False, soft_wrap=True)
        return
    out.print(f"[bold]Q:[/] {escape(answer.question)}")
    if answer.short_answer is not None:  # the exact fact first, then the sentences it stands in
        out.print(f"[bold green]{escape(answer.short_answer.text)}[/] [bold cyan][{answer.short_answer.citation}][/]")
    out.print(("[yellow]" if answer.abstained else "") + escape(answer.answer) + ("[/]" if answer.abstained else ""))
    if answer.admitted == 0:  # nothing to read from: the filters are why, not the articles
        out.print(
            "[yellow]No article is left under the filters (--since, --until, --source, --article, --as-of) and the "
            "dates the question names: widen them or leave them out.[/]"
        )
    if not answer.abstained:  # an abstention says so in its text already
        colour = "green" if answer.support_label == "strong" else "yellow"
        out.print(f"[{colour}]{LABEL_TEXT[answer.support_label]}[/] [dim](support {answer.support:.2f})[/]")
    when = [answer.reported or ""] + ([describe_time(answer.time)] if answer.time else [])
    if any(when):
        out.print(f"[dim]{escape(' · '.join(w for w in when if w))}[/]")
    if answer.timeline:  # the page draws one; a terminal says where to find it
        out.print(f'[dim]how it developed, day by day: qa timeline "{escape(answer.question)}"[/]')
    if answer.citations:
        out.print()
    for citation in answer.citations:
        byline = ", ".join(filter(None, [citation.source, day(citation.published)]))
        out.print(
            f"[bold cyan][{citation.n}][/] "
            + ("[magenta]earlier reporting:[/] " if citation.earlier else "")
            + f"[bold]{escape(citation.title)}[/] "
            + (f"— {escape(byline)} " if byline else "")
            + f"[dim]({escape(citation.article_id)}, chars {citation.start}-{citation.end})[/]"
        )
        out.print(f"    “{escape(citation.quote)}”")
        print_copies(citation, "    ")
    out.print()


def print_copies(citation: Citation, indent: str) -> None:
    """The other outlets that carried the quote: word for word, or nearly (a word changed, a dateline added)."""
    for exact, label in ((True, "also, word for word"), (False, "also, nearly word for word")):
        copies = [c for c in citation.copies if c.exact is exact]
        if copies:
            also = ", ".join(f"{c.source or c.title} ({c.article_id})" for c in copies)
            out.print(f"{indent}[dim]{label}: {escape(also)}[/]")


def day(published: str | None) -> str:
    """'14 Mar 2025' from an ISO publication time ('' when unknown)."""
    if not published:
        return ""
    try:
        moment = dt.datetime.fromisoformat(published)
    except ValueError:
        return published
    return f"{moment.day} {moment:%b %Y}"


def describe_time(scope: TimeScope) -> str:
    """How the question's time was read, in words."""
    if scope.phrase:
        start = day(scope.since.isoformat()) if scope.since else "the start"
        end = day((scope.until - dt.timedelta(seconds=1)).isoformat()) if scope.until else "now"
        return f'"{scope.phrase}" read as {start} to {end}'
    return "newest reports first" if scope.latest else ""
