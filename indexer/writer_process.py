"""A long `qa index` run's windows written by a process of its own, while the model embeds the next window.

Chroma's local writes hold the interpreter for the whole call (its own threads do the work while the calling
thread waits, lock held), so in one process the model's lanes wait for every write between two batches. In a
child process they do not: the child writes each window into the store, brings the replica on disk in step, and
says when it is done or what failed. It is started apart from the terminal's process group, so a Ctrl-C reaches
the parent only, which decides when to stop; the child finishes the write under way, then sees its input close and
exits, also when the parent is killed.

Only for a run whose first window is full (more may follow) on local files: its start (about a second of
imports, beside the model's first window) pays off over long runs, and a Chroma server's writes wait on a socket,
not on the interpreter.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Sequence
from multiprocessing.connection import Connection

from qa.errors import StoreUnavailable
from qa.settings import Settings
from qa.store import ArticleToWrite

_CHILD = "from indexer.writer_process import main; main()"


class WriterProcess:
    """A child process that writes windows into the store, one at a time, each followed by the replica."""

    def __init__(self, settings: Settings, embedder_id: str, dimension: int) -> None:
        to_child, child_reads = _pipe()
        child_writes, from_child = _pipe()
        self._process = subprocess.Popen(
            # -P: nothing from the working directory, which may hold another checkout's code
            [sys.executable, "-P", "-c", _CHILD, str(child_reads), str(child_writes)],
            pass_fds=(child_reads, child_writes),
            # the parent's own import path: the child runs the same code whatever the working directory holds
            env={**os.environ, "PYTHONPATH": os.pathsep.join(_import_path())},
            stdin=subprocess.DEVNULL,
            process_group=0,  # a Ctrl-C at the terminal is the parent's to handle
        )
        os.close(child_reads)
        os.close(child_writes)
        self._to = Connection(to_child, readable=False)
        self._from = Connection(from_child, writable=False)
        self._to.send((settings, embedder_id, dimension))

    def write(self, writes: Sequence[ArticleToWrite]) -> None:
        """Write a window in the child and wait until it is written and followed; its failure is raised here."""
        try:
            self._to.send(list(writes))
            failure = self._from.recv()
        except (EOFError, OSError) as error:
            raise StoreUnavailable(
                f"The process writing the index stopped (exit status {self._process.wait()}). The windows written "
                "before are kept: run the same command again to index the rest."
            ) from error
        if failure is not None:
            raise failure

    def close(self) -> None:
        """Let the child finish the write under way and exit."""
        for end in (self._to, self._from):
            end.close()
        self._process.wait()


def _pipe() -> tuple[int, int]:
    """A pipe's (write end, read end) as the two sides use them: the parent keeps one, the child inherits the other."""
    read, write = os.pipe()
    return write, read


def _import_path() -> list[str]:
    return [os.path.abspath(p or os.curdir) for p in sys.path]


def _sendable(error: Exception) -> Exception:
    """The failure as the parent can receive it: itself when it pickles, else its message."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return StoreUnavailable(f"Writing the index failed: {error}")


def serve(incoming: Connection, outgoing: Connection) -> None:
    """The child: open the store and the replica the parent's settings name, then write each window received
    until the parent closes its end."""
    from qa.service import give_back_memory, limit_malloc_arenas
    from qa.wiring import open_replica, open_store_bound_to

    limit_malloc_arenas()
    settings, embedder_id, dimension = incoming.recv()
    store = open_store_bound_to(settings, embedder_id, dimension)
    replica = open_replica(settings, store)
    try:
        while True:
            try:
                writes = incoming.recv()
            except EOFError:
                return
            try:
                with store.batch():
                    store.put_articles(writes)
                replica.sync()
            except Exception as error:
                outgoing.send(_sendable(error))
            else:
                outgoing.send(None)
            del writes
            give_back_memory()  # the window's vectors and the write's buffers: the peak follows the window
    finally:
        replica.close()


def main() -> None:
    """The child's entry (see WriterProcess): the two ends of its pipes are its arguments."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent says when to stop, by closing its end
    serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
