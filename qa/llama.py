"""llama-index adapters: the packaged MiniLM as a `BaseEmbedding` and the engine's retrieval as a `BaseRetriever`,
so this index plugs into llama-index query engines, evaluators and pipelines.

They live outside the hot path on purpose: importing `llama_index.core` takes about 1.3 s here, more than a whole
`qa ask` may take, so the core calls the embedder and the retriever directly.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from pydantic import PrivateAttr

from qa.domain import RetrievalMode
from qa.embedder import MODEL_ID, MiniLMEmbedder
from qa.service import NewsService


class MiniLMEmbedding(BaseEmbedding):
    """all-MiniLM-L6-v2 on onnxruntime (int8, packaged, offline) as a llama-index embedding model."""

    _embedder: MiniLMEmbedder = PrivateAttr()

    def __init__(self, embedder: MiniLMEmbedder | None = None, **kwargs: Any) -> None:
        super().__init__(model_name=MODEL_ID, **kwargs)
        self._embedder = embedder or MiniLMEmbedder(batch_size=self.embed_batch_size)

    @classmethod
    def class_name(cls) -> str:
        return "MiniLMEmbedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._get_text_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = self._embedder.embed(texts).tolist()
        return vectors


class NewsRetriever(BaseRetriever):
    """The service's hybrid retrieval as llama-index nodes, with the article offsets of each passage."""

    def __init__(self, service: NewsService, top_k: int | None = None, mode: RetrievalMode | None = None) -> None:
        super().__init__()
        self._service = service
        self._top_k = top_k
        self._mode = mode

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        found = self._service.retrieve(query_bundle.query_str, top_k=self._top_k, mode=self._mode)
        return [
            NodeWithScore(
                node=TextNode(
                    id_=p.chunk_id,
                    text=p.text,
                    start_char_idx=p.start,
                    end_char_idx=p.end,
                    metadata={"article_id": p.article_id, "title": p.title, "published": p.published or ""},
                ),
                score=p.score,
            )
            for p in found.passages[: found.top_k]
        ]
