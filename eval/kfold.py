"""How the hybrid retrieval weights do on questions they were not chosen on: k-fold cross-validation on XQuAD-en.

The weights in qa/retrieval.py were chosen on the shipped sets, so the README's hit@1 is in-sample. Here the
questions are split by article into K folds; for each fold the weights are chosen from a grid on the other folds
(highest hit@1) and measured on it. Only the reranking changes with the weights (the candidates are the union of
the dense and keyword searches), so each question's candidates are retrieved once and rescored for every setting.

Run: .venv/bin/python -m eval.kfold [--folds 5]   (indexes XQuAD-en into a temporary directory; about a minute)
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

import numpy as np

from eval.metrics import is_relevant
from qa import retrieval
from qa.settings import Settings
from qa.wiring import open_service

REPO = Path(__file__).resolve().parents[1]
GRID = {
    "w_cosine": [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    "w_sentence_dense": [0.0, 0.2, 0.4, 0.6, 0.8],
    "w_sentence_terms": [0.0, 0.2, 0.4, 0.6, 0.8],
}


def candidates(folder: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Per question: its article, the features of its candidates (cosine, normalised BM25, best sentence's cosine
    and term share) and which candidates hold its evidence."""
    items = [json.loads(line) for line in (REPO / "eval/xquad_en/qa.jsonl").open(encoding="utf-8")]
    service = open_service(Settings(data_dir=folder))
    service.index_paths([REPO / "eval/xquad_en/corpus.jsonl"])
    rows = []
    for item in items:
        hits = service.engine.retrieve(item["question"], depth=1000).hits
        best_keyword = max((h.keyword for h in hits), default=0.0) or 1.0
        features = np.array(
            [[h.cosine, h.keyword / best_keyword, h.evidence.best_dense, h.evidence.best_lexical] for h in hits]
        ).reshape(-1, 4)
        relevant = np.array(
            [is_relevant(h.chunk.text, h.chunk.article_id, item["evidence"], item["article_ids"]) for h in hits]
        )
        rows.append((item["article_ids"][0], features, relevant))
    return rows


def hit_at_1(rows: list[tuple[str, np.ndarray, np.ndarray]], weights: tuple[float, ...]) -> float:
    """Share of questions whose best-scoring candidate holds the evidence, under these weights."""
    w_cosine, w_dense, w_terms = weights
    vector = np.array([w_cosine, 1 - w_cosine, w_dense, w_terms])
    hits = [bool(relevant[int(np.argmax(features @ vector))]) for _, features, relevant in rows if len(relevant)]
    return sum(hits) / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rows = candidates(Path(folder))
    articles = sorted({article for article, _, _ in rows})
    fold_of = {article: n % args.folds for n, article in enumerate(articles)}
    settings = list(itertools.product(*GRID.values()))
    shipped = (retrieval.W_COSINE, retrieval.W_BEST_SENTENCE_DENSE, retrieval.W_BEST_SENTENCE_TERMS)
    held_out, chosen = [], []
    for fold in range(args.folds):
        train = [r for r in rows if fold_of[r[0]] != fold]
        test = [r for r in rows if fold_of[r[0]] == fold]
        best = max(settings, key=lambda weights: hit_at_1(train, weights))
        chosen.append(best)
        held_out.append((hit_at_1(test, best), len(test)))
    pooled = sum(score * n for score, n in held_out) / sum(n for _, n in held_out)
    print(
        json.dumps(
            {
                "questions": len(rows),
                "folds": args.folds,
                "in_sample_hit_at_1_shipped_weights": round(hit_at_1(rows, shipped), 4),
                "held_out_hit_at_1": round(pooled, 4),
                "held_out_by_fold": [round(score, 4) for score, _ in held_out],
                "weights_chosen_by_fold": chosen,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
