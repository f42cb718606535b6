"""Syndicated copies among retrieved passages: each sentence of a story is read once.

Another outlet's copy of a wire story would take a second place among the few passages an answer reads, and the
answer would cite the same sentence twice. A passage is set aside when its text repeats a better passage's word
for word, or when its article carries the same story (qa.stories) and each of its sentences is near-equal to a
sentence of the story's better passages. Copies are cut into passages at other places (a dateline or a trimmed
sentence moves the boundaries), so a passage can also share only its first or last sentences with a better one of
the story: those are trimmed off and the rest is kept.
"""

from __future__ import annotations

from dataclasses import replace

from qa.domain import ArticleInfo
from qa.retrieval import Hit
from qa.stories import near_equal, words


def set_copies_aside(hits: list[Hit], infos: dict[str, ArticleInfo]) -> tuple[list[Hit], list[Hit]]:
    """The hits to read (best first, a copy's repeated sentences trimmed off), and the copies set aside (whole,
    as retrieved: they tell where else a quote appears)."""
    kept: list[Hit] = []
    copies: list[Hit] = []
    seen: set[str] = set()
    said: dict[str, list[str]] = {}  # story id -> the sentences of its passages kept so far
    for hit in hits:
        text = " ".join(words(hit.chunk.text))
        info = infos.get(hit.chunk.article_id)
        story = info.story_id if info is not None else None
        if text in seen:
            copies.append(hit)
            continue
        seen.add(text)
        if story is None:
            kept.append(hit)
            continue
        earlier = said.setdefault(story, [])
        repeated = [any(near_equal(sentence, other) for other in earlier) for sentence in hit.evidence.texts]
        if repeated and all(repeated):
            copies.append(hit)
            continue
        trimmed = _trimmed(hit, repeated)
        if trimmed is not hit:
            copies.append(hit)
        kept.append(trimmed)
        earlier.extend(trimmed.evidence.texts)
    return kept, copies


def _trimmed(hit: Hit, repeated: list[bool]) -> Hit:
    """The hit without its leading and trailing repeated sentences (the run between stays whole, so that the
    answerer's adjacent sentences are still adjacent in the text)."""
    first = next((i for i, r in enumerate(repeated) if not r), 0)
    last = len(repeated) - next((i for i, r in enumerate(reversed(repeated)) if not r), 0)
    if first == 0 and last == len(repeated):
        return hit
    chunk, evidence = hit.chunk, hit.evidence
    start, end = chunk.sentences[first][0], chunk.sentences[last - 1][1]
    narrowed = replace(
        chunk,
        text=chunk.text[start - chunk.start : end - chunk.start],
        start=start,
        end=end,
        sentences=chunk.sentences[first:last],
        sentence_vectors=chunk.sentence_vectors[first:last],
    )
    kept_evidence = replace(
        evidence,
        texts=evidence.texts[first:last],
        dense=evidence.dense[first:last],
        lexical=evidence.lexical[first:last],
    )
    return replace(hit, chunk=narrowed, evidence=kept_evidence)
