"""Abstention measured on answerable questions: each one asked with the articles that answer it left out.

A user's own set is mostly answerable questions, and a handful of hand-written unanswerable ones calibrate
little. This turns answerable questions into unanswerable ones. The indexed articles fall into two halves (by a
hash of their id, so the split does not depend on their order); a question whose articles all lie in one half is
asked of the other half only (a filter inside retrieval, as `--article` applies it), where the right reply is
"the articles do not say". A question is left out when an article of the other half holds one of its answers: a
story told by several articles may rightly be answered there.

The filter leaves the keyword index's statistics (document counts, idf) those of the whole index, so this is close
to, not exactly, an index without the withheld articles.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from eval import metrics
from eval.runner import DEPTH, Variant
from eval.sets import EvalItem
from qa.domain import Answer
from qa.service import NewsService
from qa.text import fold

NAME = "withheld"
LIST_PAGE = 200  # articles listed a page at a time


def half_of(article_id: str) -> int:
    """0 or 1: the half an article falls in, the same on every run and machine."""
    return hashlib.sha256(article_id.encode("utf-8")).digest()[0] % 2


def indexed_ids(service: NewsService) -> list[str]:
    """Every indexed article's id."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page = service.list_articles(limit=LIST_PAGE, cursor=cursor)
        ids.extend(article.id for article in page.articles)
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


def withheld_items(
    items: Sequence[EvalItem], article_ids: Sequence[str], text_of: Callable[[str], str | None]
) -> list[tuple[EvalItem, list[str]]]:
    """Each answerable question whose articles all lie in one half, as an unanswerable one, with the articles of
    the other half it is to be asked of (`text_of` gives an article's text, to look for the answers in)."""
    halves: tuple[list[str], list[str]] = ([], [])
    for article_id in article_ids:
        halves[half_of(article_id)].append(article_id)
    # Each half's texts folded and joined once: a question's answers are looked for in one string, not in every
    # article (a line break is not a space after folding, so no answer is found across two articles).
    texts = tuple("\n\n".join(fold(text_of(article_id) or "") for article_id in half) for half in halves)
    indexed = set(article_ids)
    withheld = []
    for item in items:
        if item.unanswerable or not item.article_ids or not indexed.issuperset(item.article_ids):
            continue  # nothing to withhold, or its articles are not indexed (it says nothing about withholding)
        sides = {half_of(article_id) for article_id in item.article_ids}
        if len(sides) != 1:
            continue
        other = 1 - sides.pop()
        if not halves[other] or any(metrics.contains_folded(texts[other], answer) for answer in item.answers):
            continue
        asked: dict[str, object] = {"answers": [], "evidence": None, "article_ids": [], "unanswerable": True}
        withheld.append((item.model_copy(update=asked), halves[other]))
    return withheld


def withheld_variant(service: NewsService, top_k: int, withheld: Sequence[tuple[EvalItem, list[str]]]) -> Variant:
    """Asks each withheld question of its other half, keeping the item's own filters and `as_of`."""
    allowed = {item.id: others for item, others in withheld}

    def ask(item: EvalItem) -> Answer:
        within = item.within().model_copy(update={"article_ids": allowed[item.id]})
        return service.ask(item.question, top_k=top_k, depth=DEPTH, within=within, as_of=item.as_of)

    return Variant(NAME, ask)
