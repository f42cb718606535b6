"""Evaluation sets: JSON Lines of questions with acceptable answers, validated line by line."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qa.domain import AsOf, Moment, SearchFilter, Until
from qa.errors import InvalidInput


class EvalItem(BaseModel):
    """One question of a set. Unknown fields are refused so that a misspelt key is not silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answers: list[str] = Field(default_factory=list, description="Any one of them counts as correct.")
    evidence: str | None = Field(default=None, min_length=1, description="Text a correct passage contains.")
    article_ids: list[str] = Field(default_factory=list, description="Articles that answer the question.")
    unanswerable: bool = False
    as_of: AsOf | None = Field(default=None, description="When the question is asked (a bare date: its end).")
    since: Moment | None = Field(default=None, description="Only articles published at or after this.")
    until: Until | None = Field(default=None, description="Only articles published before this.")
    sources: list[str] | None = Field(default=None, description="Only articles from these outlets.")
    kind: str | None = Field(default=None, description="A label to break figures down by (e.g. 'relative').")

    def within(self) -> SearchFilter:
        """The item's filter (an empty one lets every article through)."""
        return SearchFilter(sources=self.sources, since=self.since, until=self.until)

    @model_validator(mode="after")
    def _consistent(self) -> EvalItem:
        """An answerable item must be gradable (answers) and its retrieval judgeable (evidence, articles)."""
        if self.unanswerable and self.answers:
            raise ValueError("an unanswerable question must have no answers")
        if not self.unanswerable:
            if not any(a.strip() for a in self.answers):
                raise ValueError("an answerable question needs at least one non-empty answer")
            if not self.evidence and not self.article_ids:
                raise ValueError("an answerable question needs 'evidence' or 'article_ids'")
        return self


def load_sets(paths: Sequence[Path]) -> list[EvalItem]:
    """The items of several set files in order; an InvalidInput naming file and line of the first bad line.

    Ids must be unique across all the files: results are keyed by id.
    """
    items: list[EvalItem] = []
    seen: dict[str, str] = {}
    for path in paths:
        for number, item in _read_set(path):
            where = f"{path}, line {number}"
            if item.id in seen:
                raise InvalidInput(f"{where}: the id '{item.id}' is already used ({seen[item.id]})")
            seen[item.id] = where
            items.append(item)
    return items


def _read_set(path: Path) -> list[tuple[int, EvalItem]]:
    """(line number, item) for every non-blank line of one set file."""
    try:
        content = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such evaluation set file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read the evaluation set ({exc})") from None
    items = [
        (number, _parse_line(path, number, line))
        for number, line in enumerate(content.splitlines(), start=1)
        if line.strip()
    ]
    if not items:
        raise InvalidInput(f"{path}: the evaluation set has no questions")
    return items


def _parse_line(path: Path, number: int, line: str) -> EvalItem:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}, line {number}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    if not isinstance(record, dict):
        raise InvalidInput(f"{path}, line {number}: expected a JSON object, got {type(record).__name__}")
    try:
        return EvalItem.model_validate(record)
    except ValidationError as exc:
        raise InvalidInput(f"{path}, line {number}: {_problems(exc)}") from None


def _problems(exc: ValidationError) -> str:
    """Every validation error as 'field: message' (or just the message for whole-item checks), joined by "; ":
    a line with three misspelt fields is fixed in one go."""
    said = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        said.append(f"{where}: {message}" if where else message)
    return "; ".join(said)
