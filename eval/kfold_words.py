"""How answer length trades against accuracy on XQuAD-en, measured on questions the setting was not chosen on.

The extractive answerer's length comes from three settings of qa/extractive.py: SECOND_SENTENCE_SHARE (how close
to the best another sentence must score to join), WORD_BUDGET (the words extra sentences may bring the answer to)
and the readable-openings rule (a leaning sentence quoted with the one before it). Each question is retrieved
once; the answerer then runs on the same passages under every setting of the grid. For each of K folds (grouped by
article) the setting is chosen on the other folds: the most accurate whose median answer has at most MAX_WORDS
words (the shortest, if none has), and measured on the fold.

Run: .venv/bin/python -m eval.kfold_words [--folds 5]   (indexes XQuAD-en into a temporary directory; minutes)
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

from eval import metrics
from eval.sets import load_sets
from qa import extractive
from qa.settings import Settings
from qa.wiring import open_service

REPO = Path(__file__).resolve().parents[1]
SHARES = [0.85, 0.9, 0.95, 1.01]  # 1.01: no second sentence joins
BUDGETS = [30, 45, 60]
OPENINGS = [True, False]
MAX_WORDS = 30  # issue 12: accuracy at least 0.88 at a median of 30 words or fewer

Outcome = tuple[bool, int]  # right, words (abstentions count no words and are left out of the median)


def outcomes() -> tuple[list[str], dict[tuple[float, int, bool], list[Outcome | None]]]:
    """Each question's article, and per setting each question's outcome (None when it abstained)."""
    items = load_sets([REPO / "eval/xquad_en/qa.jsonl"])
    keep_openings = extractive.with_antecedents
    with tempfile.TemporaryDirectory(prefix="qa-kfold-words-", ignore_cleanup_errors=True) as tmp:
        service = open_service(Settings(data_dir=Path(tmp)))
        service.index_paths([REPO / "eval/xquad_en/corpus.jsonl"])
        engine = service.engine
        found = [engine.retrieve(item.question) for item in items]
        results: dict[tuple[float, int, bool], list[Outcome | None]] = {}
        try:
            for share, budget, openings in itertools.product(SHARES, BUDGETS, OPENINGS):
                extractive.SECOND_SENTENCE_SHARE, extractive.WORD_BUDGET = share, budget
                extractive.with_antecedents = keep_openings if openings else _as_chosen
                rows: list[Outcome | None] = []
                for item, f in zip(items, found, strict=True):
                    result = engine.answerer.answer(f.question, f.hits[: f.top_k], f.passages[: f.top_k])
                    right = metrics.answer_correct(result.answer, result.abstained, item.answers, item.unanswerable)
                    rows.append(None if result.abstained else (right, metrics.answer_words(result.answer)))
                results[(share, budget, openings)] = rows
                print(f"share {share} budget {budget} openings {openings}: {figures(rows)}")
        finally:
            extractive.with_antecedents = keep_openings
        service.close()
    return [item.article_ids[0] for item in items], results


def _as_chosen(chosen: list[extractive.ScoredSentence]) -> list[extractive.ScoredSentence]:
    """The readable-openings rule switched off: the chosen sentences as they are."""
    return chosen


def figures(rows: Sequence[Outcome | None]) -> dict[str, float]:
    """Accuracy over all questions (an abstention is wrong: XQuAD-en has no unanswerable one), median words."""
    answered = [row for row in rows if row is not None]
    return {
        "accuracy": round(sum(right for right, _ in answered) / len(rows), 4),
        "median_words": statistics.median(words for _, words in answered) if answered else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    articles, results = outcomes()
    fold_of = {article: n % args.folds for n, article in enumerate(sorted(set(articles)))}
    held_out: list[Outcome | None] = []
    chosen = []
    for fold in range(args.folds):
        train = [i for i, a in enumerate(articles) if fold_of[a] != fold]
        test = [i for i, a in enumerate(articles) if fold_of[a] == fold]
        scored = {s: figures([rows[i] for i in train]) for s, rows in results.items()}
        short = [s for s, f in scored.items() if f["median_words"] <= MAX_WORDS]
        best = (
            max(short, key=lambda s: scored[s]["accuracy"])
            if short
            else min(scored, key=lambda s: scored[s]["median_words"])
        )
        chosen.append(best)
        held_out += [results[best][i] for i in test]
    print(json.dumps({"held_out": figures(held_out), "chosen_by_fold": chosen}, indent=2))


if __name__ == "__main__":
    main()
