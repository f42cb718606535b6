"""The `qa` command: a thin shell over the core. Domain errors become one line on stderr and an exit code."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from qa.domain import Answer
from qa.errors import QAError
from qa.settings import Settings

if TYPE_CHECKING:
    from indexer import IndexReport

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts mention "[n]" markers literally
    help="Ask questions of news articles; answers quote the articles and cite them.",
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
T = TypeVar("T")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix into one line and an exit code: never a traceback."""
    try:
        yield
    except QAError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None


def settings() -> Settings:
    """Settings from the environment; a bad value is a user error too."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "QA_" + str(first["loc"][0]).upper() if first["loc"] else "a QA_ setting"
        err.print(f"[bold red]error:[/] {name}: {escape(first['msg'])}")
        raise typer.Exit(2) from None


def run(action: Callable[[], T]) -> T:
    """Run a core action under `user_errors`."""
    with user_errors():
        return action()


def index_paths(config: Settings, paths: Sequence[Path], label: str = "embedding") -> IndexReport:
    """Load and index files and folders with a progress bar on stderr (on a terminal only: in a log it is noise).

    Shared by `qa index` and `qa eval --corpus`; raises the core's errors for `user_errors` to report."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from indexer import index_articles, load_paths
    from qa.wiring import build_embedder, open_store

    loaded, failures = load_paths(paths)
    embedder = build_embedder(config)
    store = open_store(config, embedder)
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(label, total=None)
        return index_articles(
            store,
            embedder,
            loaded,
            failures,
            folders=[p for p in paths if p.is_dir()],
            chunk_tokens=config.chunk_tokens,
            keyword_cache=config.data_dir,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )


@app.command()
def index(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders: .txt, .md, .html, .jsonl")],
) -> None:
    """Index articles (idempotent: unchanged articles are skipped, edited ones replaced)."""
    config = settings()
    report = run(lambda: index_paths(config, paths))
    for failure in report.failed:
        err.print(f"[yellow]skipped[/] {escape(failure.path)}: {escape(failure.reason)}")
    out.print(
        f"articles: {len(report.added)} added, {len(report.updated)} updated, {len(report.unchanged)} unchanged, "
        f"{len(report.removed)} removed, {len(report.failed)} failed; chunks: {report.chunks_total} "
        f"({report.chunks_embedded} embedded, {report.chunks_reused} reused); {report.seconds:.1f} s"
    )
    if report.failed and not (report.added or report.updated or report.unchanged):
        raise typer.Exit(7)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, or - to read one question a line from stdin")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (JSON Lines with -)")] = False,
    top_k: Annotated[int | None, typer.Option("--top-k", min=1, max=50, help="Passages to retrieve")] = None,
) -> None:
    """Answer a question with quotes from the articles, cited [n]."""
    from qa.wiring import build_engine

    config = settings()
    engine = run(lambda: build_engine(config, fast_start=question != "-"))
    if question != "-":
        answer = run(lambda: engine.ask(question, top_k=top_k))
        _print_answer(answer, as_json)
        return
    failed = False
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            _print_answer(engine.ask(line, top_k=top_k), as_json)
        except QAError as exc:  # one bad line does not stop the batch
            failed = True
            if as_json:
                out.print(json.dumps({"question": line.strip()[:200], "error": str(exc)}), markup=False)
            else:
                err.print(f"[bold red]error:[/] {escape(str(exc))}")
    if failed:
        raise typer.Exit(2)


def answer_json(answer: Answer) -> dict[str, Any]:
    """The JSON shape of an answer, the same in the CLI and the API."""
    return answer.model_dump(mode="json")


def _print_answer(answer: Answer, as_json: bool) -> None:
    if as_json:
        out.print(json.dumps(answer_json(answer), ensure_ascii=False), markup=False, soft_wrap=True)
        return
    out.print(f"[bold]Q:[/] {escape(answer.question)}")
    out.print(("[yellow]" if answer.abstained else "") + escape(answer.answer) + ("[/]" if answer.abstained else ""))
    if answer.citations:
        out.print()
    for citation in answer.citations:
        out.print(
            f"[bold cyan][{citation.n}][/] [bold]{escape(citation.title)}[/] "
            f"[dim]({escape(citation.article_id)}, chars {citation.start}-{citation.end})[/]"
        )
        out.print(f"    “{escape(citation.quote)}”")
    out.print()


@app.command("list")
def list_articles(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the indexed articles."""
    from qa.wiring import build_embedder, open_store

    config = settings()
    articles = run(lambda: open_store(config, build_embedder(config)).list_articles())
    if as_json:
        out.print(
            json.dumps([a.model_dump(exclude={"content_hash"}) for a in articles], ensure_ascii=False),
            markup=False,
        )
        return
    table = Table("id", "title", "published", "chunks")
    for a in articles:
        table.add_row(escape(a.id), escape(a.title), a.published or "", str(a.chunks))
    out.print(table)
    out.print(f"{len(articles)} article(s)")


@app.command()
def remove(ids: Annotated[list[str], typer.Argument(help="Article ids, as `qa list` shows them")]) -> None:
    """Remove articles, their chunks and their keyword entries."""
    from qa.keyword import open_keyword_index
    from qa.wiring import build_embedder, open_store

    config = settings()

    def action() -> list[str]:
        store = open_store(config, build_embedder(config))
        removed = store.remove_articles(ids)
        if removed:
            store.commit()
            open_keyword_index(store, config.data_dir)
        return removed

    removed = run(action)
    missing = [i for i in ids if i not in removed]
    for article_id in removed:
        out.print(f"removed {escape(article_id)}")
    if missing:
        err.print(f"[bold red]error:[/] no article with id {', '.join(map(repr, missing))}; see: qa list")
        raise typer.Exit(4)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (QA_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (QA_PORT)", min=1, max=65535)] = None,
) -> None:
    """Serve the chat page, the JSON API and the OpenAI-compatible endpoint."""
    import uvicorn

    from api import create_app

    config = settings()
    if host:
        config.host = host
    if port:
        config.port = port
    application = run(lambda: create_app(config))
    out.print(f"Chat at http://{config.host}:{config.port}/  (API docs at /docs; Ctrl-C stops)")
    try:
        uvicorn.run(application, host=config.host, port=config.port, log_level="warning")
    except OSError as exc:  # port taken, address not available: the user's to fix
        err.print(f"[bold red]error:[/] cannot listen on {config.host}:{config.port}: {exc}")
        raise typer.Exit(6) from None


@app.command()
def chat(
    session: Annotated[str | None, typer.Option(help="Continue this session id")] = None,
) -> None:
    """A multi-turn conversation in the terminal (follow-ups understood). Ctrl-D or 'exit' ends it."""
    from qa.wiring import build_chat, build_engine

    config = settings()
    conversation = run(lambda: build_chat(config, build_engine(config)))
    if session:
        for turn in run(lambda: conversation.sessions.history(session)):
            out.print(f"[dim]{turn.role}: {escape(turn.content)}[/]")
    err.print("[dim]Ask about the articles; 'exit' or Ctrl-D to leave.[/]")
    while True:
        try:
            message = input("you> ")
        except (EOFError, KeyboardInterrupt):
            break
        if message.strip().lower() in ("exit", "quit"):
            break
        if not message.strip():
            continue
        try:
            reply = conversation.send(session, message)
        except QAError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}")
            continue
        session = reply.session_id
        if reply.query != message.strip():
            out.print(f"[dim](understood as: {escape(reply.query)})[/]")
        _print_answer(reply.answer, as_json=False)
    if session:
        err.print(f"[dim]session {session}: continue with qa chat --session {session}[/]")


def main() -> None:
    """Console-script entry point."""
    app()


from eval.command import register as _register_eval  # noqa: E402  (the command needs `app` defined above)

_register_eval(app)
