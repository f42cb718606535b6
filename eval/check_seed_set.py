"""Verify the hand-written seed evaluation set against its article.

Every answer and every evidence string must occur verbatim in the article
(compared after collapsing whitespace and case-folding), every paragraph must be
covered by at least one question, and unanswerable items must carry no answers.

The article is read from ``<repo>/seeds/<article_id>.md`` (or ``.txt``) unless a
path is given on the command line; a leading YAML front matter block is ignored.

Usage:
    .venv/bin/python -m eval.check_seed_set [ARTICLE] [--qa eval/seed_qa.jsonl]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from qa.text import is_heading, paragraph_spans

EVAL_DIR = Path(__file__).resolve().parent
SEEDS_DIR = EVAL_DIR.parent / "seeds"
DEFAULT_QA = EVAL_DIR / "seed_qa.jsonl"

FIRST_LINE = {
    "id": "s01",
    "question": "What did Truss demand?",
    "answers": ["troops withdraw", "respect the sovereignty of Ukraine"],
    "evidence": "the world must see troops withdraw",
    "article_ids": ["000_7fce140085dacc93"],
}
MIN_ITEMS = 34
MIN_UNANSWERABLE = 7
ANSWER_WORDS = (1, 8)
EVIDENCE_WORDS = (4, 15)

FRONT_MATTER = re.compile(r"\A---\r?\n.*?\r?\n---\r?\n", re.DOTALL)
ITEM_ID = re.compile(r"[su]\d{2,}")


def normalise(text: str) -> str:
    """Collapse whitespace and case-fold, the comparison used for every check."""
    return " ".join(text.split()).casefold()


def strip_front_matter(text: str) -> str:
    """Drop a leading ``---`` ... ``---`` YAML block, as added to stored seeds."""
    return FRONT_MATTER.sub("", text, count=1)


def body_paragraphs(text: str) -> list[str]:
    """The paragraphs of the article that are not headings, as the product's chunker sees them (qa.text)."""
    blocks = [text[start:end] for start, end in paragraph_spans(text)]
    return [block for block in blocks if not is_heading(block)]


def load_items(path: Path) -> list[dict[str, Any]]:
    """Parse the JSON Lines file, one object per non-empty line."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def resolve_article(items: list[dict[str, Any]], explicit: Path | None) -> Path:
    """Pick the article file: an explicit path wins, else the repo's seeds directory."""
    if explicit is not None:
        return explicit
    ids = {aid for item in items for aid in item.get("article_ids", [])}
    if len(ids) != 1:
        sys.exit(f"expected exactly one article id in the set, found {sorted(ids)}")
    (article_id,) = ids
    for suffix in (".md", ".txt"):
        candidate = SEEDS_DIR / f"{article_id}{suffix}"
        if candidate.is_file():
            return candidate
    sys.exit(f"{article_id} not found in {SEEDS_DIR}; pass the article path as an argument")


def word_count_ok(text: str, bounds: tuple[int, int]) -> bool:
    """Whether ``text`` has a word count within the inclusive ``bounds``."""
    return bounds[0] <= len(text.split()) <= bounds[1]


def check_item(item: dict[str, Any], article: str, article_id: str) -> list[str]:
    """Return the problems found in one item (empty when it is valid)."""
    errors: list[str] = []
    item_id = item.get("id", "?")
    if not isinstance(item.get("question"), str) or not item["question"].strip():
        errors.append("missing question")
    answers = item.get("answers")
    if not isinstance(answers, list):
        return [*errors, "answers is not a list"]

    if item_id.startswith("u"):
        if answers:
            errors.append("unanswerable item has answers")
        if item.get("unanswerable") is not True:
            errors.append('unanswerable item lacks "unanswerable": true')
        return errors

    if not answers:
        errors.append("no answers")
    for answer in answers:
        if normalise(answer) not in article:
            errors.append(f"answer not in article: {answer!r}")
        if not word_count_ok(answer, ANSWER_WORDS):
            errors.append(f"answer not {ANSWER_WORDS[0]}-{ANSWER_WORDS[1]} words: {answer!r}")
    evidence = item.get("evidence", "")
    if normalise(evidence) not in article:
        errors.append(f"evidence not in article: {evidence!r}")
    if not word_count_ok(evidence, EVIDENCE_WORDS):
        errors.append(f"evidence not {EVIDENCE_WORDS[0]}-{EVIDENCE_WORDS[1]} words: {evidence!r}")
    if item.get("article_ids") != [article_id]:
        errors.append(f"article_ids should be [{article_id!r}]")
    return errors


def check_set(items: list[dict[str, Any]], raw_article: str) -> list[str]:
    """Run all checks over the set and return human-readable error lines."""
    errors: list[str] = []
    article_id = FIRST_LINE["article_ids"][0]
    body = strip_front_matter(raw_article)
    article = normalise(body)

    if not items or items[0] != FIRST_LINE:
        errors.append("first line is not the required Truss example")
    ids = [item.get("id", "") for item in items]
    if len(set(ids)) != len(ids):
        errors.append("duplicate ids")
    unanswerable = [i for i in ids if i.startswith("u")]
    if len(items) < MIN_ITEMS:
        errors.append(f"only {len(items)} items, need {MIN_ITEMS}")
    if len(unanswerable) < MIN_UNANSWERABLE:
        errors.append(f"only {len(unanswerable)} unanswerable items, need {MIN_UNANSWERABLE}")

    for item in items:
        item_id = item.get("id", "?")
        if not ITEM_ID.fullmatch(item_id):
            errors.append(f"{item_id}: id must look like s01 or u01")
        errors.extend(f"{item_id}: {e}" for e in check_item(item, article, article_id))

    evidences = [normalise(item["evidence"]) for item in items if item.get("evidence")]
    for number, paragraph in enumerate(body_paragraphs(body), start=1):
        if not any(ev in normalise(paragraph) for ev in evidences):
            errors.append(f"paragraph {number} has no question: {paragraph[:60]!r}...")
    return errors


def main(argv: list[str] | None = None) -> int:
    """Check the set; print a summary and return a process exit code."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("article", nargs="?", type=Path, help="article file (default: seeds/<id>.md)")
    parser.add_argument("--qa", type=Path, default=DEFAULT_QA, help="seed set (JSON Lines)")
    args = parser.parse_args(argv)

    items = load_items(args.qa)
    article_path = resolve_article(items, args.article)
    raw_article = article_path.read_text(encoding="utf-8")
    errors = check_set(items, raw_article)

    answerable = sum(1 for item in items if not item.get("unanswerable"))
    paragraphs = len(body_paragraphs(strip_front_matter(raw_article)))
    print(f"article: {article_path} ({paragraphs} paragraphs)")
    print(f"items: {len(items)} ({answerable} answerable, {len(items) - answerable} unanswerable)")
    for error in errors:
        print(f"ERROR {error}")
    print("FAIL" if errors else "OK")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
