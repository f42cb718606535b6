"""Chunks cover the article with exact offsets, whole sentences, and headings as context."""

from __future__ import annotations

from collections.abc import Sequence

from indexer.pipeline import plan_chunks, plan_window_chunks
from qa.chunking import chunk_article, chunk_id
from qa.domain import Article
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


class _CountingCalls(MiniLMEmbedder):
    """The real tokenizer, remembering how many texts each kind of call counted."""

    def __init__(self, model: MiniLMEmbedder) -> None:
        self.__dict__.update(model.__dict__)
        self.one_by_one = 0
        self.in_one_call: list[int] = []

    def count_tokens(self, text: str) -> int:
        self.one_by_one += 1
        return super().count_tokens(text)

    def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        self.in_one_call.append(len(texts))
        return super().count_tokens_many(texts)


def test_a_window_is_counted_in_one_call_and_cut_as_each_article_alone(embedder: MiniLMEmbedder) -> None:
    """`qa index` counts a window's titles and paragraphs in one call of the tokenizer (on every core, while the
    model waits); the chunks are the same as when each article is cut alone, whatever the budget, and only the
    paragraphs too long to fit are counted again, piece by piece."""
    long_paragraph = " ".join(f"Sentence number {n} of a paragraph that runs on at some length." for n in range(30))
    articles = [
        Article(id="seed", title="Truss and Lavrov", text=_seed_text()),
        Article(id="long", title="A long one", text=f"# Heading\n\n{long_paragraph}\n\nShort.\n\nTiny"),
        Article(id="accents", title="", text="Ünïcödé naïve café 東京. " * 60 + "\n\n" + "Wordwordword" * 200),
        Article(id="same", title="Truss and Lavrov", text="Grain talks resumed in Ankara on Tuesday."),
    ]
    for budget in (64, 128, 256):
        alone = {a.id: plan_chunks(a, embedder, budget) for a in articles}
        counting = _CountingCalls(embedder)
        assert plan_window_chunks(articles, counting, budget) == alone
        paragraphs = 4 + 3 + 2 + 1  # the seed's is at least 4
        assert len(counting.in_one_call) == 1 and counting.in_one_call[0] >= len(articles) + paragraphs
        counted_after, counting.one_by_one = counting.one_by_one, 0
        for a in articles:
            plan_chunks(a, counting, budget)
        assert counting.one_by_one >= len(articles) + paragraphs, "cut alone, each paragraph is counted on its own"
        assert counted_after < counting.one_by_one - len(articles), "in a window, only the pieces of long ones"
    assert alone["long"][0].heading == "Heading" and len(alone["long"]) > 1
