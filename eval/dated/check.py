"""Check the dated evaluation set: articles, questions, dates and the balance of question kinds.

    python eval/dated/check.py            # exit 0 when everything holds, 1 otherwise

Standard library plus PyYAML (python-frontmatter is used when installed, with the same result).
"""

from __future__ import annotations

import datetime as dt
import difflib
import itertools
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ARTICLES = HERE / "articles"
QUESTIONS = HERE / "questions.jsonl"

YEAR = 2025  # datelines carry no year; every story of the set happens in 2025
KIND_TARGETS = {"relative": 12, "current": 14, "conflict": 10, "absolute": 6, "unanswerable": 6}
KIND_TOLERANCE = 2  # "about": each kind within +-2 of its target
MIN_QUESTIONS = 48
MIN_PAIRS = 8
BASE_FIELDS = {"id", "question", "answers", "evidence", "article_ids", "unanswerable"}  # eval/sets.py EvalItem
NEW_FIELDS = {"as_of", "kind"}
FRONT_FIELDS = {"title", "published", "source", "url"}
MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "march": 3,
    "apr": 4,
    "april": 4,
    "may": 5,
    "jun": 6,
    "june": 6,
    "jul": 7,
    "july": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
DATELINE = re.compile(r"^([A-Z][A-Z .'-]+), ([A-Z][a-z]+)\.? (\d{1,2}) \(([^)]+)\) - ")
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?([+-]\d{2}:\d{2}|Z)$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

problems: list[str] = []


def problem(message: str) -> None:
    problems.append(message)


def split_front_matter(content: str) -> tuple[dict[str, Any], str]:
    """(front matter, text) as the indexer reads a markdown file (python-frontmatter when available)."""
    try:
        import frontmatter

        post = frontmatter.loads(content)
        return dict(post.metadata), post.content.strip()
    except ImportError:
        pass
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n(.*)$", content, re.S)
    if not match:
        raise ValueError("no YAML front matter between --- lines")
    meta = yaml.safe_load(match.group(1)) or {}
    if not isinstance(meta, dict):
        raise ValueError("the front matter is not a mapping")
    return meta, match.group(2).strip()


def parse_when(value: str, what: str) -> dt.datetime | None:
    """An aware datetime; a bare date counts as the end of that day (UTC)."""
    if ISO_WITH_OFFSET.match(value):
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if ISO_DATE.match(value):
        day = dt.date.fromisoformat(value)
        return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC)
    problem(f"{what}: '{value}' is not ISO 8601 with an offset (or a bare date)")
    return None


def dateline(text: str) -> tuple[dt.date, str] | None:
    match = DATELINE.match(text)
    if not match:
        return None
    month = MONTHS.get(match.group(2).lower())
    if month is None:
        return None
    return dt.date(YEAR, month, int(match.group(3))), match.group(4)


def load_articles() -> dict[str, dict[str, Any]]:
    articles: dict[str, dict[str, Any]] = {}
    for path in sorted(ARTICLES.rglob("*.md")):
        article_id = path.relative_to(ARTICLES).with_suffix("").as_posix()
        try:
            meta, text = split_front_matter(path.read_text(encoding="utf-8"))
        except (ValueError, yaml.YAMLError) as exc:
            problem(f"{article_id}: does not parse ({exc})")
            continue
        unknown = set(meta) - FRONT_FIELDS
        if unknown:
            problem(f"{article_id}: unknown front matter field(s) {sorted(unknown)}")
        for name in ("title", "source", "url"):
            if not isinstance(meta.get(name), str) or not meta[name].strip():
                problem(f"{article_id}: front matter lacks '{name}'")
        if isinstance(meta.get("url"), str) and not meta["url"].startswith("https://example.com/"):
            problem(f"{article_id}: url is not a fictional https://example.com/ address")
        words = len(text.split())
        if not 80 <= words <= 250:
            problem(f"{article_id}: {words} words, outside 80-250")
        line = dateline(text)
        if line and line[1] != meta.get("source"):
            problem(f"{article_id}: dateline credits '{line[1]}' but the source is '{meta.get('source')}'")
        published = meta.get("published")
        when = None
        if published is not None:
            if not isinstance(published, str):
                problem(f"{article_id}: published must be a quoted string, got {type(published).__name__}")
            else:
                when = parse_when(published, f"{article_id} published")
                if when and when.year != YEAR:
                    problem(f"{article_id}: published outside {YEAR}")
                if when and line and when.date() != line[0]:
                    problem(f"{article_id}: dateline {line[0]} disagrees with published {when.date()}")
        elif line is None:
            problem(f"{article_id}: neither 'published' nor a dateline")
        articles[article_id] = {
            "text": text,
            "meta": meta,
            "published": when,
            "dateline": line[0] if line else None,
            "words": words,
        }
    if not articles:
        problem(f"no articles under {ARTICLES}")
    return articles


def contains_words(text: str, sought: str) -> bool:
    """Verbatim, and on word boundaries (so '24' is not found inside '2024')."""
    return re.search(r"(?<!\w)" + re.escape(sought) + r"(?!\w)", text) is not None


def published_by(article: dict[str, Any], as_of: dt.datetime) -> bool:
    """Was the article out at as_of? A dateline-only article counts from the end of its dateline day."""
    if article["published"] is not None:
        return bool(article["published"] <= as_of)
    return bool(article["dateline"] < as_of.date())  # the day is in the article's zone: only a later day is safe


def check_questions(articles: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, line in enumerate(QUESTIONS.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"questions.jsonl line {number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            problem(f"{where}: not JSON ({exc.msg})")
            continue
        unknown = set(item) - BASE_FIELDS - NEW_FIELDS
        if unknown:
            problem(f"{where}: unknown field(s) {sorted(unknown)}")
        qid = item.get("id", "")
        where = f"{qid or where}"
        if not re.fullmatch(r"d\d{2,}", qid):
            problem(f"{where}: id should be d01, d02, ...")
        if qid in seen:
            problem(f"{where}: duplicate id")
        seen.add(qid)
        if not str(item.get("question", "")).strip():
            problem(f"{where}: no question")
        kind = item.get("kind")
        if kind not in KIND_TARGETS:
            problem(f"{where}: kind '{kind}' is not one of {sorted(KIND_TARGETS)}")
        as_of = parse_when(str(item.get("as_of", "")), f"{where} as_of") if "as_of" in item else None
        if as_of is None:
            problem(f"{where}: no valid as_of")
        answers = item.get("answers", [])
        unanswerable = item.get("unanswerable", False) is True
        if (kind == "unanswerable") != unanswerable:
            problem(f"{where}: kind '{kind}' but unanswerable={unanswerable}")
        if unanswerable:
            if answers or item.get("evidence") or item.get("article_ids"):
                problem(f"{where}: an unanswerable item has no answers, evidence or article_ids")
        else:
            if not answers or not all(isinstance(a, str) and a.strip() for a in answers):
                problem(f"{where}: needs at least one non-empty answer")
            evidence = item.get("evidence")
            ids = item.get("article_ids") or []
            if not evidence or not ids:
                problem(f"{where}: needs both evidence and article_ids")
            for article_id in ids:
                article = articles.get(article_id)
                if article is None:
                    problem(f"{where}: article '{article_id}' does not exist")
                    continue
                for answer in answers:
                    if not contains_words(article["text"], answer):
                        problem(f"{where}: answer '{answer}' not verbatim in {article_id}")
                if evidence and evidence not in article["text"]:
                    problem(f"{where}: evidence not verbatim in {article_id}")
                if as_of is not None and not published_by(article, as_of):
                    problem(f"{where}: {article_id} is not published by as_of {item['as_of']}")
        item["_as_of"] = as_of
        items.append(item)
    return items


def main() -> int:
    articles = load_articles()
    items = check_questions(articles)

    kinds = Counter(item.get("kind") for item in items)
    if len(items) < MIN_QUESTIONS:
        problem(f"{len(items)} questions, fewer than {MIN_QUESTIONS}")
    for kind, target in KIND_TARGETS.items():
        if abs(kinds[kind] - target) > KIND_TOLERANCE:
            problem(f"kind '{kind}': {kinds[kind]} questions, target {target} +-{KIND_TOLERANCE}")

    # The same question text at different as_of with different right answers.
    by_text: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        by_text[item["question"]].append(item)
    pairs = {
        text: group
        for text, group in by_text.items()
        if len(group) > 1 and len({tuple(i.get("answers", [])) for i in group}) > 1
    }
    if len(pairs) < MIN_PAIRS:
        problem(f"{len(pairs)} question texts asked at several as_of with different answers, fewer than {MIN_PAIRS}")
    for text, group in by_text.items():
        stamps = [i["_as_of"] for i in group if i["_as_of"]]
        if len(stamps) != len(set(stamps)):
            problem(f"'{text}': asked twice at the same as_of")

    dateline_only = sorted(a for a, v in articles.items() if v["published"] is None)
    with_dateline = sorted(a for a, v in articles.items() if v["dateline"] is not None)
    sources = Counter(v["meta"].get("source") for v in articles.values())
    near_copies = [
        (a, b, round(difflib.SequenceMatcher(None, articles[a]["text"], articles[b]["text"]).ratio(), 3))
        for a, b in itertools.combinations(sorted(articles), 2)
        if abs(articles[a]["words"] - articles[b]["words"]) < 15
    ]
    near_copies = [c for c in near_copies if c[2] >= 0.9]

    print(
        f"articles: {len(articles)} ({min(v['words'] for v in articles.values())}-"
        f"{max(v['words'] for v in articles.values())} words)"
    )
    print("sources: " + ", ".join(f"{s} {n}" for s, n in sorted(sources.items())))
    print(f"with a dateline: {len(with_dateline)}: {', '.join(with_dateline)}")
    print(f"dateline only (no published): {len(dateline_only)}: {', '.join(dateline_only)}")
    print("near copies (syndicated): " + ", ".join(f"{a} ~ {b} ({r})" for a, b, r in near_copies))
    print(f"questions: {len(items)}: " + ", ".join(f"{k} {kinds[k]}" for k in KIND_TARGETS))
    print(
        f"same question at several as_of with different answers: {len(pairs)} texts, "
        f"{sum(len(g) for g in pairs.values())} items"
    )
    for text, group in pairs.items():
        print(f"  {text}  " + " | ".join(f"{i['as_of'][:10]}: {i['answers'][0]}" for i in group))
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for message in problems:
            print(f"  - {message}")
        return 1
    print("\nOK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
