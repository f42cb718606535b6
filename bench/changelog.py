"""Change-log benchmark: what following the change log costs a reader as the log grows. Run: python bench/changelog.py.

Every question a `qa serve` answers first asks the store whether anything changed, and a write in another process
is then read from the change log. An archive that takes an article a minute adds half a million records to that
log in a year. For each size, a store's change log is filled with that many records (one article each), named as
this release names them (by position) or as schema 6 did (at random: this release then counts the log and reads
it by offset, as schema 6 did, plus one read by id per new length, to learn whether the log has turned
positioned). Then, in this process, with Chroma embedded in a temporary directory (or through a `chroma run`
server, `--chroma-url`): the look for changes when
there are none (median of 50), another writer appending one record and the reader's look and read of it (median
of 20; schema 6's append was one add, this release's an add and a read back), and the append alone (median of 20).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.library import median_ms  # noqa: E402
from qa.embedder import DIMENSION, MODEL_ID  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.store import ChromaStore, change_record_id  # noqa: E402
from qa.wiring import chroma_client  # noqa: E402

_FILL = 5000  # records per call while filling


def _fill(store: ChromaStore, records: int, positioned: bool) -> None:
    changes = store.client.get_collection(f"{store.name}_changes")
    for begin in range(0, records, _FILL):
        positions = range(begin, min(records, begin + _FILL))
        changes.add(
            ids=[
                change_record_id(p) if positioned else f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"
                for p in positions
            ],
            embeddings=[[1.0]] * len(positions),
            metadatas=[{"articles": json.dumps([f"story-{p}"])} for p in positions],
        )


def _open(data_dir: Path, name: str, chroma_url: str | None) -> ChromaStore:
    client, where = chroma_client(Settings(data_dir=data_dir, chroma_url=chroma_url))
    store = ChromaStore(client, name, MODEL_ID, DIMENSION, where)
    store.ensure()
    return store


def measure(records: int, positioned: bool, work: Path, chroma_url: str | None) -> dict[str, float]:
    """The three figures for one log (its collections are dropped afterwards: a server may hold other indexes)."""
    name = f"changelog{records}{'positioned' if positioned else 'schema6'}"
    writer = _open(work / name, name, chroma_url)
    try:
        return _measure(writer, records, positioned, _open(work / name, name, chroma_url))
    finally:
        for suffix in ("_chunks", "_articles_v2", "_changes", "_journal"):
            writer.client.delete_collection(f"{name}{suffix}")


def _measure(writer: ChromaStore, records: int, positioned: bool, reader: ChromaStore) -> dict[str, float]:
    """`reader` stands for another process: it has read nothing yet."""
    _fill(writer, records, positioned)
    changes = writer.client.get_collection(f"{writer.name}_changes")
    reader.follow()
    figures = {"look_ms": median_ms(reader.follow, 50)}

    def append() -> None:
        if positioned:  # a write of nothing but its change-log record (this release: the record is read back)
            with writer.batch():
                writer.delete_chunks([], ["story-new"])
        else:  # as schema 6 appended: one add, named at random
            changes.add(
                ids=[f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"],
                embeddings=[[1.0]],
                metadatas=[{"articles": json.dumps(["story-new"])}],
            )

    def another_writes_then_look() -> None:
        append()
        applied = reader.follow() - 1
        assert reader.changes(applied, 1)[0].article_ids == ["story-new"]

    writer.follow()
    figures["catch_up_one_ms"] = median_ms(another_writes_then_look, 20)
    figures["append_ms"] = median_ms(append, 20)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000,1000000", help="change-log records, comma-separated")
    parser.add_argument("--chroma-url", help="a `chroma run` server to measure through (else Chroma embedded)")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for records in (int(s) for s in args.sizes.split(",")):
            for positioned in (False, True):
                label = f"{records} {'positioned' if positioned else 'schema 6'}"
                results[label] = measure(records, positioned, Path(tmp), args.chroma_url)
                print(json.dumps({label: results[label]}), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
