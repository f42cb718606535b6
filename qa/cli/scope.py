"""The options every question command shares: which articles may answer (--since, --until, --source, --article)
and when the question is asked (--as-of)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError

from qa.cli.console import fail
from qa.domain import AsOf, Moment, SearchFilter, Until

_EXAMPLE = "e.g. 2025-03-01 or 2025-03-01T09:30+01:00"

Since = Annotated[
    str | None,
    typer.Option("--since", help=f"Only articles published at or after this ({_EXAMPLE})", show_default=False),
]
UntilOption = Annotated[
    str | None, typer.Option("--until", help="Only articles published before this (a bare date: up to its end)")
]
Sources = Annotated[list[str] | None, typer.Option("--source", help="Only articles from this outlet (repeatable)")]
Articles = Annotated[list[str] | None, typer.Option("--article", help="Only this article id (repeatable)")]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of", help='Ask as of this time (default now): "last month" is read against it', show_default=False
    ),
]


@dataclass(frozen=True)
class Scope:
    """The filter and reference time the options make."""

    within: SearchFilter | None
    as_of: dt.datetime | None


def scope(
    since: str | None, until: str | None, sources: list[str] | None, articles: list[str] | None, as_of: str | None
) -> Scope:
    """Parse the options; a bad date is a usage error (exit 2) that names the option and shows what works."""
    within = SearchFilter(
        article_ids=articles or None,
        sources=sources or None,
        since=_moment("--since", since, Moment),
        until=_moment("--until", until, Until),
    )
    return Scope(within, _moment("--as-of", as_of, AsOf))


def _moment(option: str, value: str | None, kind: Any) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment: dt.datetime = TypeAdapter(kind).validate_python(value.strip())
    except ValidationError:
        raise fail(f"{option}: {value!r} is not a date or time; give ISO 8601, {_EXAMPLE}.", 2) from None
    return moment
