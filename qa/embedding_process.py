"""The packaged model in a process of its own, for bulk embedding (`qa index`, `qa watch`).

Why a process: a model lane needs the interpreter at each batch's end, and in `qa index` the interpreter is often
held by something else for tens of milliseconds at a time: Chroma's local client holds it for a whole call (a
write of 64 chunks: about 80 ms), and the next window is chunked in Python. A lane that waits leaves its core
idle. In a process of its own, the lanes share an interpreter with nothing but the loop that feeds them, and the
indexer plans the next window while this one is embedded (bench/JOURNAL.md, 2026-12-06).

The parent keeps the tokenizer (it sizes the chunks) and sends texts and sentence spans over a socket pair; the
child answers each batch with its vectors as it is embedded (progress, and the point where a run can be stopped),
then says the run is done. The child ignores Ctrl-C (the parent stops it between two batches) and exits when the
parent's end of the socket closes, whatever ended the parent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

import qa
from qa.embedder import DIMENSION, MODEL_ID, AfterBatch, EmbeddedBatch, Embedder, MiniLMEmbedder, Span, gather
from qa.errors import ModelUnavailable
from qa.heaps import give_back_memory, limit_malloc_arenas

# Fewer texts than this in a run that has not started the child yet are embedded in this process: for one
# article, the child's start (an interpreter, its imports: 0.16 CPU-s on the two cores the rest of the start-up
# uses) cost `qa index` of the seed article 1.26 s against 1.09 s, and there is no next window to plan beside it.
# A long run's first window has about 512 chunks (indexer/pipeline.py): only a short input falls under this.
IN_PROCESS_BELOW = 64
# How long a closing parent waits for the child to exit before it kills it (the child exits at once: it only
# waits on the socket between runs).
EXIT_WAIT_S = 5.0


class _Stopped(Exception):
    """The parent asked the child to stop the run it is embedding."""


class ProcessEmbedder(Embedder):
    """MiniLM vectors from a child process of `lanes` one-thread sessions; the same vectors as MiniLMEmbedder's
    (the child runs one). The child starts on the first `load` or embedding of IN_PROCESS_BELOW texts or more;
    fewer, before that, are embedded here. It is stopped by `close` or when the embedder is collected."""

    model_id = MODEL_ID
    dimension = DIMENSION
    # The indexer plans the next window beside this one's embedding: nothing here competes for the interpreter.
    embeds_apart = True

    def __init__(self, batch_size: int = 32, optimize: bool = True, lanes: int = 1) -> None:
        self._arguments = [str(batch_size), str(int(optimize)), str(lanes)]  # the child's, after its socket
        # Counts word pieces exactly as the child's would, and embeds a short run (its model loads only then).
        self._here = MiniLMEmbedder(batch_size=batch_size, optimize=optimize, lanes=lanes)
        self.lanes = max(1, lanes)
        self._connection: Connection | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._starting = threading.Lock()
        self._closer: Callable[[], object] | None = None  # a weakref.finalize
        self._loaded = False

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees for this text, [CLS] and [SEP] included."""
        return self._here.count_tokens(text)

    def load(self, expected_texts: int | None = None) -> None:
        """Load the model where `expected_texts` will be embedded (the indexer does this beside its first
        chunking): in the child, started now if it is not running, and waited for; here, for a short run."""
        if expected_texts is not None and expected_texts < IN_PROCESS_BELOW and not self._loaded:
            self._here.load()
            return
        with self._starting:
            if self._connection is None:
                self._start()
            if not self._loaded:
                connection = self._connected()
                self._send(connection, ("load", None))
                kind, value = self._receive(connection)
                if kind != "loaded":
                    self._gone()
                    raise ModelUnavailable(f"The embedding model could not be loaded: {value}")
                self._loaded = True
                # From now on every run goes to the child: a model loaded here for short runs (`qa watch`'s polls
                # of one article, then a long one) would be held twice.
                self._here.unload()

    def embed_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]], after_batch: AfterBatch | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """As MiniLMEmbedder.embed_with_spans; `after_batch` hears each batch as the child reports it, and if it
        raises, the child stops between two batches before the error goes on."""
        if len(texts) < IN_PROCESS_BELOW and not self._loaded:
            return self._here.embed_with_spans(texts, spans, after_batch)
        self.load()
        connection = self._connected()
        self._send(connection, ("embed", (list(texts), [list(s) for s in spans])))
        try:
            # Put in place a batch at a time, as the child sends them: a big article's sentence vectors (8,577
            # chunks of a 5 MB article: some 130 MB) never travel as one message that both processes would hold twice.
            return gather(self._batches_from(connection), len(texts), spans, after_batch)
        except ModelUnavailable:
            raise  # the run ended (the child failed, or is gone): nothing to stop
        except BaseException:
            self._stop_run(connection)
            raise

    def _batches_from(self, connection: Connection) -> Iterator[EmbeddedBatch]:
        """The child's batches of one run, until it says the run is done; its failure as a ModelUnavailable."""
        while True:
            kind, value = self._receive(connection)
            if kind == "embedded":
                return
            if kind != "batch":
                raise ModelUnavailable(f"The embedding model failed: {value}")
            yield value

    def release_memory(self) -> None:
        """Give back the model's working memory, in the child and here (see MiniLMEmbedder.release_memory)."""
        self._here.release_memory()
        if self._connection is not None:
            self._send(self._connection, ("release", None))

    def close(self) -> None:
        """Stop the child (a later embedding starts another)."""
        with self._starting:
            self._forget_child()

    def _forget_child(self) -> None:
        """Close the child's socket and wait for it to exit (killing one that does not); the next load starts
        another."""
        if self._closer is not None:
            self._closer()
        self._connection = self._process = self._closer = None
        self._loaded = False

    def _start(self) -> None:
        """Start the child, without loading the model; its end of a socket pair is its only way in or out."""
        ours, theirs = socket.socketpair()
        package_root = str(Path(qa.__file__).resolve().parent.parent)
        environment = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
        }
        with theirs:
            process = subprocess.Popen(
                [sys.executable, "-m", "qa.embedding_process", str(theirs.fileno()), *self._arguments],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # the parent's output is the user's; the child reports over the socket
                env=environment,
            )
        self._connection = Connection(ours.detach())
        self._process = process
        self._closer = weakref.finalize(self, _shut_down, process, self._connection)

    def _connected(self) -> Connection:
        if self._connection is None:
            raise ModelUnavailable("The embedding model's process was closed.")
        return self._connection

    def _send(self, connection: Connection, message: tuple[str, Any]) -> None:
        try:
            connection.send(message)
        except OSError as error:
            raise self._gone() from error

    def _receive(self, connection: Connection) -> tuple[str, Any]:
        try:
            kind, value = connection.recv()
        except (EOFError, OSError) as error:
            raise self._gone() from error
        return kind, value

    def _gone(self) -> ModelUnavailable:
        """The error for a child that went away (killed, out of memory): nothing of the run was written."""
        process = self._process
        self._forget_child()  # called holding `_starting` (from load) or not: never takes it
        code = process.returncode if process is not None else None
        return ModelUnavailable(
            f"The embedding model's process stopped unexpectedly (exit code {code}); nothing of this window was "
            "stored. Run the command again: what was written is kept and skipped."
        )

    def _stop_run(self, connection: Connection) -> tuple[str, int]:
        """Ask the child to stop the run between two batches, and wait for it: how the run ended (it answers once,
        however it ended: "stopped", "embedded", "error") and the batches it reported meanwhile. A child already
        gone has nothing to stop ("gone")."""
        drained = 0
        try:
            connection.send(("stop", None))
            while (kind := connection.recv()[0]) == "batch":
                drained += 1
        except (EOFError, OSError):
            self._gone()
            return "gone", drained
        return kind, drained


def _shut_down(process: subprocess.Popen[bytes], connection: Connection) -> None:
    """Close the parent's end (the child exits on it), and wait for the child; kill one that does not exit."""
    connection.close()
    try:
        process.wait(EXIT_WAIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _serve(connection: Connection, embedder: MiniLMEmbedder) -> None:
    """The child's loop: one request at a time until the parent's end closes."""
    while True:
        try:
            kind, value = connection.recv()
        except EOFError:
            return
        if kind == "load":
            try:
                embedder.load()
                # What building the sessions freed, before the first window's batches take their memory: the
                # child's peak in `qa index` of 1,000 short articles, 383-391 MiB without this, 368-372 with it.
                give_back_memory()
            except Exception as error:  # the parent raises it
                connection.send(("failed", f"{type(error).__name__}: {error}"))
            else:
                connection.send(("loaded", None))
        elif kind == "embed":
            texts, spans = value
            try:
                _embed(connection, embedder, texts, spans)
            except _Stopped:
                connection.send(("stopped", None))
            except Exception as error:  # the parent raises it as the run's failure
                connection.send(("error", f"{type(error).__name__}: {error}"))
            else:
                connection.send(("embedded", None))
        elif kind == "release":
            embedder.release_memory()
            give_back_memory()  # what the model gave back goes to the system, as the indexer's own heap does
        # a "stop" that arrives after its run ended has nothing to stop


def _embed(connection: Connection, embedder: MiniLMEmbedder, texts: list[str], spans: list[list[Span]]) -> None:
    """Send each batch's vectors as it is embedded; stop between two batches if the parent asked to."""
    with closing(embedder.embed_batches(texts, spans)) as batches:
        for batch in batches:
            connection.send(("batch", batch))
            if connection.poll() and connection.recv()[0] == "stop":
                raise _Stopped


def main(arguments: Sequence[str]) -> None:
    """`python -m qa.embedding_process FD BATCH_SIZE OPTIMIZE LANES`: serve the parent on socket FD."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the child between batches
    limit_malloc_arenas()  # as `qa index` does, before the lanes start their threads
    descriptor, batch_size, optimize, lanes = (int(a) for a in arguments)
    connection = Connection(descriptor)
    try:
        _serve(connection, MiniLMEmbedder(batch_size=batch_size, optimize=bool(optimize), lanes=lanes))
    except Exception as error:  # a broken request: the parent hears why, rather than a traceback on the terminal
        with contextlib.suppress(OSError):
            connection.send(("error", f"{type(error).__name__}: {error}"))
        os._exit(1)
    # The parent's end closed: nothing is left to write, and tearing the sessions and the lanes' threads down
    # would keep a parent that waits for this process (at its own exit) some 60 ms longer.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
