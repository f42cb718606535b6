"""Scale benchmark: the product at 10,000, 100,000 and 1,000,000 chunks. Run: make bench-scale (not part of make test).

Each index is built through the product's own store and replica classes with synthetic 384-d vectors (embedding a
million chunks would take days on two cores) and realistic text: articles of 20 chunks, each chunk six sentences
drawn from the shipped sets (XQuAD-en and the seed article), dated over two years and spread over 20 outlets. The
build is kept in --work and reused by later runs. Then, for each size, with the real model answering:

- add one article (9 chunks) through the service, and how much of that is not its own embedding (until the add
  answers, and until the writer's own replica has followed it);
- the first question to a running `qa serve` after another process wrote, against its warm questions;
- the same add through that server's API (`POST /api/articles`) and the first question after it;
- warm `POST /api/ask` p50 / p95, unfiltered, limited to 10 articles, and limited to a week of publication (about
  1/104 of the chunks: 9,600 at 1,000,000);
- cold `qa list` and cold `qa ask` (fresh processes, wall time);
- the server's peak memory (VmHWM) and the data directory's size on disk;
- the machine's speed in those minutes (`machine_gauge_before_ms`, `machine_gauge_after_ms`): the same fixed work of a
  question's that no index takes part in, so that a half-speed hour can be told from a normal one.

Before each size (and mode), every file of its index is read through once (`--no-read-ahead`: not): this machine
pages out file cache that nobody read for about a minute, so an index that sat unread while another size was measured
would be read partly from disk, more the longer it sat (README, Scale).

`--modes local,server` measures each index both embedded (Chroma in the qa process, on disk) and through a
`chroma run` server over the same files (QA_CHROMA_URL), as several machines would use it.

Figures are medians of several runs on a shared machine: compare them within one run, not across runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
QA = [sys.executable, "-m", "qa"]
sys.path.insert(0, str(REPO / "bench"))

from processes import chroma_run, qa_serve  # noqa: E402  (the benchmark scripts share their helpers)

CHUNKS_PER_ARTICLE = 20
SENTENCES_PER_CHUNK = 6
ARTICLES_PER_BATCH = 50
OUTLETS = [f"Outlet {n}" for n in range(20)]
DIMENSION = 384


def sentence_pool() -> list[str]:
    """Every sentence of the shipped corpora, as the product's splitter cuts them."""
    from qa.text import sentence_spans

    texts = [json.loads(line)["text"] for line in (REPO / "eval/xquad_en/corpus.jsonl").open(encoding="utf-8")]
    texts += [p.read_text(encoding="utf-8") for p in (REPO / "seeds").glob("*.md")]
    return [t[s:e] for t in texts for s, e in sentence_spans(t) if len(t[s:e].split()) >= 5]


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Rows of length one, as the model's vectors are (the answerer's sentence scores assume it)."""
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def build(data_dir: Path, chunks: int, seed: int = 0) -> dict[str, float]:
    """A synthetic index of `chunks` chunks in `data_dir`, written through ChromaStore and followed by a replica."""
    from qa.chunking import chunk_id
    from qa.domain import Article, Chunk
    from qa.embedder import MODEL_ID
    from qa.replica import Replica
    from qa.settings import Settings
    from qa.store import ArticleToWrite, ChromaStore
    from qa.wiring import chroma_client

    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    pool = sentence_pool()
    settings = Settings(data_dir=data_dir)
    client, where = chroma_client(settings)
    store = ChromaStore(client, settings.collection, MODEL_ID, DIMENSION, where)
    store.ensure()
    began = time.perf_counter()
    articles = chunks // CHUNKS_PER_ARTICLE
    start_day = dt.date(2024, 1, 1)
    for first in range(0, articles, ARTICLES_PER_BATCH):
        writes = []
        for n in range(first, min(first + ARTICLES_PER_BATCH, articles)):
            article_id = f"synthetic/{n:07d}"
            paragraphs, chunk_list, offset = [], [], 0
            for position in range(CHUNKS_PER_ARTICLE):
                sentences = [pick.choice(pool) for _ in range(SENTENCES_PER_CHUNK)]
                spans, cursor = [], offset
                for sentence in sentences:
                    spans.append((cursor, cursor + len(sentence)))
                    cursor += len(sentence) + 1
                text = " ".join(sentences)
                chunk_list.append(
                    Chunk(
                        id=chunk_id(article_id, position),
                        article_id=article_id,
                        position=position,
                        start=offset,
                        end=offset + len(text),
                        text=text,
                        sentences=spans,
                    )
                )
                paragraphs.append(text)
                offset += len(text) + 2
            published = start_day + dt.timedelta(days=int(rng.integers(0, 730)))
            article = Article(
                id=article_id,
                title=pick.choice(pool)[:80],
                text="\n\n".join(paragraphs),
                published=published.isoformat(),
                source=pick.choice(OUTLETS),
            )
            vectors = _unit(rng.normal(size=(CHUNKS_PER_ARTICLE, DIMENSION)))
            shape = (SENTENCES_PER_CHUNK, DIMENSION)
            sentence_vectors = [_unit(rng.normal(size=shape)) for _ in range(CHUNKS_PER_ARTICLE)]
            writes.append(
                ArticleToWrite(article, f"synthetic-{n}", "bench", chunk_list, ["h"] * len(chunk_list), vectors,
                               sentence_vectors)
            )  # fmt: skip
        with store.batch():
            store.put_articles(writes)
        if first % (ARTICLES_PER_BATCH * 100) == 0:
            print(f"  {first * CHUNKS_PER_ARTICLE:,} chunks written, {time.perf_counter() - began:.0f} s", flush=True)
    written = time.perf_counter() - began
    began = time.perf_counter()
    Replica(store, data_dir / "replica" / settings.collection).sync()
    return {"store_write_s": written, "replica_build_s": time.perf_counter() - began}


CHROMA_URL: str | None = None  # set while a size is measured through a Chroma server


def _env(data_dir: Path) -> dict[str, str]:
    extra = {"QA_CHROMA_URL": CHROMA_URL} if CHROMA_URL else {}
    return {**os.environ, "QA_DATA_DIR": str(data_dir), **extra}


def _ask(url: str, body: dict[str, object]) -> float:
    request = urllib.request.Request(
        f"{url}/api/ask", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    began = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()
    return (time.perf_counter() - began) * 1000


def _call(url: str, method: str, path: str, body: dict[str, str] | None = None) -> None:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=300) as response:
        response.read()


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def _peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _wall(command: list[str], data_dir: Path, runs: int) -> float:
    walls = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(command, env=_env(data_dir), check=True, capture_output=True)
        walls.append(time.perf_counter() - began)
    return statistics.median(walls)


def _nine_chunk_article(n: int) -> dict[str, str]:
    """A fresh article of nine short paragraphs (sentences of the shipped sets): nine chunks."""
    pick = random.Random(10_000 + n)
    pool = [s for s in sentence_pool() if len(s) < 200]
    paragraphs = [" ".join(pick.choice(pool) for _ in range(4)) for _ in range(9)]
    return {"id": f"added/{n}", "title": f"Added story {n}", "text": "\n\n".join(paragraphs)}


def machine_gauge(questions: list[str], rounds: int = 40) -> float:
    """Median milliseconds of one fixed piece of a question's CPU work that no index takes part in: the model
    embedding a question, then the span reader reading it against one fixed quote (cut to the reader's 256 word
    pieces). This shared machine's speed drifts from hour to hour (a warm ask at 10,000 chunks: 32 ms one
    afternoon, 57 ms another): the gauge tells a half-speed hour from a normal one. It times the model
    only, not the store's reads, so it does not rank hours closer than that."""
    from qa.embedder import MiniLMEmbedder
    from qa.reader import SpanReader

    embedder, reader = MiniLMEmbedder(), SpanReader()
    quote = " ".join(sentence_pool()[:30])
    took = []
    for n in range(rounds + 5):
        began = time.perf_counter()
        embedder.embed([questions[n]])
        reader.read(questions[n], [quote])
        took.append((time.perf_counter() - began) * 1000)
    return statistics.median(took[5:])  # the first few load the sessions and warm the caches


def measure(data_dir: Path, questions: list[str], asks: int, runs: int) -> dict[str, float]:
    """Everything but the build, on one index."""
    from indexer.pipeline import plan_chunks
    from qa.chunking import indexed_text
    from qa.domain import Article, ArticleDraft
    from qa.settings import Settings
    from qa.wiring import open_service

    figures: dict[str, float] = {"machine_gauge_before_ms": machine_gauge(questions)}
    figures["cold_qa_list_s"] = _wall([*QA, "list"], data_dir, runs)
    figures["cold_qa_ask_s"] = _wall([*QA, "ask", questions[0]], data_dir, runs)
    server, url = qa_serve(_env(data_dir), seconds=1200)
    try:
        for question in questions[:10]:
            _ask(url, {"question": question})
        warm = [_ask(url, {"question": questions[i % len(questions)]}) for i in range(asks)]
        figures["warm_ask_p50_ms"], figures["warm_ask_p95_ms"] = _percentiles(warm)
        writer = open_service(Settings(data_dir=data_dir, chroma_url=CHROMA_URL))
        some = [a.id for a in writer.list_articles(limit=200).articles]
        chooser = random.Random(1)
        filtered = [
            _ask(url, {"question": questions[i % len(questions)], "article_ids": chooser.sample(some, 10)})
            for i in range(asks)
        ]
        figures["filtered_ask_p50_ms"], figures["filtered_ask_p95_ms"] = _percentiles(filtered)
        # a week of news: the dates span 730 days, so about 1/104 of the chunks (9,600 at 1,000,000)
        weeks = []
        for i in range(asks):
            since = dt.date(2024, 1, 1) + dt.timedelta(days=chooser.randrange(0, 723))
            window = {"since": since.isoformat(), "until": (since + dt.timedelta(days=7)).isoformat()}
            weeks.append(_ask(url, {"question": questions[i % len(questions)], **window}))
        figures["week_ask_p50_ms"], figures["week_ask_p95_ms"] = _percentiles(weeks)

        writer.engine.embedder.embed(["load the model before the clock starts"])
        adds, overheads, followed, firsts, warms = [], [], [], [], []
        chunks = []
        for n in range(runs):
            body = _nine_chunk_article(n)
            began = time.perf_counter()
            written = writer.put_article(ArticleDraft(**body))
            added = time.perf_counter() - began
            writer.engine.settle()  # the writer's own replica follows after the add answers: until it has
            caught_up = time.perf_counter() - began
            first = _ask(url, {"question": questions[n]})
            warms += [_ask(url, {"question": questions[n + k]}) for k in range(1, 4)]
            article = Article(id=body["id"], title=body["title"], text=body["text"])
            planned = plan_chunks(article, writer.engine.embedder, 256)
            texts = [indexed_text(c.text, c.context)[0] for c in planned]
            spans = [[(s - c.start, e - c.start) for s, e in c.sentences] for c in planned]
            began = time.perf_counter()
            writer.engine.embedder.embed_with_spans(texts, spans)  # what indexing it cost in the model alone
            embedding = time.perf_counter() - began
            chunks.append(written.article.chunks)
            adds.append(added * 1000)
            overheads.append((added - embedding) * 1000)
            followed.append((caught_up - embedding) * 1000)
            firsts.append(first)
        figures["added_article_chunks"] = statistics.median(chunks)
        figures["add_article_ms"] = statistics.median(adds)
        figures["add_article_beyond_embedding_ms"] = statistics.median(overheads)
        figures["add_article_followed_beyond_embedding_ms"] = statistics.median(followed)
        figures["first_ask_after_write_ms"] = statistics.median(firsts)
        figures["warm_ask_between_writes_ms"] = statistics.median(warms)
        for n in range(runs):
            writer.remove_article(f"added/{n}")
        # The same through the running server's API: the write and the next question in one process.
        posts, after_posts = [], []
        for n in range(runs):
            began = time.perf_counter()
            _call(url, "POST", "/api/articles", _nine_chunk_article(100 + n))
            posts.append((time.perf_counter() - began) * 1000)
            after_posts.append(_ask(url, {"question": questions[n]}))
        for n in range(runs):
            _call(url, "DELETE", f"/api/articles/added/{100 + n}")
        figures["api_add_article_ms"] = statistics.median(posts)
        figures["first_ask_after_api_write_ms"] = statistics.median(after_posts)
        figures["server_peak_mib"] = _peak_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    figures["disk_mib"] = sum(f.stat().st_size for f in data_dir.rglob("*") if f.is_file()) / 2**20
    figures["machine_gauge_after_ms"] = machine_gauge(questions)
    return figures


def read_into_cache(data_dir: Path) -> float:
    """Read every file of an index through once, so that each size's measurements start from the same place: this
    machine pages out cache that went unread for about a minute (README, Scale), and an index that sat while another
    size was measured would otherwise be read partly from disk, by how long it sat. Seconds it took."""
    from qa.vector_file import read_through

    began = time.perf_counter()
    for path in sorted(data_dir.rglob("*")):
        if path.is_file():
            read_through(path)
    return time.perf_counter() - began


def _measure_in(mode: str, data_dir: Path, questions: list[str], args: argparse.Namespace) -> dict[str, float]:
    """`measure`, with Chroma in the process (local) or behind `chroma run` (server)."""
    global CHROMA_URL
    if mode == "local":
        return measure(data_dir, questions, args.asks, args.runs)
    chroma, CHROMA_URL = chroma_run(data_dir / "chroma")
    try:
        figures = measure(data_dir, questions, args.asks, args.runs)
        figures["chroma_server_peak_mib"] = _peak_mib(chroma.pid)
        return figures
    finally:
        CHROMA_URL = None
        chroma.terminate()
        chroma.wait(timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="chunk counts, comma-separated")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "newsqa-scale")
    parser.add_argument("--asks", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true", help="build the indexes again even if --work has them")
    parser.add_argument("--build-only", action="store_true", help="build the indexes, measure nothing")
    parser.add_argument("--modes", default="local", help="local (Chroma in the process), server (chroma run), or both")
    parser.add_argument("--no-read-ahead", action="store_true", help="measure each index as the cache holds it, unread")
    args = parser.parse_args()
    questions = [json.loads(line)["question"] for line in (REPO / "eval/xquad_en/qa.jsonl").open(encoding="utf-8")]
    results = {}
    for size in (int(s) for s in args.sizes.split(",")):
        data_dir = args.work / f"chunks-{size}"
        built = data_dir / "built.json"
        if args.rebuild or not built.exists():
            shutil.rmtree(data_dir, ignore_errors=True)
            print(f"building {size:,} chunks in {data_dir}", flush=True)
            built.parent.mkdir(parents=True, exist_ok=True)
            built.write_text(json.dumps(build(data_dir, size)))
        if args.build_only:
            continue
        for mode in args.modes.split(","):
            print(f"measuring {size:,} chunks ({mode})", flush=True)
            read = {} if args.no_read_ahead else {"read_into_cache_s": read_into_cache(data_dir)}
            results[f"{size} {mode}"] = {
                **json.loads(built.read_text()),
                **read,
                **_measure_in(mode, data_dir, questions, args),
            }
            print(json.dumps({f"{size} {mode}": results[f"{size} {mode}"]}, indent=2), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
