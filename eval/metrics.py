"""Evaluation metrics as pure functions: retrieval, answers, citations, abstention, distributions.

Texts are compared folded (qa.text.fold: case, curly quotes, whitespace) and as whole words, so that the
answer "24" is not found in "2024"; the sought text loses its surrounding sentence punctuation and quotes, so
that the answer "two." is found in "two of which".
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

import numpy as np
from llama_index.core.evaluation.retrieval.metrics import MRR, HitRate

from qa.text import fold

_MARKER = re.compile(r"\s*\[\d+\]")
_EDGE = " .,;:!?\"'()[]"  # not $ % + #: "$5" and "C++" mean something else without them


def strip_markers(text: str) -> str:
    """The answer text without its [n] citation markers."""
    return _MARKER.sub("", text).strip()


def contains(haystack: str, needle: str) -> bool:
    """Whether `needle` (trimmed of edge punctuation) occurs in `haystack` as whole words, both folded.

    An empty needle never matches.
    """
    return contains_folded(fold(haystack), needle)


def contains_folded(folded_haystack: str, needle: str) -> bool:
    """`contains` for a haystack already folded: one article searched for many answers is folded once."""
    needle = fold(needle).strip(_EDGE)
    if not needle:
        return False
    return re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", folded_haystack) is not None


# -- retrieval ---------------------------------------------------------------------------------------------


def is_relevant(text: str, article_id: str, evidence: str | None, article_ids: Sequence[str]) -> bool:
    """A passage hits if it contains the evidence; without evidence, if it is from one of the articles."""
    if evidence:
        return contains(text, evidence)
    return article_id in article_ids


def first_hit_rank(retrieved_ids: Sequence[str], relevant_ids: Sequence[str], k: int) -> int | None:
    """The 1-based rank of the first relevant id among the first k, or None."""
    relevant = set(relevant_ids)
    return next((rank for rank, i in enumerate(retrieved_ids[:k], start=1) if i in relevant), None)


def hit_at(retrieved_ids: Sequence[str], relevant_ids: Sequence[str], k: int) -> float:
    """1.0 if a relevant id is among the first k retrieved, else 0.0 (llama-index HitRate)."""
    if not retrieved_ids or not relevant_ids:  # llama-index refuses empty lists; nothing relevant is a miss
        return 0.0
    return HitRate().compute(expected_ids=list(relevant_ids), retrieved_ids=list(retrieved_ids[:k])).score


def reciprocal_rank(retrieved_ids: Sequence[str], relevant_ids: Sequence[str], k: int) -> float:
    """1 / rank of the first relevant id among the first k, 0.0 if none (llama-index MRR)."""
    if not retrieved_ids or not relevant_ids:
        return 0.0
    return MRR().compute(expected_ids=list(relevant_ids), retrieved_ids=list(retrieved_ids[:k])).score


# -- answers and citations ---------------------------------------------------------------------------------


def answer_correct(answer: str, abstained: bool, answers: Sequence[str], unanswerable: bool) -> bool:
    """Unanswerable: correct iff abstained. Answerable: not abstained and an acceptable answer in the text."""
    if unanswerable:
        return abstained
    text = strip_markers(answer)
    return not abstained and any(contains(text, a) for a in answers)


def answer_words(answer: str) -> int:
    """The answer's length in words, without its [n] markers."""
    return len(strip_markers(answer).split())


def supported(quotes: Sequence[str], answers: Sequence[str], evidence: str | None) -> bool:
    """Whether an acceptable answer or the evidence lies inside one of the cited quotes."""
    wanted = [*answers, *([evidence] if evidence else [])]
    return any(contains(quote, w) for quote in quotes for w in wanted)


def citation_valid(quote: str, start: int, end: int, article_text: str) -> bool:
    """Whether the quote is exactly the article's text at [start:end] (no folding: offsets must be exact)."""
    return 0 <= start <= end <= len(article_text) and article_text[start:end] == quote


# -- short answers (SQuAD v1.1's official scoring) ----------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def squad_normalise(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles (a, an, the), single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str | None, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer; 0.0 for no prediction."""
    if prediction is None or not golds:
        return 0.0
    return float(any(squad_normalise(prediction) == squad_normalise(gold) for gold in golds))


def token_f1(prediction: str | None, golds: Sequence[str]) -> float:
    """The best token-overlap F1 of the normalised prediction against a gold answer; 0.0 for no prediction."""
    if prediction is None:
        return 0.0
    return max((_f1(squad_normalise(prediction).split(), squad_normalise(g).split()) for g in golds), default=0.0)


def _f1(predicted: list[str], gold: list[str]) -> float:
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


# -- abstention --------------------------------------------------------------------------------------------


def abstention_precision(abstained: Sequence[bool], unanswerable: Sequence[bool]) -> float:
    """Share of abstentions on unanswerable questions; 1.0 when nothing abstained (no false alarm)."""
    pairs = [u for a, u in zip(abstained, unanswerable, strict=True) if a]
    return sum(pairs) / len(pairs) if pairs else 1.0


def abstention_recall(abstained: Sequence[bool], unanswerable: Sequence[bool]) -> float | None:
    """Share of unanswerable questions abstained on; None when the set has none (nothing to recall)."""
    pairs = [a for a, u in zip(abstained, unanswerable, strict=True) if u]
    return sum(pairs) / len(pairs) if pairs else None


# -- aggregates --------------------------------------------------------------------------------------------


def mean(values: Sequence[float | bool]) -> float | None:
    """The arithmetic mean, None for no values (a share of nothing is undefined, not 0)."""
    return sum(values) / len(values) if values else None


def share(part: int, whole: int) -> float | None:
    """part / whole, None when whole is 0."""
    return part / whole if whole else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100, linear interpolation between closest ranks), None for no values."""
    return float(np.percentile(values, q)) if len(values) else None
