"""qa/support.py and eval/calibrate.py: the calibrated support, its labels, and the fit behind the coefficients."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from eval.calibrate import choose_threshold, fit, predict
from qa import support
from qa.support import SIGNALS, STRONG, assess, calibrated, label

LOW = dict.fromkeys(SIGNALS, 0.0)
HIGH = dict.fromkeys(SIGNALS, 1.0)


def test_the_shipped_model_is_bounded_and_spans_both_labels() -> None:
    assert 0.0 <= calibrated(LOW) < STRONG <= calibrated(HIGH) <= 1.0
    assert calibrated({name: 1e6 for name in SIGNALS}) <= 1.0  # no overflow at absurd inputs
    assert calibrated({name: -1e6 for name in SIGNALS}) >= 0.0


@pytest.mark.parametrize("name", SIGNALS)
def test_the_shipped_model_never_falls_when_a_signal_rises(name: str) -> None:
    for base in (LOW, HIGH, {**LOW, "raw": 0.9, "best": 0.6}):
        values = [calibrated({**base, name: v}) for v in np.linspace(0.0, 1.6, 9)]
        assert all(a <= b for a, b in itertools.pairwise(values)), (name, values)


def test_the_shipped_weights_are_fitted_not_placeholders() -> None:
    assert any(w > 0 for w in support.WEIGHTS)
    assert all(w >= 0 for w in support.WEIGHTS)  # the fit keeps them so: monotone by construction


def test_labels_follow_abstention_then_the_threshold() -> None:
    assert label(0.99, abstained=True) == "abstained"
    assert label(STRONG, abstained=False) == "strong"
    assert label(STRONG - 1e-6, abstained=False) == "weak"
    assert label(0.5, abstained=False, strong=0.4) == "strong"


def test_assess_uses_the_signals_or_else_the_checked_share() -> None:
    assert assess(HIGH, checked_share=0.0, abstained=True) == (0.0, "abstained")
    value, band = assess(HIGH, checked_share=0.0, abstained=False)
    assert value == pytest.approx(calibrated(HIGH), abs=1e-4) and band == "strong"
    # a generative answer has no signals: the share of its sentences whose citations checked out
    assert assess({}, checked_share=1.0, abstained=False) == (1.0, "strong")
    assert assess({}, checked_share=0.5, abstained=False) == (0.5, "weak")


def test_the_fit_recovers_a_monotone_model_and_drops_a_signal_that_fits_negatively() -> None:
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 1, size=(2000, 2))
    y = (rng.uniform(size=2000) < 1 / (1 + np.exp(-(6 * x[:, 0] - 3)))).astype(float)
    mirrored = np.hstack([x, 1 - x[:, :1]])  # the same evidence upside down: it would fit a negative weight
    beta = fit(mirrored, y)
    assert beta[1] > 3 and beta[3] == 0.0
    assert predict(beta, np.array([[0.9, 0.5, 0.1]]))[0] > predict(beta, np.array([[0.1, 0.5, 0.9]]))[0]


def test_the_threshold_is_the_lowest_whose_strong_answers_are_right_often_enough() -> None:
    # per set: wrong at 0.55 and 0.62, right at 0.75 and 0.9; the first grid step above 0.62 leaves only right ones
    supports = [0.55, 0.62, 0.75, 0.9]
    records = [{"set": name, "correct": s > 0.7} for name in ("seed", "xquad") for s in supports]
    assert choose_threshold(records, np.array(supports * 2)) == pytest.approx(0.63)
