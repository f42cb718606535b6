"""`qa doctor`: report (and with --fix repair) what the index and its replica disagree on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from qa.cli.console import err, load_settings, local_store_note, out, run

if TYPE_CHECKING:
    from qa.doctor import Checkup, Finding


def doctor(
    fix: Annotated[bool, typer.Option("--fix", help="Repair what is found, then check again")] = False,
) -> None:
    """Check the index: chunks no article names, chunks whose text is not their article's at their offsets,
    missing chunks, writes a killed process left unfinished, a catalog or keyword index that differs from the store.
    Exit 0 when clean, 1 when problems remain."""
    from qa.wiring import open_doctor

    config = load_settings()
    checkup = run(lambda: open_doctor(config).examine())
    _print(checkup.findings)
    if fix and checkup.problems:
        found = len(checkup.problems)
        checkup = run(lambda: open_doctor(config).fix())
        out.print(f"fixed {found - len(checkup.problems)} of {found} problem(s)")
        _print(checkup.findings, "still: ")
    if note := local_store_note(checkup.chunks, config):
        err.print(note)
    _conclude(checkup, fix)


def _print(findings: list[Finding], prefix: str = "") -> None:
    for f in findings:
        where = f" {escape(f.article_id)}:" if f.article_id else ""
        ids = f" ({escape(' '.join(f.chunk_ids))})" if f.chunk_ids else ""
        out.print(f"{prefix}{f.kind}:{where} {escape(f.detail)}{ids}")


def _conclude(checkup: Checkup, fixed: bool) -> None:
    counts = f"{checkup.articles} article(s), {checkup.chunks} chunk(s)"
    if not checkup.problems:
        out.print(f"{counts}: no problems")
        return
    hint = "" if fixed else "; repair them with: qa doctor --fix"
    out.print(f"{counts}: {len(checkup.problems)} problem(s){hint}")
    raise typer.Exit(1)
