"""Syndicated copies (issue 11, item 6): the same story republished by several outlets with a few words changed is
one story, recognised at ingest; answers cite it once with its copies; listings show the other outlets."""

from __future__ import annotations

import itertools
import random
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from threading import Event, Thread

import httpx
import pytest

from qa import stories
from qa.catalog import Catalog
from qa.domain import ArticleDraft, ArticleInfo
from qa.keyword import KeywordWriter
from qa.service import NewsService
from qa.settings import Settings
from qa.wiring import open_service
from tests.conftest import REPO, LiveServer, run_qa_in

WIRE = """\
The Port of Kessel will close its eastern container terminal for eleven weeks from 4 May while engineers replace \
the quay cranes, the harbour authority said on Monday. Shipping lines have been told to divert about 40 vessels \
a week to the western terminal, which will extend its opening hours to cover the loss.

Harbour master Ilse Varga said the cranes, installed in 1987, had become too slow for the largest ships now \
calling at Kessel. The replacement will cost 96 million crowns, paid from the authority's reserves.

Hauliers warned of queues on the coast road. The authority said it would publish a booking system for lorries \
by the end of April.
"""
# Another outlet's copy: a dateline, two words changed in the cranes sentence, the last sentence trimmed, a credit.
COPY = """\
KESSEL, March 9 (Harbor Wire) - The Port of Kessel will close its eastern container terminal for eleven weeks \
from 4 May while engineers replace the quay cranes, the harbour authority said on Monday. Shipping lines have \
been told to divert about 40 vessels a week to the western terminal, which will extend its opening hours to \
cover the loss.

Harbour master Ilse Varga said the old cranes, installed in 1987, had grown too slow for the largest ships now \
calling at Kessel. The replacement will cost 96 million crowns, paid from the authority's reserves.

Hauliers warned of queues on the coast road. (Reporting by Harbor Wire)
"""
OTHER = """\
Lisburg's city council voted on Tuesday to turn the old tram depot into a public library, ending a six-year \
dispute over the site. The library will open in 2028 and hold about 200,000 books, the council said.

Councillor Mara Ost said the building's iron roof would be kept. Opponents had wanted the depot sold to a \
developer to pay for road repairs.
"""
QUESTION = "Why are the quay cranes at the Port of Kessel being replaced?"


def md(title: str, source: str, text: str) -> str:
    return f'---\ntitle: "{title}"\npublished: "2025-03-09T10:00:00+00:00"\nsource: "{source}"\n---\n{text}'


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the wire story and an unrelated article, then (indexed later) another outlet's copy."""
    root = tmp_path_factory.mktemp("stories")
    articles = root / "articles"
    articles.mkdir()
    (articles / "kessel-wire.md").write_text(md("Kessel port to shut eastern terminal", "Harbor Wire", WIRE))
    (articles / "library.md").write_text(md("Tram depot becomes library", "The Lisburg Ledger", OTHER))
    service = open_service(Settings(data_dir=root / "data"))
    try:
        service.index_paths([articles])
        draft = ArticleDraft(
            id="kessel-herald", title="Eastern terminal closing for crane work", text=COPY, source="Coastline Herald"
        )
        service.put_article(draft)
    finally:
        service.close()
    return root


@pytest.fixture
def data_dir(indexed: Path, tmp_path: Path) -> Path:
    """A private copy (tests here write)."""
    shutil.copytree(indexed, tmp_path / "copy")
    return tmp_path / "copy" / "data"


@pytest.fixture
def service(data_dir: Path) -> Iterator[NewsService]:
    opened = open_service(Settings(data_dir=data_dir))
    yield opened
    opened.close()


def listing(service: NewsService) -> dict[str, ArticleInfo]:
    return {a.id: a for a in service.list_articles(limit=100).articles}


def test_near_copies_are_one_story_and_an_unrelated_article_is_not(service: NewsService) -> None:
    assert stories.similarity(stories.signature(WIRE), stories.signature(COPY)) >= stories.THRESHOLD
    listed = listing(service)
    wire, copy, other = listed["kessel-wire"], listed["kessel-herald"], listed["library"]
    assert wire.story_id == copy.story_id == "kessel-wire", "named after the first-indexed article"
    assert wire.story_outlets == ["Coastline Herald"] and copy.story_outlets == ["Harbor Wire"]
    assert other.story_id is None and other.story_outlets == []
    assert [a.id for a in service.story_of("kessel-herald")] == ["kessel-wire", "kessel-herald"]
    assert service.story_of("library") == []


def test_an_answer_cites_the_story_once_with_its_copy(service: NewsService) -> None:
    answer = service.ask(QUESTION, depth=10)
    assert not answer.abstained, answer
    # the copy's passages (a dateline and two words apart, cut at other places) are set aside or trimmed: the
    # answer reads each sentence of the story once
    read = [
        (p.article_id, p.text[s - p.start : e - p.start])
        for p in answer.passages
        if p.article_id in {"kessel-wire", "kessel-herald"}
        for s, e in p.sentences
    ]
    assert {article_id for article_id, _ in read} == {"kessel-wire", "kessel-herald"}, "each keeps what is its own"
    twice = [(a, b) for i, (x, a) in enumerate(read) for y, b in read[i + 1 :] if x != y and stories.near_equal(a, b)]
    assert not twice, twice
    cited = [c for c in answer.citations if c.article_id in {"kessel-wire", "kessel-herald"}]
    assert cited and all(c.copies for c in cited), answer.citations
    for citation in cited:
        for copy in citation.copies:
            assert {copy.article_id, citation.article_id} == {"kessel-wire", "kessel-herald"}
            assert copy.source in {"Harbor Wire", "Coastline Herald"} and copy.source != citation.source
            shown = service.get_article(copy.article_id).text[copy.start : copy.end]
            assert shown == citation.quote if copy.exact else stories.near_equal(shown, citation.quote)
    quotes = [" ".join(stories.words(c.quote)) for c in answer.citations]
    assert not any(stories.near_equal(a, b) for i, a in enumerate(quotes) for b in quotes[i + 1 :])


def test_a_quote_changed_in_the_copy_is_a_near_copy_with_its_own_offsets(service: NewsService) -> None:
    answer = service.ask("How old are the quay cranes at Kessel, according to Ilse Varga?")
    cited = [c for c in answer.citations if "1987" in c.quote]
    assert cited, answer.citations
    near = [copy for c in cited for copy in c.copies if not copy.exact]
    assert near, "the copy's sentence reads 'the old cranes ... had grown too slow'"
    text = service.get_article(near[0].article_id).text[near[0].start : near[0].end]
    assert "1987" in text and text not in {c.quote for c in cited}


def test_removing_the_first_article_elects_another_and_the_last_copy_stands_alone(service: NewsService) -> None:
    third = COPY.replace("KESSEL, March 9 (Harbor Wire) - ", "").replace("grown", "become")
    service.put_article(ArticleDraft(id="kessel-courier", title="Crane swap", text=third, source="Meridian Courier"))
    assert {listing(service)[i].story_id for i in ("kessel-wire", "kessel-herald", "kessel-courier")} == {"kessel-wire"}
    service.remove_article("kessel-wire")
    listed = listing(service)
    assert listed["kessel-herald"].story_id == listed["kessel-courier"].story_id == "kessel-herald"
    assert listed["kessel-herald"].story_outlets == ["Meridian Courier"]
    service.remove_article("kessel-herald")
    alone = listing(service)["kessel-courier"]
    assert alone.story_id is None and alone.story_outlets == []


def test_replacing_an_article_with_other_text_takes_it_out_of_the_story(service: NewsService) -> None:
    service.put_article(ArticleDraft(id="kessel-herald", title="Library", text=OTHER[::-1], source="Coastline Herald"))
    listed = listing(service)
    assert listed["kessel-herald"].story_id is None and listed["kessel-wire"].story_id is None


def test_indexing_again_and_rebuilding_the_catalog_change_nothing(service: NewsService, data_dir: Path) -> None:
    before = listing(service)
    report = service.index_paths([data_dir.parent / "articles"])
    assert sorted(report.unchanged) == ["kessel-wire", "library"] and not report.changed
    assert listing(service) == before
    service.engine.replica.rebuild()  # from the store alone: the same stories, the same ids
    assert listing(service) == before


def test_an_index_from_before_stories_gets_them(data_dir: Path) -> None:
    """A catalog without the story columns and article records without signatures (as an older release wrote
    them): the catalog is built again, and the signatures computed from the stored text."""
    opened = open_service(Settings(data_dir=data_dir))
    try:
        before = listing(opened)
        opened.store.ensure()
        records = opened.store._articles  # the records as an older release wrote them: no signature
        records.update(ids=list(before), metadatas=[{"minhash": None, "indexed_at": None}] * len(before))
        assert all(info.minhash is None for info in opened.store.article_infos(list(before)).values())
    finally:
        opened.close()
    (catalog_file,) = data_dir.rglob("catalog.sqlite3")
    with sqlite3.connect(catalog_file) as db:
        for column in ("story_id", "indexed_at", "minhash"):
            db.execute("DROP INDEX IF EXISTS articles_story")
            db.execute(f"ALTER TABLE articles DROP COLUMN {column}")
        db.execute("DROP TABLE story_bands")
    reopened = open_service(Settings(data_dir=data_dir))
    try:
        after = listing(reopened)
        assert after["kessel-wire"].story_id == after["kessel-herald"].story_id is not None
        assert after["kessel-herald"].story_outlets == ["Harbor Wire"] and after["library"].story_id is None
    finally:
        reopened.close()


def test_the_api_and_the_cli_show_the_other_outlets(data_dir: Path) -> None:
    done = run_qa_in(data_dir, "list")
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if "kessel-wire" in line)
    assert "also in: Coastline Herald" in row
    assert "also in" not in next(line for line in done.stdout.splitlines() if "library" in line)
    by_story = run_qa_in(data_dir, "list", "--stories")
    assert by_story.returncode == 0, by_story.stderr
    (row,) = [line for line in by_story.stdout.splitlines() if "kessel-wire" in line]
    assert "Harbor Wire, Coastline Herald" in row and "kessel-wire, kessel-herald" in row and "library" not in row
    live = LiveServer(data_dir)
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            listed = {a["id"]: a for a in http.get("/api/articles").json()["articles"]}
            assert listed["kessel-herald"]["story_id"] == "kessel-wire"
            assert listed["kessel-herald"]["story_outlets"] == ["Harbor Wire"]
            assert listed["library"]["story_id"] is None and listed["library"]["story_outlets"] == []
            one = http.get("/api/articles/kessel-wire").json()
            assert one["story_id"] == "kessel-wire" and one["story_outlets"] == ["Coastline Herald"]
            assert "minhash" not in one and "indexed_at" not in one
            text = COPY.removeprefix("KESSEL, March 9 (Harbor Wire) - ")
            third = {"id": "kessel-courier", "title": "Crane swap", "text": text, "source": "Meridian Courier"}
            added = http.post("/api/articles", json=third)
            assert added.status_code == 201, added.text
            assert added.json()["article"]["story_id"] == "kessel-wire"
            assert added.json()["article"]["story_outlets"] == ["Coastline Herald", "Harbor Wire"]
            assert http.delete("/api/articles/kessel-wire").status_code == 200
            herald = http.get("/api/articles/kessel-herald").json()
            assert herald["story_id"] == "kessel-herald" and herald["story_outlets"] == ["Meridian Courier"]
    finally:
        live.stop()


def _courier() -> ArticleDraft:
    """A third outlet's copy of the wire story."""
    text = COPY.removeprefix("KESSEL, March 9 (Harbor Wire) - ")
    return ArticleDraft(id="kessel-courier", title="Crane swap", text=text, source="Meridian Courier")


def _hold_keyword_writes(service: NewsService, monkeypatch: pytest.MonkeyPatch) -> tuple[Event, Event]:
    """Make the replica's next keyword write wait for a signal: (reached, go on)."""
    keyword = service.engine.refresh().keyword
    reached, go_on = Event(), Event()
    writing = keyword.writing

    @contextmanager
    def held(bulk: bool = False) -> Iterator[KeywordWriter]:
        reached.set()
        assert go_on.wait(10), "the add waited for the replica's catch-up"
        with writing(bulk) as writer:
            yield writer

    monkeypatch.setattr(keyword, "writing", held)
    return reached, go_on


def test_an_add_answers_with_its_story_before_the_keyword_index_commits_and_a_question_waits_for_it(
    service: NewsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    reached, go_on = _hold_keyword_writes(service, monkeypatch)
    written = service.put_article(_courier())
    assert not go_on.is_set() and reached.wait(10), "answered while the replica's catch-up is held"
    assert written.status == "added" and written.article.chunks > 0
    assert written.article.story_id == "kessel-wire", "the story as the catalog will list it"
    assert written.article.story_outlets == ["Coastline Herald", "Harbor Wire"]
    found: list[set[str]] = []
    asker = Thread(target=lambda: found.append(_keyword_articles(service, "quay cranes Kessel")))
    asker.start()
    asker.join(1.0)
    assert asker.is_alive(), "a question of this process waits for the catch-up"
    go_on.set()
    asker.join(30)
    assert found and "kessel-courier" in found[0], "and then finds the article by its words"
    assert listing(service)["kessel-courier"].story_outlets == ["Coastline Herald", "Harbor Wire"]


def test_a_write_made_while_an_add_is_followed_is_seen_by_the_next_read(
    service: NewsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    reached, go_on = _hold_keyword_writes(service, monkeypatch)
    service.put_article(_courier())
    assert reached.wait(10)
    service.remove_article("library")  # while the add's catch-up is under way, past the end it follows to
    go_on.set()
    service.engine.settle()
    assert "library" not in listing(service) and "kessel-courier" in listing(service)


def test_a_catch_up_that_fails_after_an_add_is_tried_again_by_the_next_read(
    service: NewsService, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    keyword = service.engine.refresh().keyword
    writing = keyword.writing
    failures = []

    @contextmanager
    def failing_once(bulk: bool = False) -> Iterator[KeywordWriter]:
        if not failures:
            failures.append(1)
            raise OSError("disk full")
        with writing(bulk) as writer:
            yield writer

    monkeypatch.setattr(keyword, "writing", failing_once)
    assert service.put_article(_courier()).status == "added"
    service.engine.settle()
    assert failures and "could not follow" in caplog.text and "disk full" in caplog.text
    assert "kessel-courier" in _keyword_articles(service, "quay cranes Kessel"), "the next read caught up"


def _keyword_articles(service: NewsService, question: str) -> set[str]:
    return {hit.chunk.article_id for hit in service.retrieve(question, top_k=20, mode="keyword").hits}


def test_short_or_unrelated_texts_are_not_copies() -> None:
    assert stories.signature("Markets closed higher on Friday.") == b""
    assert stories.band_keys(b"") == []
    assert stories.similarity(stories.signature(WIRE), stories.signature(OTHER)) < stories.THRESHOLD
    assert stories.decode(stories.encode(stories.signature(WIRE))) == stories.signature(WIRE)
    assert stories.decode("not base64!") is None, "read again from the text"
    assert stories.decode(stories.encode(b"")) == b"", "too short, and known to be"
    assert stories.decode("minhash-w5-p256-s1-affine32:AAAA") is None, "made otherwise: made again"


def _put(catalog: Catalog, article_id: str, text: str, indexed_at: float) -> None:
    info = ArticleInfo(id=article_id, title=article_id, chunks=1, content_hash="h", indexed_at=indexed_at)
    with catalog.transaction() as writer:
        writer.put(info, None, stories.signature(text))


def _stories(catalog: Catalog) -> dict[str, str | None]:
    return {a.id: a.story_id for a in catalog.page(100).articles}


def test_a_story_linked_through_one_article_splits_when_it_goes(tmp_path: Path) -> None:
    """A ~ B and B ~ C (Jaccard 0.6) but not A ~ C (0.33): one story while B is there, none without it."""
    vocabulary = [f"w{n}" for n in range(300)]
    a, b, c = (" ".join(vocabulary[start : start + 200]) for start in (0, 50, 100))
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    for n, (article_id, text) in enumerate([("a", a), ("c", c), ("b", b)]):
        _put(catalog, article_id, text, float(n))
    assert _stories(catalog) == {"a": "a", "b": "a", "c": "a"}
    with catalog.transaction() as writer:
        writer.remove(["b"])
    assert _stories(catalog) == {"a": None, "c": None}
    _put(catalog, "b", b, 5.0)
    assert _stories(catalog) == {"a": "a", "b": "a", "c": "a"}
    with catalog.transaction() as writer:
        writer.remove(["a"])
    assert _stories(catalog) == {"b": "c", "c": "c"}, "the first indexed of those left"
    catalog.close()


def test_stories_after_random_writes_are_the_linked_groups_of_every_article(tmp_path: Path) -> None:
    """An article put joins the stories it links to whole, and a story that loses or changes an article is walked
    again: after every transaction of random puts, replacements and removals (texts overlapping by a share of
    their words, so that chains link and break), each article's story is the one the whole catalog's links give."""
    chooser = random.Random(7)
    vocabulary = [f"w{n}" for n in range(600)]
    texts = {start: " ".join(vocabulary[start : start + 200]) for start in range(0, 400, 40)}
    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog(path)
    held: dict[str, tuple[bytes, float]] = {}
    for step in range(60):
        with catalog.transaction() as writer:
            for _ in range(chooser.randint(1, 3)):
                article_id = f"a{chooser.randrange(30):02d}"
                if article_id in held and chooser.random() < 0.3:
                    writer.remove([article_id])
                    del held[article_id]
                    continue
                signature = stories.signature(texts[chooser.choice(list(texts))])
                indexed_at = float(chooser.randrange(step + 1))  # ties: the id decides
                info = ArticleInfo(id=article_id, title=article_id, chunks=1, content_hash="h", indexed_at=indexed_at)
                writer.put(info, None, signature)
                held[article_id] = (signature, indexed_at)
        with sqlite3.connect(path) as db:
            found = dict(db.execute("SELECT id, story_id FROM articles").fetchall())
        assert found == _stories_from_scratch(held), f"after transaction {step}"
    catalog.close()


def _stories_from_scratch(held: dict[str, tuple[bytes, float]]) -> dict[str, str | None]:
    """Each article's story from every pair's link (a shared band and THRESHOLD similarity): the linked group's
    first indexed, then lowest id; None alone."""
    group = {article_id: {article_id} for article_id in held}
    for a, b in itertools.combinations(sorted(held), 2):
        shared = set(stories.band_keys(held[a][0])) & set(stories.band_keys(held[b][0]))
        if shared and stories.similarity(held[a][0], held[b][0]) >= stories.THRESHOLD and group[a] is not group[b]:
            merged = group[a] | group[b]
            for member in merged:
                group[member] = merged
    return {
        article_id: min(members, key=lambda m: (held[m][1], m)) if len(members) > 1 else None
        for article_id, members in group.items()
    }


def test_a_catalog_grouped_with_other_parameters_is_built_again(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    with catalog.transaction() as writer:
        writer.set_state(7, "store")
    assert catalog.state() == (7, "store")
    catalog.close()
    with sqlite3.connect(tmp_path / "catalog.sqlite3") as db:
        db.execute("UPDATE state SET value = 'minhash-w5-p64' WHERE key = 'stories'")
    reopened = Catalog(tmp_path / "catalog.sqlite3")
    assert reopened.state() == (-1, None), "the replica builds it again from the store"
    reopened.close()


def test_an_update_that_changes_a_number_is_not_a_copy() -> None:
    """Wire updates keep the text and change the figures: the newer figure must not be set aside as a copy."""
    old = "The number of people killed by Cyclone Orla rose to 27 on Saturday, the interior ministry said."
    assert not stories.near_equal(old, old.replace("27 on Saturday", "41 on Sunday"))
    assert stories.near_equal(old, "LOWMARK, Sept 6 (Harbor Wire) - " + old), "a dateline only adds numbers"
    assert stories.near_equal(old, old.replace("rose", "climbed"))


def test_an_update_that_changes_a_number_written_in_words_is_not_a_copy() -> None:
    """News writes one to nine in words: "two people remained missing" then "five people were missing"."""
    old = "Officials said two people were missing and that army engineers were building temporary barriers."
    assert not stories.near_equal(old, old.replace("two people", "five people"))
    assert not stories.near_equal(old, old.replace("two people", "5 people"))
    assert stories.near_equal(old, old.replace("were building", "built"))


def test_the_written_down_bands_are_the_ones_datasketch_chooses() -> None:
    """BANDS x ROWS stand in for datasketch's choice (which needs scipy): they must not drift apart."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=stories.CANDIDATES, num_perm=stories.NUM_PERM)
    assert (lsh.b, lsh.r) == (stories.BANDS, stories.ROWS)


def test_opening_a_catalog_and_signing_an_article_import_neither_datasketch_nor_scipy(tmp_path: Path) -> None:
    """A process that only answers (a cold `qa ask`) opens the catalog; every indexing process signs articles:
    datasketch's import (with scipy) would cost each 0.4-0.9 s of CPU."""
    code = (
        "import sys; from pathlib import Path; from qa import stories; from qa.catalog import Catalog; "
        f"Catalog(Path({str(tmp_path / 'catalog.sqlite3')!r})).close(); "
        f"assert stories.signature({WIRE!r}); "
        "print(sorted(m for m in ('datasketch', 'scipy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.strip() == "[]"


def test_signatures_are_the_values_datasketchs_minhash_gives() -> None:
    """qa.stories computes datasketch's MinHash itself (without importing scipy): the values must be the same, or
    signatures already written would stop matching new ones."""
    import numpy as np
    from datasketch import MinHash

    for text in (WIRE, COPY, OTHER, " ".join(f"word{n}" for n in range(3_000))):
        expected = MinHash(num_perm=stories.NUM_PERM, seed=stories.SEED, scheme=stories.SCHEME)
        expected.update_batch(list(stories.shingles(text)))
        assert stories.signature(text) == np.asarray(expected.hashvalues, dtype="<u4").tobytes()
