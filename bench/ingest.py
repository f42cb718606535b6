"""Ingestion benchmark: `qa index` of JSON Lines files of growing size, as a user runs it. Run: make bench-scale.

For each size, a JSON Lines file of articles made of sentences of the shipped sets is written, then indexed by
`qa index` in a fresh process (the real model, a fresh data directory): wall time, peak memory (the highest
resident set of `qa index` and its model's process together, sampled), chunks embedded. The bare model then embeds
the very texts that run embedded (title and chunk, as `qa index` feeds them) in one process, for the share of its
throughput that indexing keeps. Peak memory that stays flat while the file grows is what streaming means. With
`--runs N`, each size is measured N times, `qa index` and the bare model alternating, and the median of the N
shares is reported with the lowest and highest.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from scale import sentence_pool  # noqa: E402  (the benchmark scripts share their text)


def write_feed(path: Path, articles: int, seed: int = 0) -> None:
    """`articles` articles of three to six paragraphs of four sentences each."""
    pick = random.Random(seed)
    pool = [s for s in sentence_pool() if len(s) < 300]
    with path.open("w", encoding="utf-8") as feed:
        for n in range(articles):
            paragraphs = [" ".join(pick.choice(pool) for _ in range(4)) for _ in range(pick.randint(3, 6))]
            record = {"id": f"feed/{n:06d}", "title": pick.choice(pool)[:80], "text": "\n\n".join(paragraphs)}
            feed.write(json.dumps(record) + "\n")


def _tree_memory(pid: int) -> tuple[float, float]:
    """A process and its descendants (`qa index` and its model's process): their resident sets now, summed, and
    their peaks so far (VmHWM), summed; MiB. A process that ended meanwhile counts for nothing."""
    now = peaks = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            pending += [
                int(child)
                for task in Path(f"/proc/{current}/task").iterdir()
                for child in (task / "children").read_text().split()
            ]
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        now += int(fields.get("VmRSS", "0 kB").split()[0])
        peaks += int(fields.get("VmHWM", "0 kB").split()[0])
    return now / 1024, peaks / 1024


def _watch_memory(pid: int, done: threading.Event, seen: dict[str, float]) -> None:
    """Sample the process tree's memory every quarter second until `done`: the highest sum of resident sets, and
    the last sum of peaks (each process's peak only grows; the last sample before the end is the best seen)."""
    while True:
        now, peaks = _tree_memory(pid)
        seen["peak_mib"] = max(seen.get("peak_mib", 0.0), now)
        seen["peaks_summed_mib"] = max(seen.get("peaks_summed_mib", 0.0), peaks)
        if done.wait(0.25):
            return


def index_run(feed: Path, data_dir: Path, python: str = sys.executable) -> dict[str, float]:
    """`qa index FEED` in a fresh process of `python` (a checkout's): wall seconds, CPU seconds, chunks embedded,
    and memory: `peak_mib`, the highest resident set of the process and its model's process together (sampled
    every 0.25 s); `peaks_summed_mib`, their peaks added up (a bound above it).

    Not wait4's ru_maxrss: Linux starts a child's count at its parent's resident set when it forks, so a child
    of this process, once it has run the bare model, counted that model's memory as its own (`/bin/true` forked
    from a parent of 800 MB: 825 MiB). And it is the largest single process's, where `qa index` is two."""
    began = time.perf_counter()
    process = subprocess.Popen(
        [python, "-m", "qa", "index", str(feed)],
        env={"QA_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"},
        # `python -m` looks in its working directory first: run from a checkout, every `python` would import that
        # checkout's code, and an A/B would measure B twice
        cwd=data_dir.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    memory: dict[str, float] = {}
    done = threading.Event()
    watcher = threading.Thread(target=_watch_memory, args=(process.pid, done, memory), daemon=True)
    watcher.start()
    output = process.stdout.read()
    done.set()
    watcher.join()
    _, status, usage = os.wait4(process.pid, 0)  # this child's own CPU (and its reaped children's)
    wall = time.perf_counter() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"qa index failed ({process.returncode}): {output}")
    embedded = int(output.split("(")[1].split(" embedded")[0])
    cpu = usage.ru_utime + usage.ru_stime  # less moved than wall time by other work on a shared machine
    return {"wall_s": wall, "cpu_s": cpu, **memory, "chunks": embedded}


def bare_model(feed: Path) -> float:
    """Seconds the bare model takes to embed what indexing the feed embeds."""
    return bare_model_times(feed)[0]


def bare_model_times(feed: Path) -> tuple[float, float]:
    """Wall and CPU seconds (every thread of this process) the bare model takes to embed what indexing the feed
    embeds: the texts in one call, as the model is best used (sorted by length across all of them, one-thread lanes
    side by side as `qa index` runs them: see qa.embedder.MAX_LANES)."""
    from indexer import iter_articles
    from indexer.pipeline import plan_chunks
    from qa.chunking import indexed_text
    from qa.embedder import MiniLMEmbedder, bulk_lanes

    embedder = MiniLMEmbedder(lanes=bulk_lanes())  # as `qa index` runs it
    texts = [
        indexed_text(c.text, c.context)[0]
        for item in iter_articles([feed])
        for c in plan_chunks(item.article, embedder, 256)  # type: ignore[union-attr]
    ]
    embedder.embed(texts[:32])
    began, cpu = time.perf_counter(), time.process_time()
    embedder.embed(texts)
    return time.perf_counter() - began, time.process_time() - cpu


def measure(feed: Path, data_dirs: Path, runs: int) -> dict[str, object]:
    """`runs` pairs of a `qa index` run and the bare model on the same texts, each pair's order alternating: this
    machine's speed drifts by several per cent within minutes, so each pair's share is taken in the same minutes,
    and the median over the pairs is the figure. Each row, then the summary."""
    rows = []
    for number in range(runs):
        row: dict[str, float] = {}
        for step in ("index", "bare") if number % 2 == 0 else ("bare", "index"):
            if step == "index":
                row.update(index_run(feed, data_dirs / f"data-{number}"))
            else:
                row["bare_s"] = bare_model(feed)
        row["chunks_per_s"] = row["chunks"] / row["wall_s"]
        row["bare_model_chunks_per_s"] = row["chunks"] / row["bare_s"]
        row["share_of_bare"] = row["bare_s"] / row["wall_s"]
        rows.append(row)
        print(json.dumps({"run": number + 1, **row}), flush=True)
    shares = [row["share_of_bare"] for row in rows]
    return {
        "runs": runs,
        "chunks": rows[0]["chunks"],
        "median_wall_s": statistics.median(row["wall_s"] for row in rows),
        "median_bare_s": statistics.median(row["bare_s"] for row in rows),
        "median_share_of_bare": statistics.median(shares),
        "lowest_share": min(shares),
        "highest_share": max(shares),
        "peak_mib": max(row["peak_mib"] for row in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,2000", help="articles per file, comma-separated")
    parser.add_argument("--runs", type=int, default=1, help="pairs of runs per size (the median share is reported)")
    args = parser.parse_args()
    results = {}
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            feed = Path(tmp) / "feed.jsonl"
            write_feed(feed, size)
            results[size] = measure(feed, Path(tmp), args.runs)
            print(json.dumps({size: results[size]}), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
