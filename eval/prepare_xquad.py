"""Derive a retrieval corpus and a QA set from XQuAD-en (SQuAD v1.1 format).

Writes two JSON Lines files into the output directory:

* ``corpus.jsonl``: one record per Wikipedia article, its paragraphs joined by a
  blank line, each paragraph verbatim.
* ``qa.jsonl``: one record per question with the gold answers and, as evidence,
  the sentence(s) of the paragraph that contain the gold answer span.

Sentences are split by the product's own splitter (qa.text), so that evidence and passages agree on what a
sentence is. Usage:
    .venv/bin/python -m eval.prepare_xquad [--source DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from qa.text import sentence_spans, slug

DEFAULT_DIR = Path(__file__).resolve().parent / "xquad_en"
SOURCE_FILE = "xquad.en.json"
SOURCE_NOTE = "Wikipedia via XQuAD (CC BY-SA 4.0)"
PARAGRAPH_SEPARATOR = "\n\n"


def evidence_for(context: str, answer_spans: Iterable[tuple[int, int]]) -> str:
    """Return the union of the sentences of ``context`` overlapping any answer span."""
    sentences = sentence_spans(context)
    hits = [
        (s_start, s_end)
        for s_start, s_end in sentences
        for a_start, a_end in answer_spans
        if s_start < a_end and a_start < s_end
    ]
    return context[min(s for s, _ in hits) : max(e for _, e in hits)]


def unique(items: Iterable[str]) -> list[str]:
    """Deduplicate while keeping first-seen order."""
    return list(dict.fromkeys(items))


def build(data: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Turn SQuAD ``data`` into corpus and QA records; also return the paragraph count."""
    corpus: list[dict[str, Any]] = []
    qa: list[dict[str, Any]] = []
    n_paragraphs = 0
    for article in data:
        article_id = f"xquad-{slug(article['title'])}"
        contexts = [paragraph["context"] for paragraph in article["paragraphs"]]
        n_paragraphs += len(contexts)
        corpus.append(
            {
                "id": article_id,
                "title": article["title"].replace("_", " "),
                "text": PARAGRAPH_SEPARATOR.join(contexts),
                "source": SOURCE_NOTE,
            }
        )
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for question in paragraph["qas"]:
                spans = []
                for answer in question["answers"]:
                    start, end = answer["answer_start"], answer["answer_start"] + len(answer["text"])
                    assert context[start:end] == answer["text"], f"{question['id']}: bad answer_start"
                    spans.append((start, end))
                evidence = evidence_for(context, spans)
                assert evidence in context, f"{question['id']}: evidence not verbatim"
                for answer in question["answers"]:
                    assert answer["text"] in evidence, f"{question['id']}: evidence lacks answer"
                qa.append(
                    {
                        "id": question["id"],
                        "question": question["question"],
                        "answers": unique(answer["text"] for answer in question["answers"]),
                        "evidence": evidence,
                        "article_ids": [article_id],
                    }
                )
    ids = [record["id"] for record in corpus]
    assert len(set(ids)) == len(ids), "article slugs collide"
    return corpus, qa, n_paragraphs


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Write records as UTF-8 JSON Lines (non-ASCII kept readable)."""
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, build both files and print counts."""
    parser = argparse.ArgumentParser(description="Derive corpus.jsonl and qa.jsonl from XQuAD-en.")
    parser.add_argument("--source", type=Path, default=DEFAULT_DIR, help=f"dir with {SOURCE_FILE}")
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR, help="output directory")
    args = parser.parse_args(argv)

    with (args.source / SOURCE_FILE).open(encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    corpus, qa, n_paragraphs = build(data)

    args.out.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out / "corpus.jsonl", corpus)
    write_jsonl(args.out / "qa.jsonl", qa)
    multi = sum(1 for record in qa if len(sentence_spans(record["evidence"])) > 1)
    print(f"articles: {len(corpus)}  paragraphs: {n_paragraphs}  questions: {len(qa)}")
    print(f"evidence spanning several sentences: {multi}")
    print(f"wrote {args.out / 'corpus.jsonl'} and {args.out / 'qa.jsonl'}")


if __name__ == "__main__":
    main()
