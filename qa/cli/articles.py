"""`qa index`, `qa list`, `qa remove`: the articles in the index."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shlex
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from qa.cancel import CancelToken
from qa.catalog import ListOrder
from qa.cli.console import ctrl_c_cancels, err, fail, load_settings, local_store_note, out, progress_bar, run
from qa.cli.scope import Since, UntilOption, scope

if TYPE_CHECKING:
    from qa.domain import ArticleInfo, IndexReport
    from qa.service import NewsService

ID_WIDTH = 48  # `qa list` keeps ids up to this long on one line; a longer one folds onto the next (never cut)


def index(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Files and folders (.txt, .md, .html, .jsonl), feed files (.xml, .rss, .atom), and http(s) URLs "
            "of RSS/Atom feeds or article pages",
            show_default=False,
        ),
    ],
) -> None:
    """Index articles (idempotent: unchanged articles are skipped, edited ones replaced)."""
    from qa.heaps import limit_malloc_arenas
    from qa.wiring import open_service

    limit_malloc_arenas()  # before the store, the model and the writer start their threads
    config = load_settings()
    stop = CancelToken()
    with warnings_shown(), ctrl_c_cancels(stop):
        report = run(
            lambda: index_with_progress(open_service(config, bulk=True), paths, cancel=stop), INDEX_INTERRUPTED
        )
    print_skipped(report)
    out.print(
        f"articles: {len(report.added)} added, {len(report.updated)} updated, {len(report.unchanged)} unchanged, "
        f"{len(report.removed)} removed, {len(report.failed)} failed; chunks: {report.chunks_total} "
        f"({report.chunks_embedded} embedded, {report.chunks_reused} reused); {report.seconds:.1f} s"
    )
    if note := local_store_note(report.chunks_total, config):
        err.print(note)
    if not (report.loaded or report.failed or report.removed):
        err.print(
            "[yellow]note:[/] no article was found in what was given (files .txt, .md, .html, .jsonl, feeds, pages)."
        )
    if report.kept:
        shown = ", ".join(report.kept[:3]) + (", ..." if len(report.kept) > 3 else "")
        err.print(
            f"[yellow]note:[/] {len(report.kept)} article(s) indexed from the folder before and not loaded this time "
            f"({escape(shown)}) were kept, because a file there failed to load: fix or remove the files listed as "
            "skipped, then index again."
        )
    if report.failed and not report.loaded:
        raise typer.Exit(7)


# each batch of articles is written whole or not at all, so an interrupted run resumes where it stopped
INDEX_INTERRUPTED = (
    "interrupted: the articles indexed so far are kept. Run the same command again to index the rest (what is "
    "indexed already is not embedded again)."
)


def index_with_progress(
    service: NewsService,
    paths: Sequence[Path | str],
    label: str = "embedding",
    cancel: CancelToken | None = None,
) -> IndexReport:
    """`service.index_paths` with a progress bar in articles (shared by `qa index` and `qa eval --corpus`)."""
    if not err.is_terminal:  # no bar to feed: the articles need not be counted first
        return service.index_paths(paths, cancel=cancel)
    with progress_bar("articles") as bar:
        task = bar.add_task(label, total=None)
        return service.index_paths(
            paths, progress=lambda done, total: bar.update(task, completed=done, total=total), cancel=cancel
        )


class _WarningLine(logging.Handler):
    """The indexer's warnings (an article indexed without the date it gave) as `warning:` lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(f"[yellow]warning:[/] {escape(record.getMessage())}")


@contextmanager
def warnings_shown() -> Iterator[None]:
    """Show the indexer's warnings while indexing (and only its warnings: no info lines, no other logger's)."""
    logger, handler = logging.getLogger("indexer"), _WarningLine(logging.WARNING)
    logger.addHandler(handler)
    propagates, logger.propagate = logger.propagate, False  # once, not again through a root handler
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagates


def print_skipped(report: IndexReport) -> None:
    """The files that could not be indexed, and why."""
    for failure in report.failed:
        if failure.loaded:  # a JSON Lines file whose good lines were read
            shown = f"{escape(failure.path)}: {failure.loaded} article(s) read, {escape(failure.reason)}"
            err.print(f"[yellow]partly read[/] {shown}")
        else:
            err.print(f"[yellow]skipped[/] {escape(failure.path)}: {escape(failure.reason)}")


def list_articles(
    as_json: Annotated[bool, typer.Option("--json", help="Print each page as GET /api/articles returns it")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200, help="Articles per page")] = 20,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Start where the previous page said")] = None,
    order: Annotated[ListOrder, typer.Option("--order", help="newest first, or by id")] = "newest",
    every: Annotated[bool, typer.Option("--all", help="Every article, page after page")] = False,
    by_story: Annotated[
        bool, typer.Option("--stories", help="One row per story carried by several outlets (syndicated copies)")
    ] = False,
    search: Annotated[
        str | None, typer.Option("--search", help="Only articles whose title or text holds this", show_default=False)
    ] = None,
    source: Annotated[str | None, typer.Option("--source", help="Only this outlet", show_default=False)] = None,
    since: Since = None,
    until: UntilOption = None,
) -> None:
    """List the indexed articles, a page at a time; search their titles and text, filter by outlet and date."""
    from rich.table import Column, Table

    from qa.wiring import open_service

    within = scope(since, until, [source] if source is not None else None, None, None).within
    config = load_settings()
    service = run(lambda: open_service(config))
    if by_story:
        list_stories(service, limit, cursor, every, as_json)
        return
    listing = partial(service.list_articles, within=within, search=search)
    page = run(partial(listing, limit, cursor, order))
    if page.total == 0 and not as_json:  # a table of no rows says less than a sentence
        out.print(
            "No indexed article matches these filters; qa list without them shows every article."
            if search is not None or (within is not None and not within.is_empty)
            else "Nothing is indexed yet. Add articles with: qa index PATH (a file, a folder or a URL)"
        )
        return
    while True:
        if as_json:
            out.print(json.dumps(page.model_dump(), ensure_ascii=False), markup=False)
        else:
            dates = [shown_date(a) for a in page.articles]
            # the id whole, on one line while it fits (it is what `qa remove` and `--article` take), and the dates
            # unbroken; the title wraps in what is left
            widest = max((len(a.id) for a in page.articles), default=0)
            table = Table(
                Column("id", no_wrap=True, min_width=min(widest, ID_WIDTH), overflow="fold"),
                "title",
                Column("published", no_wrap=True, min_width=max(map(len, dates), default=0)),
                "chunks",
                "also in",
            )
            for a, date in zip(page.articles, dates, strict=True):
                table.add_row(escape(a.id), escape(a.title), date, str(a.chunks), also_in(a))
            out.print(table)
        if not every or page.next_cursor is None:
            break
        page = run(partial(listing, limit, page.next_cursor, order))
    if not as_json:
        out.print(f"{page.total} article(s)")
        if page.next_cursor and not every:
            options = {"--search": search, "--source": source, "--since": since, "--until": until}
            again = f"qa list --cursor {page.next_cursor}" + (" --order id" if order == "id" else "")
            again += "".join(f" {name} {shlex.quote(value)}" for name, value in options.items() if value is not None)
            out.print(f"[dim]next page: {escape(again)}[/]")


def shown_date(article: ArticleInfo) -> str:
    """An article's date for the table: ISO date and time (date alone at midnight); "~" marks one inferred from
    a dateline; a date stored before dates were normalised is shown as it was written."""
    if not article.published:
        return ""
    try:
        when = dt.datetime.fromisoformat(article.published)
    except ValueError:
        return article.published
    shown = when.date().isoformat() if when.timetz().replace(tzinfo=None) == dt.time() else when.isoformat()
    return f"~{shown}" if article.published_inferred else shown


def remove(ids: Annotated[list[str], typer.Argument(help="Article ids, as `qa list` shows them")]) -> None:
    """Remove articles, their chunks and their keyword entries."""
    from qa.wiring import open_service

    config = load_settings()
    removed = run(lambda: open_service(config).remove_articles(ids))
    for article_id in removed:
        out.print(f"removed {escape(article_id)}")
    missing = [i for i in ids if i not in removed]
    if missing:
        raise fail(f"no article with id {', '.join(map(repr, missing))}; see: qa list", 4)


def also_in(article: ArticleInfo) -> str:
    """The other outlets carrying the article's story (a syndicated copy): 'also in: X, Y'; empty when none."""
    return escape("also in: " + ", ".join(article.story_outlets)) if article.story_outlets else ""


def list_stories(service: NewsService, limit: int, cursor: str | None, every: bool, as_json: bool) -> None:
    """`qa list --stories`: each story several articles carry, with its outlets and articles, first-indexed first."""
    from rich.table import Table

    page = run(partial(service.stories, limit, cursor))
    if not page.stories and cursor is None and not as_json:
        out.print("No story is carried by several outlets yet (no article has a syndicated copy in the index).")
        return
    while True:
        if as_json:
            out.print(json.dumps(page.model_dump(mode="json"), ensure_ascii=False), markup=False)
        else:
            table = Table("story", "outlets", "articles")
            for story in page.stories:
                outlets = ", ".join(story.outlets) or "?"
                table.add_row(escape(story.story_id), escape(outlets), escape(", ".join(a.id for a in story.articles)))
            out.print(table)
        if not every or page.next_cursor is None:
            break
        page = run(partial(service.stories, limit, page.next_cursor))
    if page.next_cursor and not every and not as_json:
        out.print(f"[dim]next page: qa list --stories --cursor {page.next_cursor}[/]")
