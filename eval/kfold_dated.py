"""How the newest-report rule does on dated questions it was not tuned on: 5-fold cross-validation on eval/dated.

The one parameter, qa.recency.RELEVANT_SHARE (how close to the best passage's score an article must come to take
part in "newest first"), is chosen from a grid on four folds (highest accuracy; ties go to the value nearest the
shipped one) and measured on the fifth.

Run: .venv/bin/python -m eval.kfold_dated   (indexes eval/dated into a temporary directory; about a minute)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from eval import metrics
from eval.sets import load_sets
from qa import recency
from qa.settings import Settings
from qa.wiring import open_service

REPO = Path(__file__).resolve().parents[1]
GRID = [0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
FOLDS = 5


def main() -> None:
    items = load_sets([REPO / "eval/dated/questions.jsonl"])
    shipped = recency.RELEVANT_SHARE
    with tempfile.TemporaryDirectory(prefix="qa-kfold-", ignore_cleanup_errors=True) as tmp:
        service = open_service(Settings(data_dir=Path(tmp)))
        service.index_paths([REPO / "eval/dated/articles"])
        correct: dict[float, dict[str, bool]] = {}
        for share in GRID:
            recency.RELEVANT_SHARE = share
            correct[share] = {}
            for item in items:
                answer = service.ask(item.question, within=item.within(), as_of=item.as_of)
                correct[share][item.id] = metrics.answer_correct(
                    answer.answer, answer.abstained, item.answers, item.unanswerable
                )
            print(f"share {share}: in-sample accuracy {sum(correct[share].values()) / len(items):.3f}")
        service.close()
    ids = [item.id for item in items]
    held_out = 0
    for fold in range(FOLDS):
        test = set(ids[fold::FOLDS])
        train = [i for i in ids if i not in test]
        best = max(GRID, key=lambda s: (sum(correct[s][i] for i in train), -abs(s - shipped)))
        held_out += sum(correct[best][i] for i in test)
        print(f"fold {fold + 1}: chose {best}, {sum(correct[best][i] for i in test)}/{len(test)} on the held-out fold")
    print(f"held-out accuracy: {held_out / len(ids):.3f} ({held_out}/{len(ids)})")


if __name__ == "__main__":
    main()
