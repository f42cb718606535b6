"""qa/keyword.py: BM25 over chunk texts, including a corpus with nothing but stop words."""

from __future__ import annotations

from pathlib import Path

from qa.keyword import KeywordIndex


def test_search_ranks_chunks_holding_the_question_terms() -> None:
    index = KeywordIndex.build(
        ["a::0", "a::1", "b::0"],
        ["Truss demanded that troops withdraw.", "Lavrov spoke about gas.", "Troops and tanks withdrew."],
        "g1",
    )
    found = index.search("Which troops withdraw?", 5)
    assert [chunk for chunk, _ in found][:2] == ["a::0", "b::0"] and all(score > 0 for _, score in found)
    assert index.search("Which troops withdraw?", 5, article_filter={"b"}) == [found[1]]
    assert index.document_frequency("troop") == 2 and index.idf("troop") < index.idf("tank")


def test_chunks_of_stop_words_only_index_nothing_and_find_nothing(tmp_path: Path) -> None:
    index = KeywordIndex.build(["only::0"], ["It is a the."], "g1")
    assert index.documents == 1 and index.search("What is it?", 5) == []
    assert index.document_frequency("it") == 0 and index.idf("anything") > 0
    index.save(tmp_path / "bm25")
    loaded = KeywordIndex.load(tmp_path / "bm25")
    assert loaded is not None and loaded.generation == "g1" and loaded.chunk_ids == ["only::0"]
    assert loaded.search("What is it?", 5) == []


def test_a_saved_index_loads_with_the_same_scores(tmp_path: Path) -> None:
    index = KeywordIndex.build(["a::0", "a::1"], ["Grain exports resume from Odesa.", "It is a the."], "g2")
    index.save(tmp_path / "bm25")
    loaded = KeywordIndex.load(tmp_path / "bm25")
    assert loaded is not None and loaded.search("grain from Odesa", 5) == index.search("grain from Odesa", 5)
