"""The query engine every shell calls: validate, retrieve, answer, cite."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence

from qa.domain import Answer
from qa.embedder import MiniLMEmbedder
from qa.errors import InvalidInput
from qa.evidence import QuestionEvidence
from qa.extractive import ExtractiveAnswerer
from qa.keyword import KeywordIndex, open_keyword_index
from qa.retrieval import HybridRetriever, Mode, to_passages
from qa.settings import Settings
from qa.store import ChromaStore


class Engine:
    """Answers questions over one index with one answerer."""

    def __init__(self, settings: Settings, store: ChromaStore, embedder: MiniLMEmbedder) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.keyword: KeywordIndex | None = None
        self._refresh_lock = threading.Lock()

    def refresh(self) -> KeywordIndex:
        """Bring the keyword index in step with the store (cheap when nothing changed)."""
        self.store.require()
        generation = self.store.generation()
        keyword = self.keyword
        if keyword is None or keyword.generation != generation:
            with self._refresh_lock:  # one rebuild at a time; askers keep the old index until it is swapped in
                if self.keyword is None or self.keyword.generation != generation:
                    self.keyword = open_keyword_index(self.store, self.settings.data_dir)
                keyword = self.keyword
        return keyword

    def validate(self, question: str) -> str:
        """The question, stripped; an InvalidInput saying what to do when it cannot be asked."""
        question = question.strip() if isinstance(question, str) else ""
        if not question:
            raise InvalidInput('The question is empty. Ask something, e.g.: qa ask "What did Truss demand?"')
        if len(question) > self.settings.max_question_chars:
            raise InvalidInput(
                f"The question is {len(question):,} characters long; the limit is "
                f"{self.settings.max_question_chars:,} (QA_MAX_QUESTION_CHARS). Ask a shorter question."
            )
        return question

    def ask(
        self,
        question: str,
        top_k: int | None = None,
        article_ids: Sequence[str] | None = None,
        mode: Mode | None = None,
        depth: int = 0,
    ) -> Answer:
        """Answer one question with cited, verbatim quotes, or abstain.

        The answerer reads the best `top_k` passages; `depth` asks for more in `Answer.passages` (for evaluation)
        without changing the answer.
        """
        began = time.perf_counter()
        question = self.validate(question)
        keyword = self.refresh()
        top_k = top_k or self.settings.top_k
        evidence = QuestionEvidence(question, self.embedder.embed([question])[0], keyword.idf)
        retriever = HybridRetriever(self.store, keyword, max(self.settings.candidates, depth))
        hits = retriever.retrieve(evidence, max(top_k, depth), mode or self.settings.retrieval, article_ids)
        infos = self.store.article_infos(sorted({hit.chunk.article_id for hit in hits}))
        titles = {i: (a.title, a.published, a.source) for i, a in infos.items()}
        passages = to_passages(hits, titles)
        answerer = ExtractiveAnswerer(self.settings.abstain_threshold, self.settings.max_answer_sentences)
        result = answerer.answer(evidence, hits[:top_k], passages[:top_k])
        return Answer(
            question=question,
            answer=result.answer,
            abstained=result.abstained,
            citations=result.citations,
            passages=passages,
            backend=answerer.name,
            elapsed_ms=round((time.perf_counter() - began) * 1000, 2),
        )

    def stream(
        self, question: str, top_k: int | None = None, article_ids: Sequence[str] | None = None
    ) -> Iterator[str | Answer]:
        """The answer text in pieces as it is produced, then the whole Answer (with its citations)."""
        answer = self.ask(question, top_k=top_k, article_ids=article_ids)
        # The extractive answer exists whole at once; a few words a piece keeps one protocol for every backend.
        yield from (piece for piece in _STREAM_PIECE.findall(answer.answer))
        yield answer


_STREAM_PIECE = re.compile(r"\S+(?:\s+\S+){0,3}\s*")
