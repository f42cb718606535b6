"""A timeline: the dated sentences that match a query, in the order they were reported, grouped by day.

"How did the Cyclone Orla death toll develop?" is not answered by one sentence but by the sequence of reports. The
passages are retrieved as for a question (filters and relative dates included); from each dated article its
sentences that match the query well are kept, a sentence syndicated word for word by several outlets once, and the
rest is ordered by the article's publication time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from qa.domain import ArticleInfo, Citation, TimelineDay
from qa.retrieval import Hit

TIMELINE_PASSAGES = 30  # passages read for a timeline: a story's reports, not a question's best five
SENTENCE_SHARE = 0.6  # a sentence is kept when it scores this share of the best sentence's score
PER_ARTICLE = 2  # sentences kept from one article at most: a timeline line, not the article


def timeline_days(hits: Sequence[Hit], infos: dict[str, ArticleInfo]) -> list[TimelineDay]:
    """The matching sentences of the dated articles among `hits`, oldest first, grouped by publication day."""
    candidates: list[tuple[float, Hit, int]] = []
    for hit in hits:
        info = infos.get(hit.chunk.article_id)
        if info is None or _published(info) is None:
            continue
        evidence = hit.evidence
        for index in range(len(evidence.texts)):
            score = 0.5 * float(evidence.dense[index]) + 0.5 * float(evidence.lexical[index])
            candidates.append((score, hit, index))
    if not candidates:
        return []
    floor = SENTENCE_SHARE * max(score for score, _, _ in candidates)
    kept: dict[str, list[tuple[float, Hit, int]]] = {}
    seen_text: set[str] = set()
    for score, hit, index in sorted(candidates, key=lambda c: -c[0]):
        text = " ".join(hit.evidence.texts[index].split())
        article = kept.setdefault(hit.chunk.article_id, [])
        if score < floor or text in seen_text or len(article) >= PER_ARTICLE:
            continue
        seen_text.add(text)
        article.append((score, hit, index))
    entries = [(infos[a], score, hit, index) for a, chosen in kept.items() for score, hit, index in chosen]
    entries.sort(key=lambda e: (_published(e[0]), e[2].chunk.article_id, e[2].chunk.sentences[e[3]][0]))
    days: dict[str, list[Citation]] = {}
    for n, (info, score, hit, index) in enumerate(entries, start=1):
        start, end = hit.chunk.sentences[index]
        when = _published(info)
        assert when is not None
        days.setdefault(when.date().isoformat(), []).append(
            Citation(
                n=n,
                article_id=info.id,
                title=info.title,
                quote=hit.chunk.text[start - hit.chunk.start : end - hit.chunk.start],
                start=start,
                end=end,
                score=round(score, 4),
                chunk_id=hit.chunk.id,
                published=info.published,
                source=info.source,
            )
        )
    return [TimelineDay(day=day, citations=citations) for day, citations in days.items()]


def _published(info: ArticleInfo) -> dt.datetime | None:
    if not info.published:
        return None
    try:
        moment = dt.datetime.fromisoformat(info.published)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
