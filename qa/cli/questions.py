"""`qa ask` and `qa chat`: questions, one at a time or as a conversation."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.markup import escape

from qa.cli.console import err, load_settings, message, out, print_answer, print_copies, run
from qa.cli.scope import Articles, AsOfOption, Since, Sources, UntilOption, scope
from qa.domain import Answer
from qa.errors import QAError


def ask(
    question: Annotated[str, typer.Argument(help="The question, or - to read one question a line from stdin")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (JSON Lines with -)")] = False,
    top_k: Annotated[int | None, typer.Option("--top-k", min=1, max=50, help="Passages to retrieve")] = None,
    since: Since = None,
    until: UntilOption = None,
    source: Sources = None,
    article: Articles = None,
    as_of: AsOfOption = None,
) -> None:
    """Answer a question with quotes from the articles, cited [n]."""
    from qa.wiring import open_service

    asked = scope(since, until, source, article, as_of)
    config = load_settings()
    service = run(lambda: open_service(config, fast_start=question != "-"))

    def answer(text: str) -> Answer:
        return service.ask(text, top_k=top_k, within=asked.within, as_of=asked.as_of)

    if question != "-":
        print_answer(run(lambda: answer(question)), as_json)
        return
    failed = False
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            print_answer(answer(line), as_json)
        except QAError as exc:  # one bad line does not stop the batch
            failed = True
            if as_json:
                out.print(json.dumps({"question": line.strip()[:200], "error": str(exc)}), markup=False)
            else:
                err.print(f"[bold red]error:[/] {escape(message(exc))}")
    if failed:
        raise typer.Exit(2)


def chat(
    session: Annotated[str | None, typer.Option(help="Continue this session id")] = None,
    since: Since = None,
    until: UntilOption = None,
    source: Sources = None,
    article: Articles = None,
    as_of: AsOfOption = None,
) -> None:
    """A multi-turn conversation in the terminal (follow-ups understood). Ctrl-D or 'exit' ends it."""
    from qa.wiring import open_service

    asked = scope(since, until, source, article, as_of)
    config = load_settings()
    service = run(lambda: open_service(config))
    run(lambda: service.check_filter(asked.within))  # a filter no question can pass: say so before the first
    if session is not None:
        known = session
        for turn in run(lambda: service.history(known)).turns:
            out.print(f"[dim]{turn.role}: {escape(turn.content)}[/]")
    err.print("[dim]Ask about the articles; 'exit' or Ctrl-D to leave.[/]")
    while True:
        try:
            said = input("you> ")
        except (EOFError, KeyboardInterrupt):
            break
        if said.strip().lower() in ("exit", "quit", "/exit", "/quit", ":q"):  # what other chat shells take
            break
        if not said.strip():
            continue
        try:
            reply = service.chat(session, said, within=asked.within, as_of=asked.as_of)
        except QAError as exc:
            err.print(f"[bold red]error:[/] {escape(message(exc))}")
            continue
        session = reply.session_id
        if reply.query != said.strip():
            out.print(f"[dim](understood as: {escape(reply.query)})[/]")
        print_answer(reply, as_json=False)
    if session:
        err.print(f"[dim]session {session}: continue with qa chat --session {session}[/]")


def timeline(
    query: Annotated[str, typer.Argument(help='What to follow, e.g. "Cyclone Orla death toll"')],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (the object GET /api/timeline returns)")] = False,
    since: Since = None,
    until: UntilOption = None,
    source: Sources = None,
    article: Articles = None,
    as_of: AsOfOption = None,
) -> None:
    """How a story developed: the dated sentences matching QUERY, oldest first, grouped by day, each quoted."""
    from qa.wiring import open_service

    asked = scope(since, until, source, article, as_of)
    config = load_settings()
    service = run(lambda: open_service(config, fast_start=True))
    found = run(lambda: service.timeline(query, within=asked.within, as_of=asked.as_of))
    if as_json:
        out.print(json.dumps(found.model_dump(mode="json"), ensure_ascii=False), markup=False, soft_wrap=True)
        return
    if not found.days:
        err.print("[yellow]No dated article matches this.[/] Articles without a publication date are not placed.")
        return
    for day in found.days:
        out.print(f"[bold]{escape(day.day)}[/]")
        for citation in day.citations:
            source_name = f" — {escape(citation.source)}" if citation.source else ""
            out.print(f"  [bold cyan][{citation.n}][/] “{escape(citation.quote)}”")
            out.print(f"      [dim]{escape(citation.title)}{source_name} ({escape(citation.article_id)})[/]")
            print_copies(citation, "      ")
