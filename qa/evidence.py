"""How well each sentence of a passage answers a question: its meaning and the question's terms it holds.

Both retrieval (to rerank passages by their best sentence) and the extractive answerer (to pick sentences) read
these figures, so they are computed once per question and passage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qa.question import QuestionProfile
from qa.store import StoredChunk
from qa.text import terms_held

NEAR_WEIGHT = 0.5  # a term in the sentence before or in the heading counts half: a cheap stand-in for "she" / "it"


@dataclass(frozen=True)
class SentenceEvidence:
    """Per-sentence figures for one passage (arrays aligned with `chunk.sentences`)."""

    texts: list[str]
    dense: np.ndarray  # cosine of each contextual sentence vector to the question
    lexical: np.ndarray  # idf-weighted share of the question's terms the sentence holds (its neighbours count half)
    coverage: float  # idf-weighted share of the question's terms found anywhere in the passage or its heading
    names: float  # share of the names the question mentions found in the passage or its heading

    @property
    def best_dense(self) -> float:
        """The best sentence's cosine (0 for a passage without sentences)."""
        return float(self.dense.max()) if len(self.dense) else 0.0

    @property
    def best_lexical(self) -> float:
        """The best sentence's term coverage."""
        return float(self.lexical.max()) if len(self.lexical) else 0.0


class QuestionEvidence:
    """A question read once (terms with their idf, names, answer type), measured against passages."""

    def __init__(self, question: str, vector: np.ndarray, idf: Callable[[str], float], dated: bool = False) -> None:
        self.question = question
        self.vector = vector
        self.profile = QuestionProfile.of(question, dated)  # dated: its date became the time window
        # in the question's order: the weighted sums below then add up the same way in every process (a set's order
        # changes with each process's string hashing, and with it the last bits of a score)
        self.weights = {term: idf(term) for term in dict.fromkeys(self.profile.terms)}
        self.total = sum(self.weights.values())
        self._wanted = frozenset(self.weights) | self.profile.names  # the only terms a passage is asked about

    def measure(self, chunks: Sequence[StoredChunk]) -> list[SentenceEvidence]:
        """Evidence for each chunk; all sentences are read in one call, for the question's terms and names."""
        texts = [[c.text[s - c.start : e - c.start] for s, e in c.sentences] for c in chunks]
        flat = [t for chunk_texts in texts for t in chunk_texts] + [c.heading for c in chunks]
        tokens = terms_held(flat, self._wanted) if flat else []
        headings = tokens[len(tokens) - len(chunks) :]
        measured, offset = [], 0
        for chunk, chunk_texts, heading in zip(chunks, texts, headings, strict=True):
            own = tokens[offset : offset + len(chunk_texts)]
            offset += len(chunk_texts)
            measured.append(self._sentences(chunk, chunk_texts, own, heading))
        return measured

    def _sentences(
        self, chunk: StoredChunk, texts: list[str], own: list[set[str]], heading: set[str]
    ) -> SentenceEvidence:
        lexical = np.zeros(len(texts), dtype=np.float32)
        if self.total:
            for index, tokens in enumerate(own):
                near = heading | (own[index - 1] if index else set())
                if not tokens and not near:  # the sets hold only the question's terms: most are empty
                    continue
                held = sum(
                    w * (1.0 if t in tokens else NEAR_WEIGHT if t in near else 0.0) for t, w in self.weights.items()
                )
                lexical[index] = held / self.total
        passage = heading.union(*own)
        coverage = sum(w for t, w in self.weights.items() if t in passage) / self.total if self.total else 0.0
        names = len(self.profile.names & passage) / len(self.profile.names) if self.profile.names else 1.0
        dense = chunk.sentence_vectors @ self.vector if texts else np.zeros(0, dtype=np.float32)
        return SentenceEvidence(texts=texts, dense=dense, lexical=lexical, coverage=coverage, names=names)
