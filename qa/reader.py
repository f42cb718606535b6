"""The span reader: how likely each word of a cited quote is to start or end the answer (ONNX, no torch).

all-MiniLM-L6-v2 fine-tuned for extractive question answering, SQuAD-style (a start and an end score per word
piece of "[CLS] question [SEP] quote [SEP]"), by `python -m eval.fit_reader` on the questions of half of
XQuAD-en's articles; int8 weights in qa/assets/reader.onnx (see qa/assets/NOTICE.md). It is one feature of the
short-answer picker (qa.span), which still decides which spans may answer at all (answer type, clause, length).
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from qa.background import load_beside
from qa.embedder import MiniLMEmbedder, spin_briefly

MAX_TOKENS = 256  # question and quote together; a longer quote is cut (its tail gets no score)
_NO_SCORE = -30.0  # a span the reader cannot place (its words cut off): about e^-30, never its pick
# Two quotes read side by side, one thread each: 12 ms for two of about 60 word pieces, against 17-19 ms one after
# the other on two threads (the same scores to the bit); a lone quote keeps both threads (8 ms against 11).
LANES = 2
# ...but only quotes of about one length: side by side, a pair takes as long as its longer quote on one thread.
# Of 49 pairs recorded from XQuAD-en questions at 1M chunks, those whose shorter quote had under 0.6 of the longer's
# word pieces read faster one after the other on both threads (30 and 96 word pieces: 14.9 ms against 18.5; 96 and
# 50: 16.4 against 20.6); replayed interleaved, the 18 such pairs took 277 ms in all against 291.
BALANCED = 0.6
_LANE_POOL = ThreadPoolExecutor(max_workers=LANES, thread_name_prefix="reader-lane")


@dataclass(frozen=True)
class Reading:
    """One quote as the reader read it: each of its word pieces' place in the quote, and the log-probability
    that the answer starts or ends there."""

    offsets: list[tuple[int, int]]
    starts: np.ndarray
    ends: np.ndarray

    def span_score(self, start: int, end: int) -> float:
        """log P(start) + log P(end) for the quote's characters [start, end). By bisection: a question's few
        hundred candidate spans are scored against the same word pieces."""
        first = bisect_right(self._piece_starts, start) - 1  # the word piece holding `start`
        last = bisect_left(self._piece_starts, end) - 1  # the last word piece beginning before `end`
        if first < 0 or start >= self.offsets[first][1] or last < first:
            return _NO_SCORE
        return float(self.starts[first] + self.ends[last])

    @cached_property
    def _piece_starts(self) -> list[int]:
        return [a for a, _ in self.offsets]


class SpanReader:
    """The reader model, loaded on first use (a process that never needs a short answer never pays for it)."""

    def __init__(self, model_path: Path | None = None) -> None:
        self._model_path = model_path
        self._loading = threading.Lock()
        self._starting = threading.Lock()  # what load_in_background has started
        self._load_started = False
        self._lanes_started = False

    def load_in_background(self, lanes: bool = False) -> threading.Thread | None:
        """Start loading the model on a thread of its own, once: a question's retrieval runs beside it (in a cold
        `qa ask`, 0.2-0.35 s of load that its short answer would otherwise wait for). `read` waits for the rest.
        With `lanes`, then the one-thread session that reads several quotes side by side: for a process that
        answers many questions (a server, `qa eval`), not one that answers one and exits (`qa ask`), which would
        wait for a second load it never uses. The thread (None: nothing left to start)."""
        if "_session" in self.__dict__ and (not lanes or "_lane_session" in self.__dict__):
            return None  # loaded: every question asks, and need not take a lock
        with self._starting:
            main = not self._load_started and "_session" not in self.__dict__
            side = lanes and not self._lanes_started
            self._load_started |= main
            self._lanes_started |= side
        if not (main or side):
            return None

        def load() -> None:
            if main:
                self._load()
            if side:
                _ = self._lane_session

        return load_beside(load, "reader-load")

    def _load(self) -> None:
        with self._loading:
            _ = self._tokenizer, self._session

    @cached_property
    def _tokenizer(self) -> Tokenizer:
        tokenizer = MiniLMEmbedder.tokenizer_only()  # the base model's vocabulary: fine-tuning kept it
        tokenizer.enable_truncation(MAX_TOKENS, strategy="only_second")
        return tokenizer

    @cached_property
    def _session(self) -> ort.InferenceSession:
        # every core (a quote of 45 word pieces: 6.0 ms on two threads, 9.4 ms on one)
        return self._new_session(threads=0)

    @cached_property
    def _lane_session(self) -> ort.InferenceSession:
        """One thread, for quotes read side by side (onnxruntime runs one session from several threads)."""
        return self._new_session(threads=1)

    def _new_session(self, threads: int) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        if threads != 1:
            spin_briefly(options)  # no thread holding a core between runs, none asleep between operations
        options.log_severity_level = 3
        path = self._model_path or Path(str(resources.files("qa") / "assets" / "reader.onnx"))
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def read(self, question: str, quotes: Sequence[str]) -> list[Reading]:
        """Each quote read against the question on its own, never in a batch: the int8 model quantises a batch's
        activations on the whole batch's range, so in a batch a quote's scores would depend on the quotes beside
        it (a probability moved by 0.1 in a test). Quotes of about one length (BALANCED) are read side by side
        once the lanes' session has loaded (see load_in_background), others one after the other on every core:
        the same scores to the bit either way."""
        with self._loading:  # two first questions at once load it once
            tokenizer, session = self._tokenizer, self._session
        encodings = tokenizer.encode_batch([(question, quote) for quote in quotes])
        lanes = self.__dict__.get("_lane_session")
        if lanes is not None and len(encodings) > 1 and side_by_side([len(e.ids) for e in encodings]):
            return list(_LANE_POOL.map(lambda encoding: _read_one(lanes, encoding), encodings))
        return [_read_one(session, encoding) for encoding in encodings]


def side_by_side(pieces: Sequence[int]) -> bool:
    """Whether quotes of these lengths (word pieces, question included) are read faster side by side, one
    thread each, than one after the other on every core."""
    return len(pieces) > 1 and min(pieces) >= BALANCED * max(pieces)


def _read_one(session: ort.InferenceSession, encoding: Encoding) -> Reading:
    """One "[CLS] question [SEP] quote [SEP]" through the model: the quote's word pieces and their scores."""
    ids = np.array([encoding.ids], dtype=np.int64)
    types = np.array([encoding.type_ids], dtype=np.int64)
    starts, ends = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": types})
    quote = [k for k, sequence in enumerate(encoding.sequence_ids) if sequence == 1]
    return Reading(
        offsets=[encoding.offsets[k] for k in quote],
        starts=_log_softmax(starts[0, quote]),
        ends=_log_softmax(ends[0, quote]),
    )


def _log_softmax(scores: np.ndarray) -> np.ndarray:
    """Log-probabilities over one quote's word pieces."""
    if not len(scores):
        return scores
    shifted = scores - scores.max()
    normalised: np.ndarray = shifted - np.log(np.exp(shifted).sum())
    return normalised
