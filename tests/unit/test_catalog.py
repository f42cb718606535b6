"""qa/catalog.py: the article catalog in SQLite: pages in order with a total, filters resolved to chunk ids."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import qa.catalog
import qa.vector_file
from qa.catalog import Catalog
from qa.domain import ArticleInfo, SearchFilter, published_timestamp
from qa.errors import InvalidInput

ROWS = [  # id, published, source, chunks, origin
    ("b", "2022-02-10", "Wire", 2, "/news"),
    ("a", "2022-07-15T09:30:00+02:00", "Post", 1, "/news"),
    ("c", None, None, 3, "api"),
    ("d", "2022-07-15", "Wire", 1, "/other"),
]


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    with catalog.transaction() as writer:
        for article_id, published, source, chunks, origin in ROWS:
            info = ArticleInfo(
                id=article_id, title=article_id.upper(), published=published, source=source, chunks=chunks,
                content_hash=f"h{article_id}", origin=origin,
            )  # fmt: skip
            writer.put(info, published_timestamp(published))
        writer.set_state(7, "store-1")
    return catalog


def _walk(catalog: Catalog, order: str, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = catalog.page(limit, cursor, order)  # type: ignore[arg-type]
        assert page.total == 4
        pages.append([a.id for a in page.articles])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def test_pages_by_id_with_a_total_and_a_cursor(catalog: Catalog) -> None:
    assert _walk(catalog, "id", 3) == [["a", "b", "c"], ["d"]]
    assert _walk(catalog, "id", 4) == [["a", "b", "c", "d"]], "no cursor after the last page"


def test_pages_newest_first_with_undated_articles_last(catalog: Catalog) -> None:
    # 2022-07-15T09:30+02:00 is 07:30 UTC, after d's midnight; c has no date
    assert _walk(catalog, "newest", 1) == [["a"], ["d"], ["b"], ["c"]]
    assert _walk(catalog, "newest", 2) == [["a", "d"], ["b", "c"]]


def test_a_cursor_it_did_not_hand_out_is_a_clear_error(catalog: Catalog) -> None:
    with pytest.raises(InvalidInput, match="cursor"):
        catalog.page(5, "not-a-cursor")


def ids(catalog: Catalog, within: SearchFilter) -> list[str]:
    """The chunk ids a filter lets through (it must narrow)."""
    admitted = catalog.admitted(within)
    assert admitted is not None and admitted.articles == len({i.split("::")[0] for i in admitted.chunk_ids})
    return admitted.chunk_ids


def test_filters_resolve_to_the_chunk_ids_of_the_articles_they_let_through(catalog: Catalog) -> None:
    assert catalog.admitted(None) is None and catalog.admitted(SearchFilter()) is None
    assert sorted(ids(catalog, SearchFilter(article_ids=["b", "x"]))) == ["b::0", "b::1"]
    assert sorted(ids(catalog, SearchFilter(sources=["Wire"]))) == ["b::0", "b::1", "d::0"]
    july = SearchFilter(since=dt.datetime(2022, 7, 1, tzinfo=dt.UTC), until=dt.datetime(2022, 8, 1, tzinfo=dt.UTC))
    assert sorted(ids(catalog, july)) == ["a::0", "d::0"]
    both = SearchFilter(article_ids=["a", "b"], sources=["Wire"])
    assert ids(catalog, both) == ["b::0", "b::1"]
    assert ids(catalog, SearchFilter(article_ids=[])) == []


def test_what_came_from_a_folder_and_the_state(catalog: Catalog) -> None:
    assert catalog.indexed_from(["/news"]) == {"a": "/news", "b": "/news"}
    assert catalog.state() == (7, "store-1") and catalog.count() == 4 and catalog.chunk_total() == 7
    with catalog.transaction() as writer:
        writer.remove(["a", "b"])
    assert catalog.indexed_from(["/news"]) == {} and catalog.count() == 2


def test_a_failed_transaction_changes_nothing(catalog: Catalog) -> None:
    with pytest.raises(RuntimeError), catalog.transaction() as writer:
        writer.clear()
        raise RuntimeError("killed half-way")
    assert catalog.count() == 4


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        ("2022-02-10", 1_644_451_200),
        ("2022-02-10T01:00:00+01:00", 1_644_451_200),
        ("2022-02-10T00:00:00Z", 1_644_451_200),
        ("10 February 2022", None),
        ("", None),
        (None, None),
    ],
)
def test_publication_times(published: str | None, expected: int | None) -> None:
    assert published_timestamp(published) == expected


def test_a_search_matches_titles_in_any_case_beyond_ascii(tmp_path: Path) -> None:
    from qa.catalog import ArticleMatch

    catalog = Catalog(tmp_path / "catalog.sqlite3")
    with catalog.transaction() as writer:
        for article_id, title in [("e", "ÉLYSÉE talks resume"), ("f", "Weather"), ("g", "weather warning")]:
            writer.put(ArticleInfo(id=article_id, title=title, chunks=1, content_hash=article_id), None)
    found = catalog.page(10, match=ArticleMatch(search="élysée"))
    assert [a.id for a in found.articles] == ["e"]
    assert found.total == 1
    assert [a.id for a in catalog.page(10, match=ArticleMatch(search="x", text_ids=["f"])).articles] == ["f"]
    assert [a.id for a in catalog.page(10, match=ArticleMatch(title="WEATHER")).articles] == ["f"]


def test_a_chunk_id_names_its_article_in_either_layout() -> None:
    from qa.chunking import chunk_id
    from qa.service import _articles_of

    ids = _articles_of([chunk_id("news/a", 3, "v1"), chunk_id("b", 0)])
    assert "news/a" in ids
    assert "b" in ids


def test_a_search_takes_percent_and_underscore_as_they_are(tmp_path: Path) -> None:
    from qa.catalog import ArticleMatch

    catalog = Catalog(tmp_path / "catalog.sqlite3")
    with catalog.transaction() as writer:
        titles = [("p", "Rate cut to 4.50% eases"), ("q", "Rate cut to 4.5 eases"), ("u", "snake_case")]
        for article_id, title in titles:
            writer.put(ArticleInfo(id=article_id, title=title, chunks=1, content_hash=article_id), None)
    assert [a.id for a in catalog.page(10, match=ArticleMatch(search="4.50% EASES")).articles] == ["p"]
    assert [a.id for a in catalog.page(10, match=ArticleMatch(search="%")).articles] == ["p"]
    assert [a.id for a in catalog.page(10, match=ArticleMatch(search="e_c")).articles] == ["u"]
    assert catalog.page(10, match=ArticleMatch(search="e_c")).total == 1


def _vectors(chunks: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((chunks, 4)).astype(np.float32)


@dataclass
class Held:
    """What the catalog holds of a filter's chunks: their vectors (read back as the cosines to each axis)."""

    ids: list[str]
    vectors: np.ndarray
    missing: list[str]


def held(catalog: Catalog, within: SearchFilter, dimension: int = 4) -> Held:
    admitted = catalog.admitted(within)
    assert admitted is not None
    axes = [catalog.cosines(admitted, axis) for axis in np.eye(dimension, dtype=np.float32)]
    assert all((a.ids, a.missing) == (axes[0].ids, axes[0].missing) for a in axes)
    return Held(axes[0].ids, np.stack([a.cosines for a in axes], axis=1).reshape(-1, dimension), axes[0].missing)


def test_it_holds_each_articles_chunk_vectors_for_its_filters(catalog: Catalog) -> None:
    held_vectors = {"b": _vectors(2, 1), "d": _vectors(1, 2)}
    infos = catalog.infos(["b", "d"])
    with catalog.transaction() as writer:
        for article_id, vectors in held_vectors.items():
            writer.hold_vectors(infos[article_id], vectors)
    admitted = catalog.admitted(SearchFilter(sources=["Wire"]))
    assert admitted is not None
    found = held(catalog, SearchFilter(sources=["Wire"]))
    assert sorted(found.ids) == sorted(admitted.chunk_ids) and found.missing == []
    by_id = dict(zip(found.ids, found.vectors, strict=True))
    assert np.array_equal(np.stack([by_id["b::0"], by_id["b::1"]]), held_vectors["b"]), "in the order of the chunks"
    assert np.array_equal(by_id["d::0"], held_vectors["d"][0])
    question = _vectors(1, 9)[0]
    cosines = catalog.cosines(admitted, question)
    assert np.allclose(cosines.cosines, found.vectors @ question, atol=1e-6)
    assert [cosines.id_at(k) for k in range(len(cosines.cosines))] == cosines.ids == found.ids  # by bisection

    found = held(catalog, SearchFilter(article_ids=["a", "b"]))
    assert (found.ids, found.missing) == (["b::0", "b::1"], ["a::0"]), "a's were never held: read from the store"

    with catalog.transaction() as writer:
        new_b = infos["b"].model_copy(update={"version": "v2", "chunks": 3})
        writer.put(new_b, None, b"", _vectors(2, 3))  # two vectors for three chunks: none are kept
        writer.remove(["d"])
    found = held(catalog, SearchFilter(article_ids=["b", "d"]))
    assert found.ids == [] and found.missing == ["b::v2::0", "b::v2::1", "b::v2::2"], "d is gone, b's are not held"
    assert len(found.vectors) == 0

    with catalog.transaction() as writer:
        writer.put(new_b, None, b"", _vectors(3, 4))
    found = held(catalog, SearchFilter(article_ids=["b"]))
    assert found.ids == ["b::v2::0", "b::v2::1", "b::v2::2"] and np.array_equal(found.vectors, _vectors(3, 4))
    assert found.missing == []
    assert held(catalog, SearchFilter(article_ids=["b"]), 8).missing == found.ids, "vectors of another width: not"

    with catalog.transaction() as writer:
        writer.clear()
    assert catalog.count() == 0
    with catalog.transaction() as writer:
        writer.put(infos["d"], None)
    assert held(catalog, SearchFilter(article_ids=["d"])).missing == ["d::0"]


def test_it_holds_each_articles_chunks_as_stored_for_questions_to_read(catalog: Catalog) -> None:
    infos = catalog.infos(["b", "d"])
    b_records = ['{"chunk": "b0"}', '{"chunk": "b1"}']
    with catalog.transaction() as writer:
        writer.hold_vectors(infos["b"], _vectors(2, 1))
        writer.hold_records(infos["b"], b_records)
        writer.hold_records(infos["d"], ['{"chunk": "d0"}'])  # its vectors not held
    found = catalog.held_chunks(["b::1", "d::0", "a::0", "b::0"], 4)
    assert found.records == {"b::1": b_records[1], "d::0": '{"chunk": "d0"}', "b::0": b_records[0]}, "a's: never"
    assert sorted(found.vectors) == ["b::0", "b::1"], "a vector only where the article's are held"
    assert np.array_equal(np.stack([found.vectors["b::0"], found.vectors["b::1"]]), _vectors(2, 1))
    without = catalog.held_chunks(["b::1", "d::0"], 4, with_vectors=False)
    assert without.records == {"b::1": b_records[1], "d::0": '{"chunk": "d0"}'} and without.vectors == {}

    new_b = infos["b"].model_copy(update={"version": "v2", "chunks": 2})
    with catalog.transaction() as writer:
        writer.put(new_b, None, b"", _vectors(2, 3), ['{"chunk": "new b0"}'])  # one record for two chunks: none
        writer.remove(["d"])
    assert catalog.held_chunks(["b::0", "b::v2::0", "d::0"], 4).records == {}, "old version, too few, removed"
    with catalog.transaction() as writer:
        writer.put(new_b, None, b"", _vectors(2, 3), ['{"chunk": "new b0"}', '{"chunk": "new b1"}'])
    found = catalog.held_chunks(["b::v2::1"], 4)
    assert found.records == {"b::v2::1": '{"chunk": "new b1"}'}
    assert np.array_equal(found.vectors["b::v2::1"], _vectors(2, 3)[1])
    with catalog.transaction() as writer:
        writer.clear()
    assert catalog.held_chunks(["b::v2::1"], 4).records == {}


@pytest.mark.parametrize("table", ["vector_spans", "chunk_records"])
def test_a_catalog_from_before_it_held_vectors_or_chunks_is_built_again(tmp_path: Path, table: str) -> None:
    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog(path)
    with catalog.transaction() as writer:
        writer.put(ArticleInfo(id="a", title="A", chunks=1, content_hash="h"), None)
        writer.set_state(3, "store-1")
    catalog.close()
    with sqlite3.connect(path) as db:
        db.execute(f"DROP TABLE {table}")
    reopened = Catalog(path)
    assert reopened.state() == (-1, None), "the replica builds it again from the store, vectors and all"
    assert reopened.count() == 1
    with reopened.transaction() as writer:
        writer.set_state(4, "store-1")
    reopened.close()
    assert Catalog(path).state() == (4, "store-1"), "once"


def _vector_files(catalog_path: Path) -> list[str]:
    return sorted(p.name for p in catalog_path.parent.glob("*.f32"))


def test_a_catalog_holding_vectors_as_blobs_moves_them_out_once_and_is_not_built_again(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog(path)
    b = ArticleInfo(id="b", title="B", chunks=2, content_hash="h", version="v1")
    with catalog.transaction() as writer:
        writer.put(b, None, b"", _vectors(2, 1))
        writer.put(ArticleInfo(id="c", title="C", chunks=1, content_hash="h"), None)
        writer.set_state(3, "store-1")
    catalog.close()
    with sqlite3.connect(path) as db:  # as the release before left it: each article's vectors as a blob
        db.executescript("DROP TABLE vector_spans; DROP TABLE vector_file")
        db.execute("CREATE TABLE article_vectors (article_id TEXT PRIMARY KEY, version TEXT NOT NULL, vectors BLOB)")
        db.execute("INSERT INTO article_vectors VALUES ('b', 'v1', ?)", [_vectors(2, 1).tobytes()])
    for file in tmp_path.glob("*.f32"):
        file.unlink()
    reopened = Catalog(path)
    assert reopened.state() == (3, "store-1"), "not built again from the store"
    found = held(reopened, SearchFilter(article_ids=["b", "c"]))
    assert found.ids == ["b::v1::0", "b::v1::1"] and np.array_equal(found.vectors, _vectors(2, 1))
    assert found.missing == ["c::0"]
    reopened.close()
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "article_vectors" not in tables and _vector_files(path) == ["catalog.vectors.0.f32"]


def test_replaced_vectors_are_compacted_away_and_a_reader_of_the_old_file_still_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qa.catalog, "COMPACT_AT_BYTES", 150)  # bytes, not 64 MiB
    path = tmp_path / "catalog.sqlite3"
    catalog, other_process = Catalog(path), Catalog(path)
    infos = [ArticleInfo(id=i, title=i, chunks=3, content_hash="h", version="v1") for i in "abc"]
    with catalog.transaction() as writer:
        for n, info in enumerate(infos):
            writer.put(info, None, b"", _vectors(3, n))
    everything = SearchFilter(article_ids=["a", "b", "c"])
    assert np.array_equal(held(other_process, everything).vectors, np.concatenate([_vectors(3, n) for n in range(3)]))
    live = 3 * 3 * 4 * 4  # 48 bytes an article
    assert (tmp_path / "catalog.vectors.0.f32").stat().st_size == live

    with catalog.transaction() as writer:  # 48 dead bytes: under the line
        writer.put(infos[0], None, b"", _vectors(3, 10))
    assert _vector_files(path) == ["catalog.vectors.0.f32"]
    for seed in (11, 12, 13):  # 96, 144, then 192 dead bytes of 336: over the line and over half the file
        with catalog.transaction() as writer:
            writer.put(infos[0], None, b"", _vectors(3, seed))
        catalog.settle()  # the compaction runs on a thread of its own
    assert _vector_files(path) == ["catalog.vectors.1.f32"], "written again, the old generation removed"
    assert (tmp_path / "catalog.vectors.1.f32").stat().st_size == live
    expected = np.concatenate([_vectors(3, 13), _vectors(3, 1), _vectors(3, 2)])
    assert np.array_equal(held(other_process, everything).vectors, expected), "another reader follows"
    assert np.array_equal(held(catalog, everything).vectors, expected)
    with catalog.transaction() as writer:
        for info in infos:
            writer.hold_records(info, ["{}"] * 3)
    found = catalog.held_chunks(["a::v1::2", "c::v1::0"], 4)
    assert np.array_equal(np.stack(list(found.vectors.values())), np.stack([_vectors(3, 13)[2], _vectors(3, 2)[0]]))

    with catalog.transaction() as writer:
        writer.remove(["b", "c"])
    assert held(other_process, everything).ids == ["a::v1::0", "a::v1::1", "a::v1::2"]


def test_a_compaction_writes_vectors_in_order_of_publication_and_a_window_reads_its_run_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An archive added out of date order (a bulk import) is compacted into publication order; a window of dates
    then reads its articles' vectors, neighbours in the file, in one read, and the same vectors as before."""
    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog(path)
    dates = {"a": "2024-01-04", "b": "2024-01-01", "c": None, "d": "2024-01-03", "e": "2024-01-02"}
    with catalog.transaction() as writer:
        for n, (article_id, published) in enumerate(dates.items()):
            info = ArticleInfo(id=article_id, title=article_id, published=published, chunks=2, content_hash="h")
            writer.put(info, published_timestamp(published), b"", _vectors(2, n))
    days = SearchFilter(since=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), until=dt.datetime(2024, 1, 4, tzinfo=dt.UTC))
    before = held(catalog, days)
    assert [i.split("::")[0] for i in before.ids[::2]] == ["b", "e", "d"]  # the window's order: by date

    assert catalog.compact()
    assert _in_file_order(path) == ["c", "b", "e", "d", "a"], "undated first, then by date"
    reads: list[int] = []
    preadv = qa.vector_file.os.preadv

    def counted(descriptor: int, buffers: list[memoryview], offset: int) -> int:
        reads.append(offset)
        return preadv(descriptor, buffers, offset)

    monkeypatch.setattr(qa.vector_file.os, "preadv", counted)
    after = held(catalog, days, dimension=4)
    assert after.ids == before.ids and np.array_equal(after.vectors, before.vectors)
    assert len(reads) == 4, "one read a question (the helper asks once an axis), not one an article"
    catalog.close()


def _dated_writes(catalog: Catalog, days: list[int]) -> None:
    """One article a transaction (as a replica applies a window), 3 vectors each, published on these days of 2024."""
    for n, day in enumerate(days):
        published = (dt.date(2024, 1, 1) + dt.timedelta(days=day)).isoformat()
        info = ArticleInfo(id=f"a{n:02d}", title="t", published=published, chunks=3, content_hash="h")
        with catalog.transaction() as writer:
            writer.put(info, published_timestamp(published), b"", _vectors(3, n))
        catalog.settle()  # a compaction it began (on a thread of its own) is over before the next window


def _in_file_order(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT article_id FROM vector_spans ORDER BY start")]


def test_an_archive_added_in_random_date_order_is_compacted_into_publication_order_as_it_grows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bulk import in random date order: once an eighth of the file (and the least that pays) was appended out
    of order, the file is written again in order of publication, without a call from anyone, and reads the same."""
    monkeypatch.setattr(qa.catalog, "COMPACT_AT_BYTES", 3 * 48)  # bytes: three articles' vectors, not 64 MiB
    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog(path)
    days = [40, 3, 75, 12, 60, 1, 33, 90, 7, 52, 20, 66]
    _dated_writes(catalog, days)
    # out of order: 3, 12, 1 (then compacted: 6 articles), 33, 7, 20 (then compacted: 11 articles), 66
    assert _vector_files(path) == ["catalog.vectors.2.f32"], "compacted twice, the old files removed"
    assert [days[int(i[1:])] for i in _in_file_order(path)] == [1, 3, 7, 12, 20, 33, 40, 52, 60, 75, 90, 66]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT misplaced, dead FROM vector_order, vector_file").fetchone() == (48, 0)
    everything = SearchFilter(article_ids=[f"a{n:02d}" for n in range(len(days))])
    found = held(catalog, everything)
    assert np.array_equal(found.vectors, np.concatenate([_vectors(3, n) for n in range(len(days))]))
    catalog.close()


def test_news_added_as_it_is_published_is_never_compacted_for_its_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In order of publication, give or take a day (outlets publish the same hour in any order), and with one
    article dated years ahead by mistake: nothing counts as out of order but the article after that one."""
    monkeypatch.setattr(qa.catalog, "COMPACT_AT_BYTES", 48)
    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog(path)
    _dated_writes(catalog, [0, 1, 1, 0, 2, 3, 3, 4, 5, 5, 6, 2000, 7, 8, 9, 10, 11, 12, 13, 14])
    with sqlite3.connect(path) as db:
        misplaced, last_ts = db.execute("SELECT misplaced, last_ts FROM vector_order").fetchone()
    assert misplaced == 48, "only the article after the one dated ahead"
    assert last_ts == published_timestamp("2024-01-15")
    assert _vector_files(path) == ["catalog.vectors.0.f32"], "a twentieth out of order: under an eighth"
    catalog.close()


def test_a_catalog_from_before_the_files_order_was_kept_counts_from_when_it_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    Catalog(path).close()
    with sqlite3.connect(path) as db:  # as the release before left it: no count of the file's order
        db.execute("DROP TABLE vector_order")
    catalog = Catalog(path)
    _dated_writes(catalog, [5, 1])
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT generation, dead, misplaced FROM vector_file, vector_order").fetchone() == (0, 0, 48)
    catalog.close()


def test_the_release_before_still_opens_a_catalog_this_one_wrote(tmp_path: Path) -> None:
    """It inserts its three values into vector_file on opening (as its schema script does), and a catalog that
    kept the count of the file's order in two more columns of it (for a day) is put back as it expects."""
    path = tmp_path / "catalog.sqlite3"
    Catalog(path).close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT OR IGNORE INTO vector_file VALUES (0, 0, 0)")
        db.execute("ALTER TABLE vector_file ADD COLUMN misplaced INTEGER NOT NULL DEFAULT 0")
        db.execute("ALTER TABLE vector_file ADD COLUMN last_ts INTEGER")
    catalog = Catalog(path)
    _dated_writes(catalog, [5, 1])
    catalog.close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT OR IGNORE INTO vector_file VALUES (0, 0, 0)")
        assert db.execute("SELECT misplaced FROM vector_order").fetchone() == (48,)


def test_a_compaction_copies_without_the_writers_turn_and_takes_in_what_was_written_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process writes while the copy is made (after its snapshot): the switch copies those vectors too,
    after the rest, and the replaced article's copy counts as dead; every reader reads what the rows say."""
    path = tmp_path / "catalog.sqlite3"
    catalog, other_process = Catalog(path), Catalog(path)
    _dated_writes(catalog, [30, 10, 20])  # a00 (day 30), a01 (10), a02 (20)
    scratch = catalog._vectors.scratch

    def scratch_while_another_writes(tag: str) -> qa.vector_file.ScratchFile:
        made = scratch(tag)
        with other_process.transaction() as writer:
            writer.put(_dated("a00", 30), published_timestamp("2024-01-31"), b"", _vectors(3, 100))  # replaced
            writer.put(_dated("a03", 5), published_timestamp("2024-01-06"), b"", _vectors(3, 3))  # new
        return made

    monkeypatch.setattr(catalog._vectors, "scratch", scratch_while_another_writes)
    assert catalog.compact()
    assert _vector_files(path) == ["catalog.vectors.1.f32"] and not list(tmp_path.glob("*.tmp"))
    assert _in_file_order(path) == ["a01", "a02", "a03", "a00"], "copied in order, then what came meanwhile"
    with sqlite3.connect(path) as db:
        dead, misplaced = db.execute("SELECT dead, misplaced FROM vector_file, vector_order").fetchone()
    assert dead == 48, "a00's vectors as the snapshot had them"
    assert misplaced == 48, "a03 (day 5) after a02 (day 20)"
    everything = SearchFilter(article_ids=["a00", "a01", "a02", "a03"])
    expected = np.concatenate([_vectors(3, 100), _vectors(3, 1), _vectors(3, 2), _vectors(3, 3)])
    for reader in (catalog, other_process):
        assert np.array_equal(held(reader, everything).vectors, expected)
    catalog.close()
    other_process.close()


def _put_dated(writer: qa.catalog.CatalogWriter, article_id: str, day: int, seed: int) -> None:
    info = _dated(article_id, day)
    writer.put(info, published_timestamp(info.published), b"", _vectors(3, seed))


def _copy_tables(path: Path) -> list[str]:
    """The tables of rows a compaction writes beside the current ones (qa.catalog._NEXT_SPANS)."""
    with sqlite3.connect(path) as db:
        query = (
            "SELECT name FROM sqlite_master WHERE name LIKE 'vector_spans_next_%' OR name LIKE 'vector_spans_written_%'"
        )
        return [row[0] for row in db.execute(query)]


@pytest.mark.parametrize("written_before_the_switch", [False, True])
def test_what_is_written_during_a_compactions_copy_is_copied_again_before_the_switch_takes_the_writers_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written_before_the_switch: bool
) -> None:
    """A bulk import writes on while the copy is made: what it wrote (new, replaced, removed) is copied again
    without the writers' turn, so the switch, which holds it, copies only what came after the last copy. It looks
    at the rows again only if something was written after the last look. The rows of the new file replace the
    current ones whole, and no table of the copy's is left."""
    monkeypatch.setattr(qa.catalog, "_SWITCH_AFTER", 1)  # articles: the switch copies one at most
    path = tmp_path / "catalog.sqlite3"
    catalog, other_process = Catalog(path), Catalog(path)
    _dated_writes(catalog, [30, 10, 20])  # a00 (day 30), a01 (10), a02 (20)
    taken: list[tuple[bool, list[str], list[str]]] = []  # each copy: inside the writers' turn, articles, dropped
    looks: list[bool] = []  # each look at the rows: inside the writers' turn
    logged: list[list[str]] = []  # each look: the articles the triggers logged as written since the last look
    take, changes, sync = qa.catalog._Copy.take, qa.catalog._Copy.changes, qa.vector_file.ScratchFile.sync

    def take_while_another_writes(
        copy: qa.catalog._Copy, connection: sqlite3.Connection, rows: list[tuple[object, ...]], gone: list[str]
    ) -> None:
        taken.append((connection.in_transaction, [str(row[0]) for row in rows], sorted(gone)))
        take(copy, connection, rows, gone)
        if len(taken) == 1:
            with other_process.transaction() as writer:
                _put_dated(writer, "a00", 30, 100)  # replaced
                _put_dated(writer, "a03", 5, 3)
                _put_dated(writer, "a04", 40, 4)
                writer.remove(["a01"])
        elif len(taken) == 2:
            with other_process.transaction() as writer:
                _put_dated(writer, "a05", 1, 5)

    def look(copy: qa.catalog._Copy, connection: sqlite3.Connection) -> tuple[list[tuple[object, ...]], list[str]]:
        looks.append(connection is catalog._db)
        new = f'SELECT article_id FROM "{copy.written}" WHERE rowid > ?'
        logged.append(sorted({row[0] for row in connection.execute(new, [copy._logged_through])}))
        found = changes(copy, connection)
        if written_before_the_switch and len(looks) == 2:
            with other_process.transaction() as writer:  # after the last look, before the switch
                _put_dated(writer, "a06", 50, 6)
        return found

    synced: list[int] = []  # the copies taken when the scratch file was synced

    def sync_in_order(scratch: qa.vector_file.ScratchFile) -> None:
        sync(scratch)
        synced.append(len(taken))

    monkeypatch.setattr(qa.catalog._Copy, "take", take_while_another_writes)
    monkeypatch.setattr(qa.catalog._Copy, "changes", look)
    monkeypatch.setattr(qa.vector_file.ScratchFile, "sync", sync_in_order)
    assert catalog.compact()
    last = ["a05", "a06"] if written_before_the_switch else ["a05"]
    assert taken == [
        (False, ["a01", "a02", "a00"], []),  # the snapshot, in order of publication
        (False, ["a03", "a00", "a04"], ["a00", "a01"]),  # what the first copy missed, without the turn
        (True, last, []),  # the switch
    ]
    assert looks == [False, False, *([True] if written_before_the_switch else [])]
    # after the snapshot's copy (what is written during that sync is copied without the turn), then at the switch
    assert synced == [1, 3]
    # only what was written since the last look is looked at (a02, never written, never is)
    assert logged == [["a00", "a01", "a03", "a04"], ["a05"], *([["a06"]] if written_before_the_switch else [])]
    assert _vector_files(path) == ["catalog.vectors.1.f32"] and not list(tmp_path.glob("*.tmp"))
    assert _copy_tables(path) == []
    assert _in_file_order(path) == ["a02", "a03", "a00", "a04", *last]
    with sqlite3.connect(path) as db:
        dead, misplaced = db.execute("SELECT dead, misplaced FROM vector_file, vector_order").fetchone()
    assert dead == 2 * 48, "a01's copy and a00's first one"
    assert misplaced == 2 * 48, "a03 (day 5) after a00 (day 30), a05 (day 1) after a04 (day 40)"
    everything = SearchFilter(article_ids=["a00", "a01", "a02", "a03", "a04", "a05", "a06"])
    expected = np.concatenate([_vectors(3, seed) for seed in (100, 2, 3, 4, 5, 6)[: 4 + len(last)]])
    for reader in (catalog, other_process):
        found = held(reader, everything)
        assert [i.split("::")[0] for i in found.ids[::3]] == ["a00", "a02", "a03", "a04", *last]
        assert np.array_equal(found.vectors, expected)
    catalog.close()
    other_process.close()


def test_a_compaction_that_fails_leaves_the_rows_and_no_table_or_file_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog(path)
    _dated_writes(catalog, [30, 10, 20])
    before = held(catalog, SearchFilter(article_ids=["a00", "a01", "a02"]))

    def full_disk(self: qa.vector_file.ScratchFile, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(qa.vector_file.ScratchFile, "append", full_disk)
    with pytest.raises(OSError, match="No space"):
        catalog.compact()
    assert _copy_tables(path) == [] and not list(tmp_path.glob("*.tmp"))
    assert _vector_files(path) == ["catalog.vectors.0.f32"]
    after = held(catalog, SearchFilter(article_ids=["a00", "a01", "a02"]))
    assert after.ids == before.ids and np.array_equal(after.vectors, before.vectors)
    with catalog.transaction() as writer:  # and the writers' turn is free
        _put_dated(writer, "a03", 3, 3)
    catalog.close()


def test_a_compaction_that_a_rebuild_overtakes_changes_nothing_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "catalog.sqlite3"
    catalog, other_process = Catalog(path), Catalog(path)
    _dated_writes(catalog, [30, 10])
    scratch = catalog._vectors.scratch

    def scratch_while_another_rebuilds(tag: str) -> qa.vector_file.ScratchFile:
        made = scratch(tag)
        with other_process.transaction() as writer:
            writer.clear()
            writer.put(_dated("a01", 10), published_timestamp("2024-01-11"), b"", _vectors(3, 7))
        return made

    monkeypatch.setattr(catalog._vectors, "scratch", scratch_while_another_rebuilds)
    assert not catalog.compact()
    assert _vector_files(path) == ["catalog.vectors.1.f32"] and not list(tmp_path.glob("*.tmp"))
    assert _copy_tables(path) == []
    assert np.array_equal(held(catalog, SearchFilter(article_ids=["a01"])).vectors, _vectors(3, 7))
    catalog.close()
    other_process.close()


def test_scratch_files_of_processes_that_ended_are_removed_and_a_live_ones_kept(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    Catalog(path).close()
    gone = tmp_path / "catalog.vectors.999999999-0a1b2c3d.tmp"  # no process has that id (the limit is 2**22)
    live = tmp_path / f"catalog.vectors.{os.getpid()}-0a1b2c3d.tmp"
    gone.write_bytes(b"x")
    live.write_bytes(b"x")
    with closing(sqlite3.connect(path, isolation_level=None)) as db:  # and the tables of rows their compactions
        for pid in (999999999, os.getpid()):  # were writing, and the triggers logging what was written meanwhile
            db.execute(f"CREATE TABLE vector_spans_next_{pid}_0a1b2c3d {qa.catalog._SPANS_COLUMNS}")
            qa.catalog._log_written_spans(db, f"vector_spans_written_{pid}_0a1b2c3d")
    catalog = Catalog(path)
    assert not gone.exists() and live.exists()
    mine, log = f"vector_spans_next_{os.getpid()}_0a1b2c3d", f"vector_spans_written_{os.getpid()}_0a1b2c3d"
    assert sorted(_copy_tables(path)) == sorted(
        [mine, log, *(f"{log}_{event}" for event in ("insert", "update", "delete"))]
    )
    with catalog.transaction() as writer:  # writes go on, logged by the live compaction's triggers only
        _put_dated(writer, "a00", 1, 1)
    with sqlite3.connect(path) as db:
        assert db.execute(f"SELECT article_id FROM {log}").fetchall() == [("a00",)]
    catalog.close()


def test_a_catalogs_vector_file_is_read_ahead_and_a_missing_catalog_is_not_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a starting server reads: the current generation's file, start to end (the pages stay in the operating
    system's cache)."""
    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog(path)
    _dated_writes(catalog, [3, 1])
    with catalog.transaction() as writer:
        writer.clear()  # a new generation: the one to read
        for n in range(3):
            writer.put(_dated(f"a{n:02d}", 3), published_timestamp("2024-01-04"), b"", _vectors(3, n))
    catalog.close()
    monkeypatch.setattr(qa.vector_file, "_READ_AHEAD_STEP", 100)  # bytes a read: the file (144 bytes) in two
    reads: list[tuple[str, int, int]] = []
    preadv = qa.vector_file.os.preadv

    def recorded(descriptor: int, buffers: list[bytearray], offset: int) -> int:
        read = preadv(descriptor, buffers, offset)
        reads.append((os.readlink(f"/proc/self/fd/{descriptor}"), offset, read))
        return read

    monkeypatch.setattr(qa.vector_file.os, "preadv", recorded)
    assert qa.catalog.read_ahead(path)
    current = str(tmp_path / "catalog.vectors.1.f32")
    assert reads == [(current, 0, 100), (current, 100, 44), (current, 144, 0)]
    elsewhere = tmp_path / "none" / "catalog.sqlite3"
    assert not qa.catalog.read_ahead(elsewhere)
    assert not elsewhere.parent.exists() and len(reads) == 3
    monkeypatch.chdir(tmp_path)  # the default data directory, ./.qa-data, is a relative path
    assert qa.catalog.read_ahead(Path("catalog.sqlite3"))
    assert reads[3:] == [(current, 0, 100), (current, 100, 44), (current, 144, 0)]


def _dated(article_id: str, day: int) -> ArticleInfo:
    published = (dt.date(2024, 1, 1) + dt.timedelta(days=day)).isoformat()
    return ArticleInfo(id=article_id, title="t", published=published, chunks=3, content_hash="h")


def test_a_failed_write_leaves_the_vectors_and_files_as_they_were(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog(path)
    a = ArticleInfo(id="a", title="A", chunks=2, content_hash="h")
    with catalog.transaction() as writer:
        writer.put(a, None, b"", _vectors(2, 1))
    with pytest.raises(RuntimeError), catalog.transaction() as writer:
        writer.put(a, None, b"", _vectors(2, 2))
        raise RuntimeError("the store refused")
    with pytest.raises(RuntimeError), catalog.transaction() as writer:
        writer.clear()
        writer.put(a, None, b"", _vectors(2, 3))
        raise RuntimeError("the rebuild was interrupted")
    assert np.array_equal(held(catalog, SearchFilter(article_ids=["a"])).vectors, _vectors(2, 1))
    assert _vector_files(path) == ["catalog.vectors.0.f32"], "the new generation of the failed clear is gone"

    with catalog.transaction() as writer:
        writer.clear()
        writer.put(a, None, b"", _vectors(2, 4))
    assert _vector_files(path) == ["catalog.vectors.1.f32"]
    assert np.array_equal(held(catalog, SearchFilter(article_ids=["a"])).vectors, _vectors(2, 4))


def test_vectors_the_file_no_longer_holds_are_read_from_the_store(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog(path)
    with catalog.transaction() as writer:
        writer.put(ArticleInfo(id="a", title="A", chunks=2, content_hash="h"), None, b"", _vectors(2, 1))
        writer.put(ArticleInfo(id="b", title="B", chunks=1, content_hash="h"), None, b"", _vectors(1, 2))
    vector_file = tmp_path / "catalog.vectors.0.f32"
    with vector_file.open("r+b") as file:  # cut short: b's vector (written last) is gone
        file.truncate(2 * 4 * 4)
    found = held(Catalog(path), SearchFilter(article_ids=["a", "b"]))
    assert (found.ids, found.missing) == (["a::0", "a::1"], ["b::0"])
    vector_file.unlink()
    reader = Catalog(path)
    assert held(reader, SearchFilter(article_ids=["a", "b"])).missing == ["a::0", "a::1", "b::0"]
    assert reader.held_chunks(["a::0"], 4).vectors == {}


def test_a_scratch_file_is_synced_a_step_at_a_time_as_it_grows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A compaction's copy is made durable as it is written, never more than a step of it waiting for one sync
    at the end (which held every write's own sync beside it: see qa.vector_file._SCRATCH_SYNC_STEP)."""
    monkeypatch.setattr(qa.vector_file, "_SCRATCH_SYNC_STEP", 1000)
    synced: list[int] = []  # the file's size at each sync
    fdatasync = os.fdatasync

    def recorded(descriptor: int) -> None:
        fdatasync(descriptor)
        synced.append(os.fstat(descriptor).st_size)

    monkeypatch.setattr(qa.vector_file.os, "fdatasync", recorded)
    scratch = qa.vector_file.VectorFile(tmp_path, "catalog.vectors").scratch("1_test")
    offsets = [scratch.append(bytes([n]) * 400) for n in range(10)]
    assert offsets == [400 * n for n in range(10)]
    assert synced == [1200, 2400, 3600]  # each time a step had been appended since the last
    scratch.close(sync=True)
    assert synced == [1200, 2400, 3600, 4000]
    assert scratch.path.read_bytes() == b"".join(bytes([n]) * 400 for n in range(10))
