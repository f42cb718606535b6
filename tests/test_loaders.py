"""Articles load from txt, md, html and jsonl; bad files are reported, never fatal."""

from __future__ import annotations

import json
from pathlib import Path

from indexer.loaders import LoadedArticle, count_articles, iter_articles, load_paths


def _write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_each_format_loads_with_its_metadata(tmp_path: Path) -> None:
    _write(tmp_path, "plain.txt", "Plain text article.\r\n\r\nSecond paragraph.")
    _write(
        tmp_path,
        "news/front.md",
        "---\ntitle: Front matter title\npublished: 2022-02-11\nsource: TDI\nurl: https://example.org/a\n---\nBody.",
    )
    _write(
        tmp_path,
        "page.html",
        "<html><head><title>Html title</title><style>p{}</style><script>var x=1</script></head>"
        "<body><nav>menu</nav><h1>Heading</h1><p>First <b>bold</b> paragraph.</p><ul><li><p>Item</p></li></ul>"
        "</body></html>",
    )
    _write(
        tmp_path,
        "feed.jsonl",
        json.dumps({"id": "j1", "title": "Jsonl one", "text": "Jsonl text.", "published": "2024-01-02"})
        + "\n\n"
        + json.dumps({"id": "j2", "text": "Second."})
        + "\n",
    )
    loaded, failures = load_paths([tmp_path])
    assert failures == []
    articles = {item.article.id: item.article for item in loaded}
    assert set(articles) == {"plain", "news/front", "page", "j1", "j2"}
    assert articles["plain"].text == "Plain text article.\n\nSecond paragraph."
    front = articles["news/front"]
    assert (front.title, front.published, front.source, front.url) == (
        "Front matter title",
        "2022-02-11T00:00:00+00:00",
        "TDI",
        "https://example.org/a",
    )
    assert front.text == "Body."
    page = articles["page"]
    assert page.title == "Html title"
    assert page.text == "Heading\n\nFirst bold paragraph.\n\nItem"
    assert articles["j1"].title == "Jsonl one" and articles["j1"].published == "2024-01-02T00:00:00+00:00"
    assert articles["j2"].title == "j2"


def test_bad_files_are_listed_and_good_ones_still_load(tmp_path: Path) -> None:
    _write(tmp_path, "good.txt", "A good article.")
    _write(tmp_path, "empty.txt", "   \n")
    _write(tmp_path, "binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    _write(tmp_path, "latin1.txt", "Caf\xe9 au lait".encode("latin-1"))
    _write(tmp_path, "notes.pdf", "not really a pdf")
    _write(tmp_path, "broken.jsonl", '{"id": "ok", "text": "fine"}\n{not json}\n{"id": "n", "text": 12345}\n')
    _write(tmp_path, "bad.md", "---\ntitle: [unclosed\n---\nText.")
    loaded, failures = load_paths([tmp_path, tmp_path / "missing.txt"])
    assert [item.article.id for item in loaded] == ["ok", "good"], "a JSON Lines file keeps its good lines"
    reasons = {Path(f.path).name: f.reason for f in failures}
    assert reasons["empty.txt"] == "the file is empty"
    assert "binary" in reasons["binary.txt"]
    assert "not UTF-8" in reasons["latin1.txt"]
    assert "unsupported file type '.pdf'" in reasons["notes.pdf"]
    assert reasons["broken.jsonl"].startswith("2 bad line(s) skipped: line 2")
    assert {Path(f.path).name: f.loaded for f in failures}["broken.jsonl"] == 1, "its good line was read"
    assert "line 3: 'text' must be a string" in reasons["broken.jsonl"]
    assert "front matter" in reasons["bad.md"]
    assert reasons["missing.txt"] == "no such file or folder"


def test_a_file_given_directly_is_named_by_its_stem(tmp_path: Path) -> None:
    path = _write(tmp_path, "deep/dir/story.txt", "Text.")
    loaded, _ = load_paths([path])
    assert loaded[0].article.id == "story"


def test_a_large_json_lines_file_is_read_line_by_line(tmp_path: Path) -> None:
    lines = [json.dumps({"id": f"n{i}", "title": f"Story {i}", "text": f"Story number {i}."}) for i in range(5000)]
    path = _write(tmp_path, "feed.jsonl", "\n".join(lines[:2500]) + "\n\n" + "\n".join(lines[2500:]) + "\n")
    assert count_articles([path, tmp_path / "missing.jsonl"]) == 5000
    stream = iter_articles([path])
    first = next(stream)
    assert isinstance(first, LoadedArticle) and first.article.id == "n0", "the first article comes before the rest"
    assert sum(1 for _ in stream) == 4999


def test_a_json_lines_file_that_stops_being_utf8_keeps_what_came_before(tmp_path: Path) -> None:
    path = _write(tmp_path, "feed.jsonl", b'{"id": "a", "text": "Fine."}\n{"id": "b", "text": "Caf\xe9"}\n')
    items = list(iter_articles([path]))
    assert [i.article.id for i in items if isinstance(i, LoadedArticle)] == ["a"]
    (failure,) = [i for i in items if not isinstance(i, LoadedArticle)]
    assert "not UTF-8" in failure.reason
