"""Fit the short-answer picker's weights (qa/assets/span_weights.json) on half of XQuAD-en and report the other half.

The engine answers every XQuAD-en question as `qa ask` does; each answer's cited sentences give the candidate
spans (qa.span.candidates) and their features. XQuAD's articles are sorted by id and split in two: the even ones
(half A) fit the weights, the odd ones (half B) are never looked at while fitting and report how the picker does
on questions it was not fitted on. A second fold fits on B and reports A, so both halves get a held-out figure.
The fit is a listwise softmax regression (the probability of the spans that match a gold answer exactly, under a
softmax over a question's candidates), with an L2 penalty, by plain gradient descent: deterministic. (A target
weighing candidates by token F1 gained 0.01 held-out F1 but picked longer spans: "three months before the army
withdrew" for "three months".)

The reader model's score (qa/reader.py) is one more feature, with a weight set beforehand, not fitted: 1.0, so
that a span's score is the reader's log-probability plus the linear score (two models' log-scores added, a
product of experts). Fitting that weight on the half a reader learned from would trust the reader too much. The
shipped reader learned from both halves, so the held-out figure with a reader takes one fitted on each half
alone (`eval/fit_reader.py --half A`, `--half B`): `--reader-a` scores half B with the reader and weights of half
A, `--reader-b` half A with those of half B; both give the two-fold figure over all 1,190 questions.

Run: .venv/bin/python -m eval.fit_span [--cache FILE] [--write] [--reader-a PATH --reader-b PATH]
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


def _with_a_reader(
    rows: Sequence[Asked], half: set[str], reader: SpanReader, names: list[str], weights: np.ndarray
) -> tuple[float, float]:
    """The questions of `half` scored with this reader (at its fixed weight) beside these linear weights, both
    fitted on the other half."""
    read_names, questions = featurise(rows, reader)
    by_name = dict(zip(names, weights, strict=True)) | {"reader": READER_WEIGHT}
    return score([q for q in questions if q.asked.article in half], np.array([by_name.get(n, 0.0) for n in read_names]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="keep the engine's answers here (reused when it exists)")
    parser.add_argument("--write", action="store_true", help="write half A's weights to qa/assets/span_weights.json")
    for half in ("a", "b"):
        parser.add_argument(
            f"--reader-{half}",
            type=Path,
            help=f"a reader fitted on half {half.upper()} alone (python -m eval.fit_reader --half {half.upper()} "
            f"--out PATH): the other half is scored with it and the weights fitted on half {half.upper()}",
        )
    args = parser.parse_args()
    rows = collect(args.cache)
    articles = sorted({row.article for row in rows})
    half_a = {a for n, a in enumerate(articles) if n % 2 == 0}
    half_b = set(articles) - half_a
    names, questions = featurise(rows, None)
    a = [q for q in questions if q.asked.article in half_a]
    b = [q for q in questions if q.asked.article not in half_a]
    shipped = np.array([span.WEIGHTS.get(n, 0.0) for n in names])
    weights_a, weights_b = fit(a, len(names)), fit(b, len(names))
    em_b, f1_b = score(b, weights_a)
    em_a, f1_a = score(a, weights_b)
    report: dict[str, object] = {
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
        "weights_A": {n: round(float(w), 4) for n, w in zip(names, weights_a, strict=True)},
    }
    # the shipped reader saw both halves: a held-out figure with a reader needs one fitted on each half alone
    with_readers = {}
    if args.reader_a is not None:
        em, f1 = _with_a_reader(rows, half_b, SpanReader(args.reader_a), names, weights_a)
        with_readers["fitted_on_A_scored_on_B"] = (em, f1, len(b))
    if args.reader_b is not None:
        em, f1 = _with_a_reader(rows, half_a, SpanReader(args.reader_b), names, weights_b)
        with_readers["fitted_on_B_scored_on_A"] = (em, f1, len(a))
    if with_readers:
        figures = {k: {"em": round(em, 4), "f1": round(f1, 4)} for k, (em, f1, _) in with_readers.items()}
        if len(with_readers) == 2:
            figures["two_fold_pooled"] = {
                "em": round(sum(em * n for em, _, n in with_readers.values()) / len(questions), 4),
                "f1": round(sum(f1 * n for _, f1, n in with_readers.values()) / len(questions), 4),
            }
        report["with_the_reader"] = figures
    print(json.dumps(report, indent=2))
    if args.write:
        write_weights(names, weights_a)


if __name__ == "__main__":
    main()
