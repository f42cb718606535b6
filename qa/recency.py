"""Dated answers: the question's window as a filter, the newest report first for questions about the current
state, earlier reporting beside it, and every citation with its article's date and outlet.

News answers change: "Who is the chief executive?" had one answer in February and another in September. For such
questions the engine answers from the newest article that answers at all (the answerer's own evidence check
decides "answers"), then shows what an older article said as earlier reporting, both cited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import replace

from qa.answering import Answerer, AnswerResult
from qa.domain import ArticleInfo, Citation, Copy, Passage, SearchFilter, TimeScope, published_timestamp
from qa.evidence import QuestionEvidence
from qa.posts import names_holder
from qa.retrieval import Hit
from qa.stories import best_match
from qa.when import TimeReading

MIN_COPY_CHARS = 40  # shorter quotes ("He declined to comment.") recur without being the same story
LATEST_POOL = 10  # passages a question about the current state looks through for the newest report
NEWEST_TRIES = 3  # articles tried newest first before the usual answer over all passages is taken
# An article takes part only when its best passage scores at least this share of the best passage's score, so that a
# newer article that merely mentions the question's subject does not outrank the one that answers it (chosen by
# 5-fold cross-validation on eval/dated: python -m eval.kfold_dated).
RELEVANT_SHARE = 0.6


def scoped(within: SearchFilter | None, since: dt.datetime | None, until: dt.datetime | None) -> SearchFilter | None:
    """`within` narrowed to articles published in [since, until) (either end open)."""
    if since is None and until is None:
        return within
    base = within or SearchFilter()
    starts = [t for t in (base.since, since) if t is not None]
    ends = [t for t in (base.until, until) if t is not None]
    return base.model_copy(update={"since": max(starts, default=None), "until": min(ends, default=None)})


def time_scope(reading: TimeReading, as_of: dt.datetime, applies: bool) -> TimeScope | None:
    """What the answer says about how its time was read (None when the question said nothing about time)."""
    if not (reading.latest or (applies and reading.has_window)):
        return None
    if not applies:
        return TimeScope(as_of=as_of, latest=reading.latest)
    window = {"since": reading.since, "until": reading.until, "phrase": reading.phrase}
    return TimeScope(as_of=as_of, latest=reading.latest, **window)


def answer_newest_first(
    answerer: Answerer,
    question: QuestionEvidence,
    hits: Sequence[Hit],
    passages: Sequence[Passage],
    infos: dict[str, ArticleInfo],
) -> AnswerResult | None:
    """The answer from the newest article among the hits that answers the question, with an older article's
    account as earlier reporting; None when the hits do not come from articles of different dates."""
    when = {i: published_timestamp(info.published) for i, info in infos.items()}
    floor = RELEVANT_SHARE * max((h.score for h in hits), default=0.0)
    # newest first, and of articles published at the same time (news dated by the day often is) the one retrieval
    # ranked higher: in the hits' order, not a set's, which differs from process to process
    dated = sorted(
        dict.fromkeys(
            h.chunk.article_id for h in hits if when.get(h.chunk.article_id) is not None and h.score >= floor
        ),
        key=lambda i: -(when[i] or 0),
    )
    if len({when[i] for i in dated}) < 2:
        return None
    post = question.profile.post
    chosen: tuple[str, AnswerResult] | None = None
    for article_id in dated[:NEWEST_TRIES]:
        lead = _answer_from(answerer, question, hits, passages, article_id.__eq__)
        if lead is None or lead.abstained:
            continue
        chosen = chosen or (article_id, lead)
        # "Who is the mayor?": the newest answer naming someone as mayor, not a newer one about the race for
        # mayor; older articles are asked (one answer each) only while none has
        if post is None or names_holder(lead.answer, post):
            chosen = (article_id, lead)
            break
    if chosen is None:
        return None
    article_id, lead = chosen
    # earlier reporting of the same thing: among the articles that took part, not any older passage retrieved
    taking_part = set(dated)
    older = _answer_from(
        answerer, question, hits, passages, _older_than(when, when[article_id] or 0, taking_part.__contains__)
    )
    return _with_earlier(lead, older)


def _older_than(when: dict[str, int | None], cutoff: int, among: Callable[[str], bool]) -> Callable[[str], bool]:
    """Whether an article (by id) was published before `cutoff` (undated ones are not) and is `among` those asked."""
    return lambda article_id: among(article_id) and (when.get(article_id) or cutoff) < cutoff


def _answer_from(
    answerer: Answerer,
    question: QuestionEvidence,
    hits: Sequence[Hit],
    passages: Sequence[Passage],
    keep: Callable[[str], bool],
) -> AnswerResult | None:
    chosen = [i for i, h in enumerate(hits) if keep(h.chunk.article_id)]
    if not chosen:
        return None
    return answerer.answer(question, [hits[i] for i in chosen], [passages[i] for i in chosen])


def _with_earlier(lead: AnswerResult, older: AnswerResult | None) -> AnswerResult:
    """The lead answer, plus the older answer's best quote as an earlier-reporting citation (when it says
    something other than the lead's quotes). Best, not first: an answer's quotes read in article order, and the
    one that answers ("two people remained missing") may come after the scene-setting one."""
    if older is None or older.abstained or not older.citations:
        return lead
    first = max(older.citations, key=lambda c: c.score)
    if any(first.quote == c.quote for c in lead.citations):
        return lead
    earlier = first.model_copy(update={"n": len(lead.citations) + 1, "earlier": True})
    return replace(lead, citations=[*lead.citations, earlier])


def dated_citations(
    citations: list[Citation], infos: dict[str, ArticleInfo], passages: Sequence[Passage] = ()
) -> list[Citation]:
    """The citations with their article's publication time and outlet, and the other articles among `passages`
    that hold the same quote (syndicated copies: word for word, or nearly in an article of the same story)."""
    dated = []
    for citation in citations:
        info = infos.get(citation.article_id)
        story = info.story_id if info is not None else None
        update: dict[str, object] = {"copies": _copies(citation, passages, story, infos)}
        if info is not None:
            update |= {"published": info.published, "source": info.source}
        dated.append(citation.model_copy(update=update))
    return dated


def _copies(
    citation: Citation, passages: Sequence[Passage], story: str | None, infos: dict[str, ArticleInfo]
) -> list[Copy]:
    found: dict[str, Copy] = {}
    if len(citation.quote) < MIN_COPY_CHARS:
        return []
    for passage in passages:
        if passage.article_id == citation.article_id or passage.article_id in found:
            continue
        at = passage.text.find(citation.quote)
        span = (passage.start + at, passage.start + at + len(citation.quote)) if at >= 0 else None
        other = infos.get(passage.article_id)
        if span is None and story is not None and other is not None and other.story_id == story:
            span = best_match(citation.quote, passage.text, passage.sentences, passage.start)
        if span is not None:
            found[passage.article_id] = Copy(
                article_id=passage.article_id,
                title=passage.title,
                source=passage.source,
                published=passage.published,
                start=span[0],
                end=span[1],
                exact=at >= 0,
            )
    return list(found.values())


def reported(citations: Sequence[Citation]) -> str | None:
    """'as of 20 Oct 2022': the newest date the answer's own quotes (not earlier reporting) were published, the
    day as that article gives it (its own time zone), as its citation shows it."""
    stamped = [
        (stamp, c.published)
        for c in citations
        if not c.earlier and (stamp := published_timestamp(c.published)) is not None
    ]
    if not stamped:
        return None
    _, published = max(stamped)
    newest = dt.datetime.fromisoformat(str(published).strip())
    return f"as of {newest.day} {newest:%b %Y}"
