"""Articles from .txt, .md (YAML front matter), .html (visible text) and .jsonl files.

An article's id is its path relative to the folder given, without extension (a file given directly: its name
without extension); a jsonl line carries its own id. A file that cannot be read is reported, never fatal.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ValidationError

from indexer.dates import DateError, dateline_date, html_date, iso, parse_date
from qa.domain import Article, LoadFailure
from qa.errors import LoadError
from qa.text import normalise_article_text

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")
_HTML_HIDDEN = "script, style, noscript, template, head, nav, footer, svg"
_HTML_BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "figcaption", "td", "th")
log = logging.getLogger("indexer")  # warnings about articles that are indexed all the same (a date not read)


@dataclass(frozen=True)
class LoadedArticle:
    """An article and the folder it came from (so a file that disappears can be removed from the index)."""

    article: Article
    origin: str
    where: str = ""  # the file or address it was read from, for a message about it (a repeated id)


def load_paths(paths: Iterable[str | Path]) -> tuple[list[LoadedArticle], list[LoadFailure]]:
    """Every article under these files and folders, and the failures (missing, empty, binary, unsupported)."""
    loaded: list[LoadedArticle] = []
    failures: list[LoadFailure] = []
    for item in iter_articles(paths):
        (loaded if isinstance(item, LoadedArticle) else failures).append(item)  # type: ignore[arg-type]
    return loaded, failures


def iter_articles(paths: Iterable[str | Path]) -> Iterator[LoadedArticle | LoadFailure]:
    """The articles under these files and folders, one at a time (a JSON Lines file is read line by line, so
    memory does not grow with it), and a failure for each file or line that cannot be taken."""
    for path, root in _files(paths):
        if root is None:
            yield LoadFailure(path=str(path), reason="no such file or folder")
            continue
        origin = str(root.resolve())
        try:
            if path.suffix.lower() == ".jsonl":
                yield from _jsonl_articles(path, origin)
            else:
                yield LoadedArticle(load_file(path, root)[0], origin, str(path))
        except LoadError as exc:
            yield LoadFailure(path=str(path), reason=str(exc))


def count_articles(paths: Iterable[str | Path]) -> int:
    """How many articles `iter_articles` will offer at most (non-blank lines of JSON Lines files, other files
    one each): the total of a progress bar, counted without parsing."""
    total = 0
    for path, root in _files(paths):
        if root is None:
            continue
        if path.suffix.lower() != ".jsonl":
            total += 1
            continue
        with contextlib.suppress(OSError), path.open("rb") as handle:
            total += sum(1 for line in handle if line.strip())
    return total


def _files(paths: Iterable[str | Path]) -> Iterator[tuple[Path, Path | None]]:
    """(file, the folder its id is relative to), in a stable order; (path, None) for a path that is missing."""
    given: set[Path] = set()  # a file named twice (`qa index a.txt a.txt`, or a folder and a file in it) is read once

    def first_time(file: Path) -> bool:
        resolved = file.resolve()
        if resolved in given:
            return False
        given.add(resolved)
        return True

    for raw in paths:
        path = Path(raw)
        if not path.exists():
            yield path, None
        elif path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p, path)):
                if first_time(file):
                    yield file, path
        elif first_time(path):
            yield path, path.parent


def load_file(path: Path, root: Path) -> list[Article]:
    """The article in one .txt, .md or .html file; raises LoadError with the reason when there is none to take."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise LoadError(f"unsupported file type '{suffix or path.name}' (supported: {', '.join(SUPPORTED)})")
    content = _text(path.read_bytes())
    article_id = path.relative_to(root).with_suffix("").as_posix()
    if suffix == ".jsonl":
        return list(_jsonl_lines(content.splitlines(), path))
    if suffix in (".md", ".markdown"):
        fields, text = _front_matter(content)
        if not fields and content.lstrip("\ufeff").startswith("---"):
            # an unclosed block, or one that is not "field: value" lines: its title and date would go unnoticed
            log.warning(
                "%s: the front matter (between two --- lines) gave no fields; indexed without them (write "
                "'title: ...' and 'published: ...' lines, and close the block with ---)",
                path,
            )
    elif suffix in (".html", ".htm"):
        fields, text = _html(content)
    else:
        fields, text = {}, content
    return [make_article({**fields, "id": article_id}, text, default_title=path.stem)]


def _text(raw: bytes) -> str:
    if not raw.strip():
        raise LoadError("the file is empty")
    if b"\x00" in raw[:8192]:
        raise LoadError("the file is binary, not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(f"the file is not UTF-8 text (byte {exc.start}); convert it to UTF-8") from exc


def _jsonl_articles(path: Path, origin: str) -> Iterator[LoadedArticle | LoadFailure]:
    """A JSON Lines file line by line: its articles, then one failure naming its bad lines (if any)."""
    found, errors = 0, list[str]()
    with path.open("rb") as handle:
        if b"\x00" in handle.read(8192):
            raise LoadError("the file is binary, not text")
        handle.seek(0)
        for article in _jsonl_lines(_decoded(handle), path, errors):
            found += 1
            yield LoadedArticle(article, origin, str(path))
    if not found and not errors:
        raise LoadError("the file is empty")
    if errors:
        reason = f"{len(errors)} bad line(s) skipped: " + "; ".join(errors[:5])
        yield LoadFailure(path=str(path), reason=reason, loaded=found)


def _decoded(lines: Iterable[bytes]) -> Iterator[str]:
    """UTF-8 lines (a byte-order mark on the first is dropped); a line that is not UTF-8 becomes one that fails."""
    for number, raw in enumerate(lines):
        try:
            yield raw.decode("utf-8-sig" if number == 0 else "utf-8")
        except UnicodeDecodeError as exc:
            yield f"\x00not UTF-8 text (byte {exc.start}); convert the file to UTF-8"


def _jsonl_lines(lines: Iterable[str], path: Path, errors: list[str] | None = None) -> Iterator[Article]:
    """The articles of JSON Lines; bad lines are collected in `errors` (raised as one LoadError without it)."""
    problems: list[str] = [] if errors is None else errors
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            if line.startswith("\x00"):
                raise ValueError(line[1:])
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            if not str(record.get("id", "")).strip():
                raise ValueError("no 'id'")
            if not isinstance(record.get("text", ""), str):  # 12345 would be indexed as the text "12345"
                raise ValueError("'text' must be a string")
            yield make_article(record, str(record.get("text", "")), default_title=str(record["id"]))
        except (ValueError, LoadError) as exc:
            problems.append(f"line {number}: {exc}")
    if errors is None and problems:
        raise LoadError(f"{len(problems)} bad line(s) in {path.name}: " + "; ".join(problems[:5]))


def make_article(fields: dict[str, Any], text: str, default_title: str) -> Article:
    """An Article from loose fields (front matter, a jsonl record, an API body), its text normalised."""
    text = normalise_article_text(text)
    if not text:
        raise LoadError("the article has no text")
    if not any(character.isalnum() for character in text):
        # zero-width spaces or punctuation alone: nothing a question could find or a quote could cite
        raise LoadError("the article's text has no letters or digits")
    article_id = str(fields["id"]).strip()
    published, inferred = _published(article_id, fields, text)
    try:
        return Article(
            id=article_id,
            title=str(fields.get("title") or default_title).strip(),
            text=text,
            published=published,
            published_inferred=inferred,
            source=str(fields["source"]) if fields.get("source") else None,
            url=str(fields["url"]) if fields.get("url") else None,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise LoadError(f"bad article field {field}: {str(first['msg']).removeprefix('Value error, ')}") from exc


def _published(article_id: str, fields: dict[str, Any], text: str) -> tuple[str | None, bool]:
    """The publication time as stored (ISO 8601 with offset) and whether it was inferred from a dateline. A
    date given but unreadable is a warning and no date: the text's dateline does not overrule what was given."""
    given = fields.get("published") or fields.get("date")
    if given:
        try:
            return iso(parse_date(given)), False
        except DateError as exc:
            log.warning(
                "article '%s': the date %s; indexed without a date (write it as ISO 8601, e.g. 2022-10-20T09:30:00Z)",
                article_id,
                str(exc).replace(" is not a date", " is not a date this reader knows"),
            )
            return None, False
    url = fields.get("url")
    inferred = dateline_date(text, str(url) if url else None)
    return (iso(inferred), True) if inferred else (None, False)


def html_text(content: str) -> str:
    """The visible text of HTML (a page or a fragment, such as a feed item's summary), one block a paragraph."""
    return _html(content)[1]


def _front_matter(content: str) -> tuple[dict[str, Any], str]:
    import frontmatter
    import yaml

    try:
        post = frontmatter.loads(content, handler=_yaml_dates_as_text())
    except yaml.YAMLError as exc:
        raise LoadError(f"the YAML front matter does not parse: {str(exc).splitlines()[0]}") from exc
    return dict(post.metadata), post.content


@cache
def _yaml_dates_as_text() -> Any:
    """python-frontmatter's YAML handler on PyYAML's safe loader without its timestamp type: `published:
    2022-02-30` stays the text it was written as, which the date reader warns about, as for any other file (PyYAML
    raised a ValueError on it, which ended the whole run)."""
    import yaml
    from frontmatter.default_handlers import YAMLHandler

    class Loader(yaml.SafeLoader):  # type: ignore[misc]
        yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, Any]]]] = {
            first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }

    class DatesAsText(YAMLHandler):
        def load(self, fm: str, **kwargs: Any) -> Any:
            return super().load(fm, Loader=Loader, **kwargs)

    return DatesAsText()


def _html(content: str) -> tuple[dict[str, Any], str]:
    """Visible text, one block a paragraph; the <title> as the title."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(content)
    published = html_date(tree)  # before the head and scripts (JSON-LD) are dropped below
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
    meta = {"title": title or (h1.text(strip=True) if h1 else None), "published": published}
    for name in ("source", "url"):
        tag = tree.css_first(f'meta[name="{name}"]')
        if tag is not None and tag.attributes.get("content"):
            meta[name] = tag.attributes["content"]
    return meta, "\n\n".join(" ".join(b.split()) for b in blocks if b.strip())


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)
