"""The packaged MiniLM on onnxruntime gives the model's real vectors."""

from __future__ import annotations

import numpy as np

from qa.embedder import DIMENSION, MiniLMEmbedder


def test_vectors_are_unit_length_and_semantic(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed(["A man is eating food.", "A man is eating a piece of bread.", "The new movie is awesome"])
    assert vectors.shape == (3, DIMENSION)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # all-MiniLM-L6-v2's published similarity for this pair is 0.7553 (fp32); int8 stays within 0.01
    assert abs(float(vectors[0] @ vectors[1]) - 0.755) < 0.01
    assert float(vectors[0] @ vectors[2]) < 0.1


def test_batching_and_length_sorting_do_not_change_vectors(embedder: MiniLMEmbedder) -> None:
    texts = [
        "short",
        "a much longer sentence about the foreign ministers' talks in Moscow " * 3,
        "medium length text",
    ]
    together = embedder.embed(texts)
    alone = np.stack([embedder.embed([t])[0] for t in texts])
    assert np.allclose(together, alone, atol=1e-4)


def test_span_vectors_pool_the_tokens_of_each_sentence(embedder: MiniLMEmbedder) -> None:
    text = "Truss demanded a withdrawal. Lavrov rejected it."
    spans = [(0, 28), (29, len(text))]
    vectors, span_vectors = embedder.embed_with_spans([text], [spans])
    assert span_vectors[0].shape == (2, DIMENSION)
    assert np.allclose(np.linalg.norm(span_vectors[0], axis=1), 1.0, atol=1e-5)
    # each sentence vector is closer to its own sentence embedded alone than to the other sentence
    first, second = embedder.embed([text[:28], text[29:]])
    assert span_vectors[0][0] @ first > span_vectors[0][0] @ second
    assert span_vectors[0][1] @ second > span_vectors[0][1] @ first
    assert float(vectors[0] @ span_vectors[0][0]) > 0.5


def test_the_model_plans_no_memory_pattern_per_shape(embedder: MiniLMEmbedder) -> None:
    # Indexing runs batches of every shape: a pattern per shape grew the arena to the largest (bench/memory.py).
    assert embedder.session.get_session_options().enable_mem_pattern is False
