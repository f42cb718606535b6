"""Run a set's questions through named variants (an ask function each) and summarise what they measured."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from eval import metrics
from eval.sets import EvalItem
from qa.domain import Answer, RetrievalMode
from qa.errors import NotFound, QAError
from qa.service import NewsService

SUPPORT_BANDS = ("strong", "weak", "abstained")
DEPTH = 10  # retrieval is judged on the first 10 passages (hit@k curve, MRR@10)

Ask = Callable[[EvalItem], Answer]


@dataclass(frozen=True)
class Variant:
    """A named way of answering: a retrieval mode today, a generative answerer tomorrow."""

    name: str
    ask: Ask


@dataclass(frozen=True)
class QuestionResult:
    """One question as one variant answered it, with its per-question measurements."""

    item: EvalItem
    answer: Answer
    latency_ms: float
    retrieved_ids: list[str]
    relevant_ids: list[str]
    hit_rank: int | None
    correct: bool
    supported: bool | None  # judged only for correct answers to answerable questions
    valid_citations: int
    short_em: float | None = None  # the short answer against the gold answers (answerable questions only)
    short_f1: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The per-question record of `qa eval --json`."""
        return {
            "id": self.item.id,
            "question": self.item.question,
            "answer": self.answer.answer,
            "abstained": self.answer.abstained,
            "citations": [c.model_dump(mode="json") for c in self.answer.citations],
            "short_answer": self.answer.short_answer.model_dump() if self.answer.short_answer else None,
            "hit_rank": self.hit_rank,
            "pass": self.correct,
            "support": self.answer.support,
            "support_label": self.answer.support_label,
            "latency_ms": round(self.latency_ms, 2),
        }


class Band(BaseModel):
    """The answers of one support label and how many of them were right."""

    answers: int
    accuracy: float | None


class Summary(BaseModel):
    """A variant's figures over a set. None means undefined (e.g. support with no correct answer)."""

    questions: int
    answerable: int
    unanswerable: int
    top_k: int
    hit_at_1: float | None
    hit_at_5: float | None
    mrr_at_10: float | None
    hit_curve: list[float | None]
    accuracy: float | None
    answerable_accuracy: float | None
    support: float | None
    validity: float | None
    citations: int
    abstained: int
    abstain_precision: float
    abstain_recall: float | None
    median_words: float | None
    p90_words: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    failed: int
    short_em: float | None = None  # short answers: SQuAD exact match and token F1, over answerable questions
    short_f1: float | None = None
    accuracy_by_kind: dict[str, float] = {}  # items' `kind` label -> accuracy (sets that label their items)
    strong_accuracy: float | None = None  # accuracy of the answers labelled strong (qa.support)
    support_bands: dict[str, Band] = {}  # support label (strong, weak, abstained) -> its answers and accuracy


@dataclass(frozen=True)
class VariantRun:
    """A variant's results over a set and their summary."""

    name: str
    results: list[QuestionResult]
    summary: Summary


class ArticleTexts:
    """Stored article texts, fetched once per article (citation validity checks every citation)."""

    def __init__(self, service: NewsService) -> None:
        self.service = service
        self.cache: dict[str, str | None] = {}

    def get(self, article_id: str) -> str | None:
        """The article's stored text, None if it is not in the store."""
        if article_id not in self.cache:
            try:
                self.cache[article_id] = self.service.get_article(article_id).text
            except NotFound:
                self.cache[article_id] = None
        return self.cache[article_id]


def service_variants(
    service: NewsService, modes: Iterable[RetrievalMode], top_k: int, name: str | None = None, dated: bool = True
) -> list[Variant]:
    """One variant per retrieval mode (named after it unless `name` is given); the answer reads `top_k` passages,
    retrieval is judged on DEPTH. Not `dated`: the items' `as_of` is not passed (with a time-blind service, the
    engine as it was before it read dates)."""

    def asker(mode: RetrievalMode) -> Ask:
        return lambda item: service.ask(
            item.question,
            top_k=top_k,
            mode=mode,
            depth=DEPTH,
            within=item.within(),
            as_of=item.as_of if dated else None,
        )

    return [Variant(name or mode, asker(mode)) for mode in modes]


def run_variant(
    variant: Variant,
    items: Sequence[EvalItem],
    texts: ArticleTexts,
    top_k: int,
    on_result: Callable[[], None] | None = None,
) -> VariantRun:
    """Ask every item's question, measure each answer, summarise.

    The first question is asked once untimed beforehand: loading the keyword index and warming the model are
    one-off costs of a process, not the latency of a question.
    """
    if items:
        _ask(variant.ask, items[0])
    results = []
    for item in items:
        began = time.perf_counter()
        answer = _ask(variant.ask, item)
        latency_ms = (time.perf_counter() - began) * 1000
        results.append(measure(item, answer, latency_ms, texts))
        if on_result:
            on_result()
    return VariantRun(variant.name, results, summarise(results, top_k))


def measure(item: EvalItem, answer: Answer, latency_ms: float, texts: ArticleTexts) -> QuestionResult:
    """The per-question measurements of one answer."""
    retrieved = [p.chunk_id for p in answer.passages]
    relevant = [
        p.chunk_id
        for p in answer.passages
        if metrics.is_relevant(p.text, p.article_id, item.evidence, item.article_ids)
    ]
    correct = metrics.answer_correct(answer.answer, answer.abstained, item.answers, item.unanswerable)
    quotes = [c.quote for c in answer.citations]
    short = answer.short_answer.text if answer.short_answer else None
    answerable = not item.unanswerable
    return QuestionResult(
        item=item,
        answer=answer,
        latency_ms=latency_ms,
        retrieved_ids=retrieved,
        relevant_ids=relevant,
        hit_rank=metrics.first_hit_rank(retrieved, relevant, DEPTH),
        correct=correct,
        supported=metrics.supported(quotes, item.answers, item.evidence) if correct and not item.unanswerable else None,
        valid_citations=sum(
            metrics.citation_valid(c.quote, c.start, c.end, texts.get(c.article_id) or "") for c in answer.citations
        ),
        short_em=metrics.exact_match(short, item.answers) if answerable else None,
        short_f1=metrics.token_f1(short, item.answers) if answerable else None,
    )


def summarise(results: Sequence[QuestionResult], top_k: int) -> Summary:
    """A variant's figures over its results (see eval/README.md for the definitions)."""
    answerable = [r for r in results if not r.item.unanswerable]
    answered = [r for r in results if not r.answer.abstained]
    curve = [
        metrics.mean([metrics.hit_at(r.retrieved_ids, r.relevant_ids, k) for r in answerable])
        for k in range(1, DEPTH + 1)
    ]
    words = [metrics.answer_words(r.answer.answer) for r in answered]
    latencies = [r.latency_ms for r in results]
    abstained = [r.answer.abstained for r in results]
    unanswerable = [r.item.unanswerable for r in results]
    citations = sum(len(r.answer.citations) for r in results)
    return Summary(
        questions=len(results),
        answerable=len(answerable),
        unanswerable=sum(unanswerable),
        top_k=top_k,
        hit_at_1=curve[0],
        hit_at_5=curve[4],
        mrr_at_10=metrics.mean([metrics.reciprocal_rank(r.retrieved_ids, r.relevant_ids, DEPTH) for r in answerable]),
        hit_curve=curve,
        accuracy=metrics.mean([r.correct for r in results]),
        answerable_accuracy=metrics.mean([r.correct for r in answerable]),
        support=metrics.mean([r.supported for r in answerable if r.supported is not None]),
        validity=metrics.share(sum(r.valid_citations for r in results), citations),
        citations=citations,
        abstained=sum(abstained),
        abstain_precision=metrics.abstention_precision(abstained, unanswerable),
        abstain_recall=metrics.abstention_recall(abstained, unanswerable),
        median_words=metrics.percentile(words, 50),
        p90_words=metrics.percentile(words, 90),
        latency_p50_ms=metrics.percentile(latencies, 50),
        latency_p95_ms=metrics.percentile(latencies, 95),
        failed=sum(not r.correct for r in results),
        short_em=metrics.mean([r.short_em for r in answerable if r.short_em is not None]),
        short_f1=metrics.mean([r.short_f1 for r in answerable if r.short_f1 is not None]),
        accuracy_by_kind={
            kind: metrics.mean([r.correct for r in results if r.item.kind == kind]) or 0.0
            for kind in sorted({r.item.kind for r in results if r.item.kind})
        },
        strong_accuracy=metrics.mean([r.correct for r in results if r.answer.support_label == "strong"]),
        support_bands=_bands(results),
    )


def _bands(results: Sequence[QuestionResult]) -> dict[str, Band]:
    """Per support label: how many answers carry it and how many of those were right."""
    right = {band: [r.correct for r in results if r.answer.support_label == band] for band in SUPPORT_BANDS}
    return {band: Band(answers=len(rows), accuracy=metrics.mean(rows)) for band, rows in right.items()}


def _ask(ask: Ask, item: EvalItem) -> Answer:
    """The variant's answer; an error that stops the run names the question it came from."""
    try:
        return ask(item)
    except QAError as exc:
        raise type(exc)(f"question '{item.id}': {exc}") from exc


LABELS: dict[str, str] = {
    "questions": "questions",
    "answerable": "answerable",
    "unanswerable": "unanswerable",
    "hit_at_1": "hit@1",
    "hit_at_5": "hit@5",
    "mrr_at_10": "MRR@10",
    "accuracy": "accuracy",
    "answerable_accuracy": "accuracy (answerable)",
    "support": "citation support",
    "validity": "citation validity",
    "short_em": "short answer EM",
    "short_f1": "short answer F1",
    "citations": "citations",
    "abstained": "abstained",
    "abstain_precision": "abstain precision",
    "abstain_recall": "abstain recall",
    "median_words": "median words",
    "p90_words": "p90 words",
    "latency_p50_ms": "latency p50 ms",
    "latency_p95_ms": "latency p95 ms",
    "failed": "failed",
    "strong_accuracy": "accuracy (strong)",
}


def figure(field: str, value: Any) -> str:
    """A summary figure as shown: n/a for undefined, shares to 3 places, ms and words to 1."""
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{value:.1f}" if field.endswith(("_ms", "_words")) else f"{value:.3f}"


@dataclass(frozen=True)
class Gate:
    """A required floor (or, with at_most, a ceiling) on one summary figure."""

    field: str
    threshold: float
    at_most: bool = False

    def failure(self, summary: Summary) -> str | None:
        """Why the summary falls short of this gate ("hit@1 0.912 < required 0.95"), or None if it passes."""
        label, value = LABELS[self.field], getattr(summary, self.field)
        if self.at_most:
            relation, sign, passed = "allowed at most", ">", value is not None and value <= self.threshold
        else:
            relation, sign, passed = "required", "<", value is not None and value >= self.threshold
        if passed:
            return None
        if value is None:  # an undefined figure cannot show that it meets the gate
            return f"{label} n/a, {relation} {self.threshold:g}"
        return f"{label} {figure(self.field, value)} {sign} {relation} {self.threshold:g}"
