"""qa/keyword.py: BM25 over chunk texts with tantivy, changed in place, filtered inside the query."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest

from qa.domain import SearchFilter
from qa.keyword import K1, B, KeywordDoc, KeywordIndex
from qa.text import tokenize

DOCS = [
    KeywordDoc("a::0", "a", "Truss demanded that troops withdraw.", "Wire", 1_644_451_200),  # 2022-02-10
    KeywordDoc("a::1", "a", "Lavrov spoke about gas.", "Wire", 1_644_451_200),
    KeywordDoc("b::0", "b", "Troops and tanks withdrew. Troops stayed.", "Post", 1_657_843_200),  # 2022-07-15
    KeywordDoc("c::0", "c", "Ministers talked about tanks for a long time.", None, None),
]


@pytest.fixture
def index(tmp_path: Path) -> KeywordIndex:
    keyword = KeywordIndex(tmp_path / "keyword")
    with keyword.writing() as writer:
        writer.add(DOCS)
    return keyword


def bm25(question: str, doc: KeywordDoc, index: KeywordIndex, docs: list[KeywordDoc] = DOCS) -> float:
    """bm25s's Lucene variant, by hand, over `docs` (what the index holds)."""
    (terms,) = tokenize([question])
    (body,) = tokenize([doc.text])
    lengths = [len(t) for t in tokenize([d.text for d in docs])]
    norm = K1 * (1 - B + B * len(body) / (sum(lengths) / len(lengths)))
    return sum(index.idf(t) * body.count(t) / (norm + body.count(t)) for t in terms if t in body)


def test_search_scores_with_the_fitted_bm25_and_ranks_by_it(index: KeywordIndex) -> None:
    found = index.search("Which troops withdraw?", 5)
    assert [chunk for chunk, _ in found] == ["a::0", "b::0"]
    assert [score for _, score in found] == pytest.approx(
        [bm25("Which troops withdraw?", d, index) for d in DOCS[::2][:2]]
    )
    assert index.documents == 4 and index.document_frequency("troop") == 2
    assert index.idf("troop") == pytest.approx(math.log(1 + (4 - 2 + 0.5) / (2 + 0.5)))


def test_filters_are_part_of_the_query(index: KeywordIndex) -> None:
    question = "troops tanks"
    assert [c for c, _ in index.search(question, 5, SearchFilter(article_ids=["b", "c"]))] == ["b::0", "c::0"]
    assert [c for c, _ in index.search(question, 5, SearchFilter(sources=["Wire"]))] == ["a::0"]
    july = SearchFilter(since=dt.datetime(2022, 7, 1, tzinfo=dt.UTC), until=dt.datetime(2022, 8, 1, tzinfo=dt.UTC))
    assert [c for c, _ in index.search(question, 5, july)] == ["b::0"], "an undated chunk is in no window"
    until = SearchFilter(until=dt.datetime(2022, 7, 15, tzinfo=dt.UTC))
    assert [c for c, _ in index.search(question, 5, until)] == ["a::0"], "until is exclusive"


def test_an_article_is_replaced_and_removed_in_place(index: KeywordIndex) -> None:
    with index.writing() as writer:
        writer.remove_article("a")
        writer.add([KeywordDoc("a::0", "a", "Grain exports resume from Odesa.")])
    assert index.search("troops withdraw", 5) == index.search("troops", 5)
    assert [c for c, _ in index.search("troops", 5)] == ["b::0"]
    assert [c for c, _ in index.search("grain Odesa", 5)] == ["a::0"] and index.documents == 3
    with index.writing() as writer:
        writer.remove_article("a")
    assert index.search("grain Odesa", 5) == [] and index.documents == 2


def test_articles_written_one_at_a_time_do_not_pile_up_segments(index: KeywordIndex) -> None:
    # an archive written an article a minute: each write commits a segment, which must be merged as they come
    for n in range(40):
        with index.writing() as writer:
            writer.add(
                [KeywordDoc(f"n{n}::{p}", f"n{n}", f"Story {n} part {p} about harbour cranes.") for p in range(3)]
            )
    assert index.documents == 4 + 120
    assert index.segments <= 10, f"{index.segments} segments after 41 commits: they are not being merged"
    assert len(index.search("harbour cranes", 200)) == 120


def test_a_failed_write_changes_nothing(index: KeywordIndex) -> None:
    with pytest.raises(RuntimeError), index.writing() as writer:
        writer.remove_article("b")
        raise RuntimeError("killed half-way")
    assert {c for c, _ in index.search("troops", 5)} == {"a::0", "b::0"}


def test_chunks_of_stop_words_only_find_nothing(tmp_path: Path) -> None:
    keyword = KeywordIndex(tmp_path / "keyword")
    with keyword.writing() as writer:
        writer.add([KeywordDoc("only::0", "only", "It is a the.")])
    assert keyword.documents == 1 and keyword.search("What is it?", 5) == []
    assert keyword.document_frequency("it") == 0 and keyword.idf("anything") > 0


def test_another_process_sees_a_commit_after_reload(tmp_path: Path, index: KeywordIndex) -> None:
    other = KeywordIndex(index.directory)
    with index.writing() as writer:
        writer.add([KeywordDoc("d::0", "d", "Grain exports resume from Odesa.")])
    assert other.search("Odesa", 5) == []
    other.reload()
    assert [c for c, _ in other.search("Odesa", 5)] == ["d::0"]


def test_an_index_changed_in_place_scores_as_one_built_from_its_chunks(tmp_path: Path, index: KeywordIndex) -> None:
    """tantivy counts a deleted chunk in a term's document frequency until its segment is merged: scored with the
    live count of chunks, a term could get a negative idf after an edit and its chunks drop out of the results."""
    with index.writing() as writer:
        writer.remove_article("b")
        writer.remove_article("c")
        writer.add([KeywordDoc("b::0", "b", "Grain exports resume from Odesa.")])
    fresh = KeywordIndex(tmp_path / "fresh")
    with fresh.writing() as writer:
        writer.add([*DOCS[:2], KeywordDoc("b::0", "b", "Grain exports resume from Odesa.")])
    assert index.document_frequency("troop") == fresh.document_frequency("troop") == 1
    for question in ("troops tanks", "Which troops withdraw?", "grain exports", "Lavrov"):
        assert index.search(question, 5) == fresh.search(question, 5), question
    assert [c for c, _ in index.search("troops tanks", 5)] == ["a::0"]


def test_containing_all_finds_only_chunks_with_every_word(tmp_path: Path) -> None:
    index = KeywordIndex(tmp_path / "keyword")
    with index.writing() as writer:
        writer.add(
            [
                KeywordDoc("a::0", "a", "The Bank of Valdra cut its rate."),
                KeywordDoc("b::0", "b", "Valdra's storm season began early."),
                KeywordDoc("c::0", "c", "The bank raised its fees.", source="Wire"),
            ]
        )
    assert index.containing_all("bank of Valdra", 10) == ["a::0"]
    assert sorted(index.containing_all("banks", 10)) == ["a::0", "c::0"]  # stemmed as questions are
    assert index.containing_all("bank", 10, SearchFilter(sources=["Wire"])) == ["c::0"]
    assert index.containing_all("of the", 10) == []  # stop words alone ask for nothing


def test_the_average_length_follows_every_change_without_summing_every_chunk(index: KeywordIndex) -> None:
    """BM25's average length comes from a total kept in the same commit as the chunks: after a replace, a remove,
    an add removed again within the same write and a failed write, scores are those of the chunks held."""
    grain = KeywordDoc("a::0", "a", "Grain exports resume from Odesa, and troops withdraw from the port of Odesa.")
    with index.writing() as writer:
        writer.remove_article("a")
        writer.add([grain, KeywordDoc("e::0", "e", "Troops withdraw and then troops return again.")])
        writer.remove_article("e")  # added, then removed again: its length must not count
    with pytest.raises(RuntimeError), index.writing() as writer:
        writer.remove_article("b")
        raise RuntimeError("killed half-way")
    held = [grain, DOCS[2], DOCS[3]]
    assert index.documents == 3
    found = dict(index.search("Which troops withdraw?", 5))
    assert sorted(found) == ["a::0", "b::0"]
    for doc in held[:2]:
        assert found[doc.chunk_id] == pytest.approx(bm25("Which troops withdraw?", doc, index, held))
    reopened = KeywordIndex(index.directory)  # another process reads the same total
    assert reopened.documents == 3 and dict(reopened.search("Which troops withdraw?", 5)) == pytest.approx(found)


def test_an_index_written_before_the_total_was_kept_is_summed_until_its_next_write(tmp_path: Path) -> None:
    import tantivy

    from qa.keyword import _schema

    directory = tmp_path / "keyword"
    directory.mkdir()
    (directory / "version").write_text("2")  # as the release before wrote it: the same fields, no total
    old = tantivy.Index(_schema(), path=str(directory), reuse=True)
    writer = old.writer(heap_size=15_000_000, num_threads=1)
    for doc, terms in zip(DOCS, tokenize([d.text for d in DOCS]), strict=True):
        writer.add_document(
            tantivy.Document(chunk_id=doc.chunk_id, article_id=doc.article_id, body=" ".join(terms), length=len(terms))
        )
    writer.commit()
    writer.wait_merging_threads()
    del writer
    index = KeywordIndex(directory)
    # taken as it is (not built again), and marked so that the release before builds it again rather than read a
    # total it does not know about as a chunk
    assert (directory / "version").read_text() == "3"
    expected = {d.chunk_id: bm25("Which troops withdraw?", d, index) for d in (DOCS[0], DOCS[2])}
    assert index.documents == 4 and dict(index.search("Which troops withdraw?", 5)) == pytest.approx(expected)
    with index.writing() as writer:
        writer.remove_article("c")
    held = DOCS[:3]
    assert index.documents == 3
    assert dict(index.search("Which troops withdraw?", 5)) == pytest.approx(
        {d.chunk_id: bm25("Which troops withdraw?", d, index, held) for d in (DOCS[0], DOCS[2])}
    )
