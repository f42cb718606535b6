"""Articles from .txt, .md (YAML front matter), .html (visible text) and .jsonl files.

An article's id is its path relative to the folder given, without extension (a file given directly: its name
without extension); a jsonl line carries its own id. A file that cannot be read is reported, never fatal.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from qa.domain import Article, LoadFailure
from qa.errors import LoadError
from qa.text import normalise_article_text

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")
_HTML_HIDDEN = "script, style, noscript, template, head, nav, footer, svg"
_HTML_BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "figcaption", "td", "th")


@dataclass(frozen=True)
class LoadedArticle:
    """An article and the folder it came from (so a file that disappears can be removed from the index)."""

    article: Article
    origin: str


def load_paths(paths: Iterable[str | Path]) -> tuple[list[LoadedArticle], list[LoadFailure]]:
    """Every article under these files and folders, and the failures (missing, empty, binary, unsupported)."""
    loaded: list[LoadedArticle] = []
    failures: list[LoadFailure] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            failures.append(LoadFailure(path=str(path), reason="no such file or folder"))
            continue
        if path.is_dir():
            root, files = path, sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p, path))
        else:
            root, files = path.parent, [path]
        for file in files:
            try:
                loaded.extend(LoadedArticle(a, str(root.resolve())) for a in load_file(file, root))
            except LoadError as exc:
                failures.append(LoadFailure(path=str(file), reason=str(exc)))
    return loaded, failures


def load_file(path: Path, root: Path) -> list[Article]:
    """The articles in one file; raises LoadError with the reason when there are none to take."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise LoadError(f"unsupported file type '{suffix or path.name}' (supported: {', '.join(SUPPORTED)})")
    raw = path.read_bytes()
    if not raw.strip():
        raise LoadError("the file is empty")
    if b"\x00" in raw[:8192]:
        raise LoadError("the file is binary, not text")
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(f"the file is not UTF-8 text (byte {exc.start}); convert it to UTF-8") from exc
    article_id = path.relative_to(root).with_suffix("").as_posix()
    if suffix == ".jsonl":
        return list(_jsonl_articles(content, path))
    if suffix in (".md", ".markdown"):
        fields, text = _front_matter(content)
    elif suffix in (".html", ".htm"):
        fields, text = _html(content)
    else:
        fields, text = {}, content
    return [make_article({**fields, "id": article_id}, text, default_title=path.stem)]


def _jsonl_articles(content: str, path: Path) -> Iterator[Article]:
    errors = []
    found = 0
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            if not str(record.get("id", "")).strip():
                raise ValueError("no 'id'")
            yield make_article(record, str(record.get("text", "")), default_title=str(record["id"]))
            found += 1
        except (ValueError, LoadError) as exc:
            errors.append(f"line {number}: {exc}")
    if errors:
        raise LoadError(f"{len(errors)} bad line(s) in {path.name} ({found} loaded): " + "; ".join(errors[:5]))


def make_article(fields: dict[str, Any], text: str, default_title: str) -> Article:
    """An Article from loose fields (front matter, a jsonl record, an API body), its text normalised."""
    text = normalise_article_text(text)
    if not text:
        raise LoadError("the article has no text")
    published = fields.get("published") or fields.get("date")
    if isinstance(published, dt.date | dt.datetime):
        published = published.isoformat()
    try:
        return Article(
            id=str(fields["id"]).strip(),
            title=str(fields.get("title") or default_title).strip(),
            text=text,
            published=str(published) if published else None,
            source=str(fields["source"]) if fields.get("source") else None,
            url=str(fields["url"]) if fields.get("url") else None,
        )
    except ValidationError as exc:
        raise LoadError(f"bad article fields: {exc.errors()[0]['msg']}") from exc


def _front_matter(content: str) -> tuple[dict[str, Any], str]:
    import frontmatter
    import yaml

    try:
        post = frontmatter.loads(content)
    except yaml.YAMLError as exc:
        raise LoadError(f"the YAML front matter does not parse: {str(exc).splitlines()[0]}") from exc
    return dict(post.metadata), post.content


def _html(content: str) -> tuple[dict[str, Any], str]:
    """Visible text, one block a paragraph; the <title> as the title."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(content)
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node else None
    h1 = tree.css_first("h1")
    for node in tree.css(_HTML_HIDDEN):
        node.decompose()
    body = tree.body or tree.root
    selector = ",".join(_HTML_BLOCKS)
    # Only innermost blocks: an <li> holding a <p> would otherwise give its text twice.
    nodes = [n for n in body.css(selector) if len(n.css(selector)) == 1] if body else []  # css() includes n
    blocks = [n.text(separator=" ", strip=True) for n in nodes]
    if not any(blocks) and body is not None:
        blocks = [body.text(separator="\n", strip=True)]
    meta = {"title": title or (h1.text(strip=True) if h1 else None)}
    for name in ("published", "source", "url"):
        tag = tree.css_first(f'meta[name="{name}"]')
        if tag is not None and tag.attributes.get("content"):
            meta[name] = tag.attributes["content"]
    return meta, "\n\n".join(" ".join(b.split()) for b in blocks if b.strip())


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)
