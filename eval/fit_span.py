"""Fit the short-answer picker's weights (qa/assets/span_weights.json) on half of XQuAD-en and report the other half.

The engine answers every XQuAD-en question as `qa ask` does; each answer's cited sentences give the candidate
spans (qa.span.candidates) and their features. XQuAD's articles are sorted by id and split in two: the even ones
(half A) fit the weights, the odd ones (half B) are never looked at while fitting and report how the picker does
on questions it was not fitted on. A second fold fits on B and reports A, so both halves get a held-out figure.
The fit is a listwise softmax regression (the probability of the spans that match a gold answer exactly, under a
softmax over a question's candidates), with an L2 penalty, by plain gradient descent: deterministic. (A target
weighing candidates by token F1 gained 0.01 held-out F1 but picked longer spans: "three months before the army
withdrew" for "three months".)

The reader model's score (qa/reader.py, fitted on half A by eval/fit_reader.py) is one more feature, with a weight
set beforehand, not fitted: 1.0, so that a span's score is the reader's log-probability plus the linear score
(two models' log-scores added, a product of experts). Fitting it on half A would weigh a reader that has seen
half A's questions; half B shows how the sum does on questions neither model saw. With `--reader-b`, a reader
fitted on half B scores half A, with the weights fitted on half B: the two-fold figure, with a reader, over all
1,190 questions.

Run: .venv/bin/python -m eval.fit_span [--cache FILE] [--write] [--reader-b PATH]
   (indexes XQuAD-en into a temporary directory and asks its 1,190 questions: a few minutes; `--cache` keeps the
   answers for a rerun; `--write` writes half A's weights to qa/assets/span_weights.json)
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.metrics import exact_match, token_f1
from qa import span
from qa.domain import AnswerSentence, Citation
from qa.reader import SpanReader
from qa.settings import Settings
from qa.wiring import open_service

REPO = Path(__file__).resolve().parents[1]
XQUAD = REPO / "eval" / "xquad_en"
READER_WEIGHT = 1.0  # set, not fitted (see above)
L2 = 0.01
STEPS = 3000
RATE = 0.5


@dataclass(frozen=True)
class Asked:
    """One question as the engine answered it."""

    question: str
    answers: list[str]
    article: str
    citations: list[Citation]
    abstained: bool
    sentences: list[AnswerSentence]  # the answer's own, as the product hands them to the picker


def collect(cache: Path | None) -> list[Asked]:
    """Every answerable XQuAD-en question with the engine's answer (from `cache` when it exists)."""
    if cache is None or not cache.exists():
        items = [json.loads(line) for line in (XQUAD / "qa.jsonl").open(encoding="utf-8") if line.strip()]
        rows = []
        with tempfile.TemporaryDirectory() as folder:
            service = open_service(Settings(data_dir=Path(folder)))
            service.index_paths([XQUAD / "corpus.jsonl"])
            for item in items:
                answer = service.ask(item["question"])
                rows.append({"item": item, "answer": answer.model_dump(mode="json")})
        if cache is not None:
            cache.write_text(json.dumps({"rows": rows}), encoding="utf-8")
    else:
        rows = json.loads(cache.read_text(encoding="utf-8"))["rows"]
    return [
        Asked(
            question=row["item"]["question"],
            answers=row["item"]["answers"],
            article=row["item"]["article_ids"][0],
            citations=[Citation(**c) for c in row["answer"]["citations"]],
            abstained=row["answer"]["abstained"],
            sentences=[AnswerSentence(**s) for s in row["answer"]["sentences"]],
        )
        for row in rows
        if not row["item"].get("unanswerable")
    ]


@dataclass(frozen=True)
class Question:
    """A question's candidates as a feature matrix and each one's token F1 against the gold answers."""

    asked: Asked
    candidates: list[span.Candidate]
    features: np.ndarray
    f1: np.ndarray


def featurise(rows: Sequence[Asked], reader: SpanReader | None) -> tuple[list[str], list[Question]]:
    """The feature names, and each question's candidates and features (in the order of the names); with the
    reader's score as a feature when `reader` is given."""
    found_all = [span.candidates(row.question, row.citations, row.abstained, row.sentences, reader) for row in rows]
    names = sorted({name for found in found_all for c in found for name in c.features})
    questions = []
    for row, found in zip(rows, found_all, strict=True):
        features = np.array([[c.features.get(n, 0.0) for n in names] for c in found]).reshape(-1, len(names))
        f1 = np.array([token_f1(c.text, row.answers) for c in found])
        questions.append(Question(row, found, features, f1))
    return names, questions


def fit(questions: Sequence[Question], width: int) -> np.ndarray:
    """Weights that maximise the softmax probability of the exactly matching spans (questions with one)."""
    usable = [q for q in questions if len(q.f1) and q.f1.max() >= 1]
    weights = np.zeros(width)
    for _ in range(STEPS):
        gradient = L2 * weights
        for q in usable:
            scores = q.features @ weights
            p = np.exp(scores - scores.max())
            p /= p.sum()
            target = np.where(q.f1 >= 1, p, 0.0)  # F1 is 1 exactly when the span matches a gold answer
            target /= target.sum()
            gradient += q.features.T @ (p - target) / len(usable)
        weights -= RATE * gradient
    return weights


def score(questions: Sequence[Question], weights: np.ndarray) -> tuple[float, float]:
    """Exact match and token F1 of the best-scoring span per question (no span scores 0), averaged."""
    em = f1 = 0.0
    for q in questions:
        text = q.candidates[int(np.argmax(q.features @ weights))].text if q.candidates else None
        em += exact_match(text, q.asked.answers)
        f1 += token_f1(text, q.asked.answers)
    return em / len(questions), f1 / len(questions)


def write_weights(names: list[str], weights: np.ndarray) -> None:
    """Write these weights, and the reader's, to qa/assets/span_weights.json (features weighing nothing are left
    out)."""
    fitted = {n: round(float(w), 4) for n, w in zip(names, weights, strict=True) if round(float(w), 4) != 0.0}
    fitted = dict(sorted({**fitted, "reader": READER_WEIGHT}.items()))
    (REPO / "qa" / "assets" / "span_weights.json").write_text(json.dumps(fitted, indent=1) + "\n", encoding="utf-8")


def _scored_on_a_by_half_b(
    rows: Sequence[Asked], half_a: set[str], reader_b: SpanReader, names: list[str], weights_b: np.ndarray
) -> tuple[float, float]:
    """Half A scored as the shipped picker scores half B, the other way round: by the reader fitted on half B, at
    the same fixed weight, and the linear weights fitted on half B."""
    read_names, questions = featurise(rows, reader_b)
    by_name = dict(zip(names, weights_b, strict=True)) | {"reader": READER_WEIGHT}
    weights = np.array([by_name.get(n, 0.0) for n in read_names])
    return score([q for q in questions if q.asked.article in half_a], weights)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="keep the engine's answers here (reused when it exists)")
    parser.add_argument("--write", action="store_true", help="write half A's weights to qa/assets/span_weights.json")
    parser.add_argument(
        "--reader-b",
        type=Path,
        help="a reader fitted on half B (python -m eval.fit_reader --half B --out PATH): adds the two-fold figure "
        "with a reader, half A scored by the reader and the weights fitted on half B",
    )
    args = parser.parse_args()
    rows = collect(args.cache)
    articles = sorted({row.article for row in rows})
    half_a = {a for n, a in enumerate(articles) if n % 2 == 0}
    names, questions = featurise(rows, None)
    a = [q for q in questions if q.asked.article in half_a]
    b = [q for q in questions if q.asked.article not in half_a]
    shipped = np.array([span.WEIGHTS.get(n, 0.0) for n in names])
    with_reader, read_questions = featurise(rows, span.READER)
    read_b = [q for q in read_questions if q.asked.article not in half_a]
    shipped_with_reader = np.array([span.WEIGHTS.get(n, 0.0) for n in with_reader])
    weights_a, weights_b = fit(a, len(names)), fit(b, len(names))
    em_b, f1_b = score(b, weights_a)
    em_a, f1_a = score(a, weights_b)
    report = {
        "questions": {"A": len(a), "B": len(b)},
        "fitted_on_A_scored_on_B": {"em": round(em_b, 4), "f1": round(f1_b, 4)},
        "fitted_on_B_scored_on_A": {"em": round(em_a, 4), "f1": round(f1_a, 4)},
        "two_fold_pooled": {
            "em": round((em_b * len(b) + em_a * len(a)) / len(questions), 4),
            "f1": round((f1_b * len(b) + f1_a * len(a)) / len(questions), 4),
        },
        "in_sample_A": dict(zip(("em", "f1"), (round(x, 4) for x in score(a, weights_a)), strict=True)),
        "shipped_weights_on_B_without_the_reader": dict(
            zip(("em", "f1"), (round(x, 4) for x in score(b, shipped)), strict=True)
        ),
        "shipped_on_B": dict(zip(("em", "f1"), (round(x, 4) for x in score(read_b, shipped_with_reader)), strict=True)),
        "weights_A": {n: round(float(w), 4) for n, w in zip(names, weights_a, strict=True)},
    }
    if args.reader_b is not None:
        em_ra, f1_ra = _scored_on_a_by_half_b(rows, half_a, SpanReader(args.reader_b), names, weights_b)
        em_rb, f1_rb = score(read_b, shipped_with_reader)
        report["with_the_reader_two_fold"] = {
            "fitted_on_A_scored_on_B": {"em": round(em_rb, 4), "f1": round(f1_rb, 4)},
            "fitted_on_B_scored_on_A": {"em": round(em_ra, 4), "f1": round(f1_ra, 4)},
            "pooled": {
                "em": round((em_rb * len(b) + em_ra * len(a)) / len(questions), 4),
                "f1": round((f1_rb * len(b) + f1_ra * len(a)) / len(questions), 4),
            },
        }
    print(json.dumps(report, indent=2))
    if args.write:
        write_weights(names, weights_a)


if __name__ == "__main__":
    main()
