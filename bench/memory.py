"""Memory benchmark: peak memory of indexing is bounded by the batch, not by the article or the corpus.

Three measurements, each in fresh processes with the real model and a fresh data directory:

- `article`: `qa index` of a JSON Lines file holding one article of `--article-mb` MB (paragraphs of sentences of
  the shipped sets): wall time and the process's peak resident set (wait4's ru_maxrss).
- `corpus`: `qa index` of JSON Lines files of `--corpus-sizes` short articles (one or two sentences each, so that
  100,000 of them embed in tens of minutes rather than hours): peak memory should stay flat as the file grows.
- `server`: `qa serve` with an empty index; its resident memory before, at its peak (VmHWM) while a `--server-mb`
  MB article is added over the API (as a background job: it is over QA_BACKGROUND_ADD_CHARS), after, and after the
  article is deleted.

Run: .venv/bin/python bench/memory.py [--only article,corpus,server]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from ingest import index_run  # noqa: E402  (the benchmark scripts share their helpers)
from processes import qa_serve  # noqa: E402
from scale import sentence_pool  # noqa: E402


def long_text(megabytes: float, seed: int = 0) -> str:
    """About `megabytes` MB of paragraphs of four sentences."""
    pick = random.Random(seed)
    pool = [s for s in sentence_pool() if len(s) < 300]
    paragraphs, size = [], 0
    while size < megabytes * 1_000_000:
        paragraphs.append(" ".join(pick.choice(pool) for _ in range(4)))
        size += len(paragraphs[-1]) + 2
    return "\n\n".join(paragraphs)


def write_short_feed(path: Path, articles: int, seed: int = 0) -> None:
    """`articles` articles of one or two sentences each."""
    pick = random.Random(seed)
    pool = [s for s in sentence_pool() if len(s) < 200]
    with path.open("w", encoding="utf-8") as feed:
        for n in range(articles):
            text = " ".join(pick.choice(pool) for _ in range(pick.randint(1, 2)))
            feed.write(json.dumps({"id": f"short/{n:06d}", "title": f"Short {n}", "text": text}) + "\n")


def article(megabytes: float) -> dict[str, float]:
    """`qa index` of one big article."""
    with tempfile.TemporaryDirectory() as tmp:
        feed = Path(tmp) / "article.jsonl"
        feed.write_text(json.dumps({"id": "big", "title": "Big", "text": long_text(megabytes)}) + "\n")
        return {"megabytes": megabytes, **index_run(feed, Path(tmp) / "data")}


def corpus(size: int) -> dict[str, float]:
    """`qa index` of `size` short articles."""
    with tempfile.TemporaryDirectory() as tmp:
        feed = Path(tmp) / "feed.jsonl"
        write_short_feed(feed, size)
        return {"articles": size, **index_run(feed, Path(tmp) / "data")}


def _memory(pid: int) -> dict[str, float]:
    """The process's resident set now and at its peak, MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {"rss_mib": int(fields["VmRSS"].split()[0]) / 1024, "peak_mib": int(fields["VmHWM"].split()[0]) / 1024}


def _call(url: str, method: str = "GET", body: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return response.status, json.loads(response.read())


def server(megabytes: float) -> dict[str, object]:
    """`qa serve`'s memory around adding and deleting one big article over the API."""
    text = long_text(megabytes)
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "QA_DATA_DIR": str(Path(tmp) / "data"),
            "QA_MAX_BODY_BYTES": str(len(text) * 2 + 10_000),
            "PATH": "/usr/bin:/bin",
        }
        process, url = qa_serve(env)
        try:
            before = _memory(process.pid)
            began = time.perf_counter()
            status, job = _call(f"{url}/api/articles", "POST", {"id": "big", "title": "Big", "text": text})
            while status == 202 and job["state"] in ("queued", "running"):
                time.sleep(1)
                _, job = _call(f"{url}/api/jobs/{job['id']}")
            added_s = time.perf_counter() - began
            after_add = _memory(process.pid)
            _call(f"{url}/api/articles/big", "DELETE")
            _call(f"{url}/health")
            after_delete = _memory(process.pid)
        finally:
            process.terminate()
            process.wait(30)
    return {
        "megabytes": megabytes,
        "job": {k: job.get(k) for k in ("state", "chunks_done", "chunks_total")},
        "add_s": added_s,
        "rss_before_mib": before["rss_mib"],
        "peak_mib": after_delete["peak_mib"],
        "rss_after_add_mib": after_add["rss_mib"],
        "rss_after_delete_mib": after_delete["rss_mib"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="article,corpus,server", help="which measurements, comma-separated")
    parser.add_argument("--article-mb", type=float, default=5.0)
    parser.add_argument("--corpus-sizes", default="1000,10000,100000", help="short articles per file")
    parser.add_argument("--server-mb", type=float, default=2.0)
    args = parser.parse_args()
    only = set(args.only.split(","))
    results: dict[str, object] = {}
    if "article" in only:
        results["article"] = article(args.article_mb)
        print(json.dumps({"article": results["article"]}), flush=True)
    if "corpus" in only:
        results["corpus"] = []
        for size in (int(s) for s in args.corpus_sizes.split(",")):
            results["corpus"].append(corpus(size))  # type: ignore[attr-defined]
            print(json.dumps({"corpus": results["corpus"][-1]}), flush=True)  # type: ignore[index]
    if "server" in only:
        results["server"] = server(args.server_mb)
        print(json.dumps({"server": results["server"]}), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
