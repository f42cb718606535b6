"""The llama-index adapters work with llama-index's own machinery (no OpenAI involved)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qa.embedder import MiniLMEmbedder
from qa.settings import Settings
from qa.wiring import open_service
from tests.conftest import SEED_ID


def test_minilm_embedding_is_a_llama_index_embedding(embedder: MiniLMEmbedder) -> None:
    from qa.llama import MiniLMEmbedding

    model = MiniLMEmbedding(embedder)
    query = model.get_query_embedding("A man is eating food.")
    texts = model.get_text_embedding_batch(["A man is eating a piece of bread.", "The new movie is awesome."])
    assert len(query) == 384 and len(texts) == 2
    assert np.allclose(query, embedder.embed(["A man is eating food."])[0], atol=1e-6)
    assert model.similarity(query, texts[0]) > model.similarity(query, texts[1])


def test_news_retriever_answers_a_llama_index_query_engine(seeded_dir: Path) -> None:
    from llama_index.core.llms import MockLLM
    from llama_index.core.query_engine import RetrieverQueryEngine

    from qa.llama import NewsRetriever

    service = open_service(Settings(data_dir=seeded_dir))
    query_engine = RetrieverQueryEngine.from_args(NewsRetriever(service, top_k=3), llm=MockLLM())
    response = query_engine.query("What did Truss demand?")
    nodes = response.source_nodes
    assert len(nodes) == 3 and all(n.node.metadata["article_id"] == SEED_ID for n in nodes)
    text = service.get_article(SEED_ID).text
    assert any("troops withdraw" in n.node.get_content() for n in nodes)
    assert all(text[n.node.start_char_idx : n.node.end_char_idx] == n.node.get_content() for n in nodes)
