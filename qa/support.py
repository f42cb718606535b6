"""How well an answer is supported: a calibrated chance that it is right, and the label a reader sees.

The extractive answerer reports a few signals it computes anyway (see SIGNALS); a logistic model turns them into
`support`, roughly the share of answers with that score that are right. Its coefficients were fitted with
`python -m eval.calibrate` on the shipped sets (seed, XQuAD-en, dated) and are copied here; that command also
reports how the model does on held-out folds. The generative backend has no such signals: its support is the share
of its sentences whose citations passed the check (qa.generative), not fitted on anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

SupportLabel = Literal["strong", "weak", "abstained"]

# The signals, in the order of the weights (see qa.extractive._signals): the evidence score (best sentence's cosine +
# its passage's term coverage, 0 when a strict answer type is missing); the best sentence's score, cosine and term
# share; its lead over the next sentence and over the best sentence of another passage; 1 / (1 + the sentences
# within SECOND_SENTENCE_SHARE of it); its answer type fit (0, 0.5 when no type is wanted, 1); the share of the
# question's names in its passage; 1 when that passage ranks first by both dense and keyword score, 0.5 by one;
# how far the best passage's score leads the next (share of the best).
SIGNALS = (
    "raw",
    "best",
    "dense",
    "lexical",
    "margin",
    "margin_other",
    "alone",
    "type_fit",
    "names",
    "agree",
    "passage_lead",
)

# Fitted by `.venv/bin/python -m eval.calibrate` (on the 1,265 answered of the three sets' 1,294 questions): the
# intercept, then one weight per signal (of its square root). A zero weight is a signal the fit dropped.
INTERCEPT = -3.8370
WEIGHTS = (0.7453, 0.0000, 2.3934, 1.0849, 3.4618, 0.0000, 0.7355, 0.0113, 0.0000, 0.2155, 1.2221)
STRONG = 0.93  # support at or above which an answer is labelled strong (chosen by the same command)


def features(signals: Mapping[str, float]) -> list[float]:
    """The model's inputs: the square root of each signal (missing or negative ones count 0). Most signals are
    small leads where the first hundredths matter most; on held-out folds the roots rank answers better."""
    return [math.sqrt(max(0.0, float(signals.get(name, 0.0)))) for name in SIGNALS]


def logistic(signals: Mapping[str, float], intercept: float, weights: Sequence[float]) -> float:
    """The logistic model's probability for these signals."""
    z = intercept + sum(w * x for w, x in zip(weights, features(signals), strict=True))
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def calibrated(signals: Mapping[str, float]) -> float:
    """The shipped model's support for these signals, in 0..1."""
    return logistic(signals, INTERCEPT, WEIGHTS)


def label(support: float, abstained: bool, strong: float = STRONG) -> SupportLabel:
    """abstained when the answerer abstained; strong at or above the threshold; weak otherwise."""
    if abstained:
        return "abstained"
    return "strong" if support >= strong else "weak"


def assess(signals: Mapping[str, float], checked_share: float, abstained: bool) -> tuple[float, SupportLabel]:
    """An answer's support and label: from the extractive signals when there are any, else from the share of the
    answer's sentences whose citations checked out (a generative answer). An abstention has support 0."""
    if abstained:
        return 0.0, "abstained"
    support = calibrated(signals) if signals else max(0.0, min(1.0, checked_share))
    return round(support, 4), label(support, abstained)


LABEL_TEXT: dict[SupportLabel, str] = {
    "strong": "strong match",
    "weak": "weak match - check the sources",
    "abstained": "not answered by the articles",
}
