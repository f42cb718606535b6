"""Chunks cover the article with exact offsets, whole sentences, and headings as context."""

from __future__ import annotations

from qa.chunking import chunk_article, chunk_id
from qa.embedder import MiniLMEmbedder
from qa.text import normalise_article_text, sentence_spans
from tests.conftest import SEED_ID, SEEDS


def _seed_text() -> str:
    raw = (SEEDS / f"{SEED_ID}.md").read_text(encoding="utf-8")
    return normalise_article_text(raw.split("---", 2)[2])


def test_chunks_quote_the_article_exactly_and_keep_every_sentence(embedder: MiniLMEmbedder) -> None:
    text = _seed_text()
    chunks = chunk_article(SEED_ID, text, embedder.count_tokens, 200)
    assert chunks, "the seed article yields chunks"
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        for start, end in chunk.sentences:
            assert chunk.start <= start < end <= chunk.end
    all_sentences = [s for c in chunks for s in c.sentences]
    assert all_sentences == sentence_spans(text), "no sentence lost, none repeated"
    assert [c.id for c in chunks] == [chunk_id(SEED_ID, i) for i in range(len(chunks))]


def test_headings_join_their_paragraph_and_label_the_next(embedder: MiniLMEmbedder) -> None:
    chunks = chunk_article(SEED_ID, _seed_text(), embedder.count_tokens, 200)
    truss = [c for c in chunks if c.heading == "Remarks of Liz Truss"]
    assert truss[0].text.startswith("Remarks of Liz Truss\n\nAs far as UK Foreign Secretary")
    assert any("troops withdraw" in c.text for c in truss), "the next paragraph keeps the section's heading"
    assert not any(c.text.strip() == "Remarks of Liz Truss" for c in chunks), "a heading is never a chunk alone"


def test_long_paragraphs_split_at_sentence_boundaries(embedder: MiniLMEmbedder) -> None:
    sentence = "The committee reviewed the sanctions law in great detail during a long session. "
    text = (sentence * 40).strip()
    chunks = chunk_article("long", text, embedder.count_tokens, 64)
    assert len(chunks) > 5
    assert all(embedder.count_tokens(c.text) <= 64 for c in chunks)
    assert all(c.text.endswith("session.") for c in chunks)
    assert "".join(text[c.start : c.end] for c in chunks).replace(" ", "") == text.replace(" ", "")


def test_chunking_is_deterministic(embedder: MiniLMEmbedder) -> None:
    text = _seed_text()
    first = chunk_article(SEED_ID, text, embedder.count_tokens, 200)
    second = chunk_article(SEED_ID, text, embedder.count_tokens, 200)
    assert first == second
