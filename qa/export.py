"""A stored conversation as Markdown: each question, each answer, and the quotes as footnotes.

An answer's `[n]` markers become footnote references numbered across the whole conversation (every answer has
its own [1]); each footnote gives the quote with its outlet, title and date, so the file stands on its own. An
answer opens with its short answer in bold and, when its support is weak, says so as the page does. A model's
answer keeps its Markdown (its lists and paragraphs, as the page shows them); an extractive answer is quoted text
and is escaped, so that an article's `*` or `#` stays a character.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import partial

from qa.domain import Citation, ConversationInfo, Turn

_MARKER = re.compile(r"\[(\d+)\]")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def conversation_markdown(
    info: ConversationInfo, turns: Sequence[Turn], urls: Mapping[str, str | None] | None = None
) -> str:
    """The conversation as a Markdown document (a title, then question and answer by turn, footnotes last);
    `urls`: the cited articles' addresses by id, where known."""
    lines = [f"# {_escape(info.title)}", "", f"*Exported conversation, started {info.created_at[:10]}.*", ""]
    footnotes: list[str] = []
    for turn in turns:
        if turn.role == "user":
            lines += [f"**Question:** {_escape(_one_line(turn.content))}", ""]
            continue
        numbers: dict[int, int] = {}  # this answer's n -> its footnote number
        for citation in turn.citations:
            footnotes.append(_footnote(len(footnotes) + 1, citation, (urls or {}).get(citation.article_id)))
            numbers[citation.n] = len(footnotes)
        text = _MARKER.sub(partial(_reference, numbers=numbers), _answer_text(turn))
        lines += [_answer_head(turn), "", text, ""]
        unreferenced = [numbers[c.n] for c in turn.citations if f"[{c.n}]" not in turn.content]
        if unreferenced:
            lines += ["Sources: " + " ".join(f"[^{k}]" for k in unreferenced), ""]
    if footnotes:
        lines += footnotes
    return "\n".join(lines).rstrip() + "\n"


WEAK_LABEL = "Weak match – check the sources"  # the page's words for a weak answer


def _answer_head(turn: Turn) -> str:
    """`**Answer:**`, then the short answer in bold and the weak label when there are."""
    if turn.abstained:
        return "**Answer (no answer in the articles):**"
    head = ["**Answer:**"]
    if turn.short_answer is not None:
        head.append(f"**{_escape(_one_line(turn.short_answer.text))}**")
    if turn.support_label == "weak":
        head.append(f"*({WEAK_LABEL})*")
    return " ".join(head)


def _answer_text(turn: Turn) -> str:
    """The answer's Markdown: a model's as it wrote it (only HTML made text), a quoting answer's escaped."""
    if turn.backend and not turn.backend.startswith("extractive"):
        return turn.content.replace("<", "\\<")
    return _escape_keeping_markers(turn.content)


def _reference(match: re.Match[str], numbers: dict[int, int]) -> str:
    k = numbers.get(int(match.group(1)))
    return f"[^{k}]" if k is not None else match.group(0)


def _footnote(k: int, citation: Citation, url: str | None) -> str:
    """`[^k]: "quote" (Outlet, *Title*, 2022-02-11, <https://...>)`: one line, whatever the quote holds."""
    where = [
        citation.source,
        f"*{_escape(citation.title)}*",
        (citation.published or "")[:10],
        f"<{url}>" if url else "",
    ]
    return f'[^{k}]: "{_escape(_one_line(citation.quote))}" ({", ".join(w for w in where if w)})'


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _escape(text: str) -> str:
    """Text shown as it is, not read as Markdown (a quote with `*` or `[1]` in it)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _escape_keeping_markers(text: str) -> str:
    """Escape an answer's text, but leave its `[n]` markers to become footnote references."""
    pieces, last = [], 0
    for match in _MARKER.finditer(text):
        pieces += [_escape(text[last : match.start()]), match.group(0)]
        last = match.end()
    return "".join([*pieces, _escape(text[last:])])
