"""Chunk vectors in a flat file beside the catalog: each article's, float32 row after row, appended and never
rewritten in place, so that bytes a committed catalog row points at never change under a reader. The catalog
(qa/catalog.py) holds where each article's are (offset, size) and which generation of the file is current: a
rebuild or a compaction writes a new generation, and the old one is removed once no row points at it.

Why not a blob in SQLite: a week of news at 1,000,000 chunks is 485 articles, 15 MB of vectors; SQLite read them
page by page (4 KB pages: 3,900 reads) in 9 ms; here a read an article, straight into the array compared, 3 ms.
Why not a memory map: its pages count in a process's resident memory (random windows over two years would map
the whole file), and letting them go after each question cost more in page faults: a week's in 8.7 ms, not 4.8."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

_READ_AHEAD_STEP = 4 * 2**20  # bytes a read while the file is read ahead
# A scratch file is synced each time this many bytes were appended: a write's sync of the vector file (each
# catalog transaction's) waits for what the scratch file has not yet written to disk, and 1.5 GB synced at once
# (a compaction at 1,000,000 chunks) held the writes beside it 0.2 s each for most of a second.
_SCRATCH_SYNC_STEP = 16 * 2**20
_GATHER_ROWS = 4096  # vectors read at a time: a filter's 20,000 in 6 MB steps, not one 30 MB array


class VectorFile:
    """The generations of one catalog's vector file: appends (one writer at a time: the catalog's write
    transaction) and reads (any thread, any process)."""

    def __init__(self, directory: Path, stem: str) -> None:
        self._directory = directory
        self._stem = stem
        self._lock = threading.Lock()
        # generation -> read-only descriptor, kept until close even once its file is removed: another thread may
        # be reading through it, and a descriptor closed under it could be reused for another file
        self._readers: dict[int, int] = {}
        self._writers: dict[int, int] = {}  # generation -> descriptor appended to
        self._unsynced: set[int] = set()

    def path(self, generation: int) -> Path:
        """The file of this generation."""
        return self._directory / f"{self._stem}.{generation}.f32"

    def append(self, generation: int, data: bytes) -> int:
        """Write these bytes at the end of the generation's file; the offset they begin at."""
        with self._lock:
            descriptor = self._writers.get(generation)
            if descriptor is None:
                descriptor = os.open(self.path(generation), os.O_RDWR | os.O_CREAT, 0o644)
                self._writers[generation] = descriptor
            offset = os.fstat(descriptor).st_size
            _write_at(descriptor, data, offset)
            self._unsynced.add(generation)
            return offset

    def sync(self) -> None:
        """Make what was appended durable: before the catalog commits rows that point at it (its own commits are
        not synced each time, and a row outliving its bytes after a power cut would read zeros)."""
        with self._lock:
            for generation in self._unsynced:
                os.fdatasync(self._writers[generation])
            self._unsynced.clear()

    def read(self, generation: int, spans: Sequence[tuple[int, int]]) -> Iterator[bytes | None]:
        """The bytes of each (offset, size), one at a time as they are wanted (a caller keeps no more than one in
        memory); None where the file does not hold them all (a generation removed since its rows were read, or a
        file cut short: read those vectors from the store)."""
        descriptor = self._reader(generation)
        for offset, size in spans:
            data = os.pread(descriptor, size, offset) if descriptor is not None else b""
            yield data if len(data) == size else None

    def gather(
        self, generation: int, spans: Sequence[tuple[int, int]], dimension: int
    ) -> tuple[list[bool], Iterator[np.ndarray]]:
        """Whether the file holds each span (offset, size: whole vectors of `dimension` float32s) whole, and the
        vectors of those it holds, in order, a few thousand rows at a time."""
        descriptor = self._reader(generation)
        length = os.fstat(descriptor).st_size if descriptor is not None else 0
        held = [start + size <= length for start, size in spans]
        if descriptor is None or not any(held):
            return held, iter(())
        whole = [span for span, inside in zip(spans, held, strict=True) if inside]
        return held, _rows(descriptor, whole, dimension)

    def scratch(self, tag: str) -> ScratchFile:
        """A file to write the next generation in under a name of its own (a compaction, beside the appends to
        the current one), until `adopt` names it. `tag`: one of `scratch_tag`'s, which names what else the
        compaction makes."""
        return ScratchFile(self._directory / f"{self._stem}.{tag.replace('_', '-')}.tmp")

    def adopt(self, scratch: ScratchFile, generation: int) -> None:
        """Make the scratch file, synced, the file of this generation (which no committed row points at yet)."""
        scratch.close(sync=True)
        os.replace(scratch.path, self.path(generation))

    def remove_abandoned_scratch(self) -> None:
        """Delete the scratch files of processes that ended without adopting them (killed mid-compaction)."""
        for path in self._directory.glob(f"{self._stem}.*.tmp"):
            pid = path.name[len(self._stem) + 1 :].split("-", 1)[0]
            if pid.isdigit() and not process_alive(int(pid)):
                path.unlink(missing_ok=True)

    def size(self, generation: int) -> int:
        """How many bytes the generation's file holds (0 when there is none)."""
        try:
            return self.path(generation).stat().st_size
        except FileNotFoundError:
            return 0

    def remove(self, generations: Sequence[int]) -> None:
        """Delete these generations' files (no committed row points at them; a reader that read rows before they
        went still reads through its open descriptor)."""
        with self._lock:
            for generation in generations:
                descriptor = self._writers.pop(generation, None)
                if descriptor is not None:
                    os.close(descriptor)
                self._unsynced.discard(generation)
                self.path(generation).unlink(missing_ok=True)

    def remove_before(self, generation: int) -> None:
        """Delete every generation older than this one (generations only grow: a newer one may be another
        process's current)."""
        old = []
        for path in self._directory.glob(f"{self._stem}.*.f32"):
            number = path.name[len(self._stem) + 1 : -len(".f32")]
            if number.isdigit() and int(number) < generation:
                old.append(int(number))
        self.remove(old)

    def close(self) -> None:
        """Close every descriptor."""
        with self._lock:
            for cache in (self._writers, self._readers):
                for descriptor in cache.values():
                    os.close(descriptor)
                cache.clear()

    def _reader(self, generation: int) -> int | None:
        with self._lock:
            if generation not in self._readers:
                try:
                    self._readers[generation] = os.open(self.path(generation), os.O_RDONLY)
                except FileNotFoundError:  # not written yet, or removed since: looked for again next time
                    return None
            return self._readers[generation]


class ScratchFile:
    """A file written from its start, one span after another (see VectorFile.scratch)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._descriptor: int | None = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        self.size = 0
        self._synced = 0  # bytes synced so far

    def append(self, data: bytes) -> int:
        """Write these bytes at the end; the offset they begin at."""
        assert self._descriptor is not None, "a scratch file is written before it is adopted or discarded"
        offset = self.size
        _write_at(self._descriptor, data, offset)
        self.size += len(data)
        if self.size - self._synced >= _SCRATCH_SYNC_STEP:
            self.sync()  # a step at a time (see _SCRATCH_SYNC_STEP)
        return offset

    def sync(self) -> None:
        """Make what was written so far durable (outside the writers' turn: the bulk of a compaction's bytes)."""
        if self._descriptor is not None:
            os.fdatasync(self._descriptor)
            self._synced = self.size

    def close(self, sync: bool = False) -> None:
        """Close it (synced first if asked); the file stays."""
        if self._descriptor is not None:
            if sync:
                self.sync()
            os.close(self._descriptor)
            self._descriptor = None

    def discard(self) -> None:
        """Close and delete it, unless it was adopted (then nothing is left under its name)."""
        self.close()
        self.path.unlink(missing_ok=True)


def scratch_tag() -> str:
    """ "<process id>_<random>": a compaction's name for what it makes, by which what a killed one left is told."""
    return f"{os.getpid()}_{uuid.uuid4().hex[:8]}"


def read_through(path: Path) -> bool:
    """Read a file from start to end into a small buffer, thrown away: the operating system keeps its pages in its
    cache for the reads that follow (posix_fadvise's WILLNEED read 8 MB of a 1.5 GB vector file here, so it is
    read). Whether there was a file."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        buffer = bytearray(_READ_AHEAD_STEP)
        offset = 0
        while read := os.preadv(descriptor, [buffer], offset):
            offset += read
    finally:
        os.close(descriptor)
    return True


def _write_at(descriptor: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:  # pwrite may write less than asked (a signal, a full disk's last bytes)
        view = view[os.pwrite(descriptor, view, offset + len(data) - len(view)) :]


def process_alive(pid: int) -> bool:
    """Whether a process with this id is running (what a killed process left under its id can go)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        return True
    return True


def _rows(descriptor: int, spans: list[tuple[int, int]], dimension: int) -> Iterator[np.ndarray]:
    """The vectors of these spans of the file, read straight into an array a few thousand rows at a time."""
    width = 4 * dimension
    begin = 0
    while begin < len(spans):
        end, rows = begin, 0
        while end < len(spans) and (end == begin or rows + spans[end][1] // width <= _GATHER_ROWS):
            rows += spans[end][1] // width
            end += 1
        block = np.empty((rows, dimension), dtype=np.float32)
        view, at = block.data.cast("B"), 0
        for start, size in _runs(spans[begin:end]):
            done = os.preadv(descriptor, [view[at : at + size]], start)
            view[at + done : at + size] = bytes(size - done)  # cut short under us (never by a writer): zeros
            at += size
        yield block
        begin = end


def _runs(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans with each run of neighbours in the file (one beginning where the one before it ends) as one: a
    read each. A window of dates reads its articles in publication order, which is the file's order where they
    were written in it, as news is, or a compaction wrote them (Catalog.compact)."""
    runs: list[tuple[int, int]] = []
    for start, size in spans:
        if runs and runs[-1][0] + runs[-1][1] == start:
            runs[-1] = (runs[-1][0], runs[-1][1] + size)
        else:
            runs.append((start, size))
    return runs
