"""Sentence vectors as the store keeps them in a Chroma metadata string (qa.store.encode_vectors)."""

from __future__ import annotations

import numpy as np

from qa.store import decode_vectors, encode_vectors
from tests.conftest import schema_4_vectors


def _unit(rows: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, 384)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_int8_rows_keep_every_cosine_to_a_thousandth_in_half_the_bytes() -> None:
    sentences, questions = _unit(12, 0), _unit(200, 1)
    blob = encode_vectors(sentences)
    back = decode_vectors(blob, 384)
    assert back.dtype == np.float32 and back.shape == sentences.shape
    assert np.abs(back @ questions.T - sentences @ questions.T).max() < 2e-3
    assert len(blob) < 0.52 * len(schema_4_vectors(sentences))


def test_the_float16_rows_of_schema_4_are_read_as_they_were() -> None:
    sentences = _unit(3, 2)
    assert np.array_equal(
        decode_vectors(schema_4_vectors(sentences), 384), sentences.astype(np.float16).astype(np.float32)
    )


def test_no_rows_and_a_zero_row_come_back_as_they_went() -> None:
    assert decode_vectors(encode_vectors(np.zeros((0, 384), dtype=np.float32)), 384).shape == (0, 384)
    zero = np.zeros((1, 384), dtype=np.float32)
    assert np.array_equal(decode_vectors(encode_vectors(zero), 384), zero)


def test_rows_written_again_from_what_was_read_do_not_drift() -> None:
    """An unchanged chunk of an edited article is written again from its stored sentence vectors."""
    once = encode_vectors(_unit(5, 3))
    assert encode_vectors(decode_vectors(once, 384)) == once
