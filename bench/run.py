"""Benchmarks behind the README's speed figures. Run: make bench (or .venv/bin/python bench/run.py).

Whole-process timings of `qa ask` on the indexed seeds, and indexing throughput against the bare model's own
embedding throughput on the same chunk texts. Medians of several runs; machines are noisy, so compare ratios
measured in the same run rather than absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QA = [sys.executable, "-m", "qa"]
sys.path.insert(0, str(REPO / "bench"))

from processes import qa_serve  # noqa: E402  (the benchmark scripts share their helpers)


def _env(data_dir: Path) -> dict[str, str]:
    import os

    return {**os.environ, "QA_DATA_DIR": str(data_dir)}


def cold_ask(data_dir: Path, runs: int, question: str) -> dict[str, float]:
    """Wall seconds of `qa ask` in a fresh process, after one warm-up run (file cache warm, process cold)."""
    subprocess.run([*QA, "ask", question], env=_env(data_dir), check=True, capture_output=True)
    walls = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([*QA, "ask", question], env=_env(data_dir), check=True, capture_output=True)
        walls.append(time.perf_counter() - began)
    return {"median_s": statistics.median(walls), "min_s": min(walls), "max_s": max(walls), "runs": runs}


def indexing_throughput(corpus: Path, runs: int) -> dict[str, float]:
    """Chunks per second of a full `qa index` run through the service (in-process, model loaded: loading files,
    chunking, embedding, writing, the keyword index) vs the bare model embedding the very texts the run embeds
    (title, heading and chunk), same batch size."""
    from indexer import load_paths
    from indexer.pipeline import plan_chunks
    from qa.chunking import indexed_text
    from qa.embedder import MiniLMEmbedder
    from qa.settings import Settings
    from qa.wiring import open_service

    embedder = MiniLMEmbedder()
    loaded, _ = load_paths([corpus])
    texts = [indexed_text(c.text, c.context)[0] for item in loaded for c in plan_chunks(item.article, embedder, 256)]
    bare, full = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            service = open_service(Settings(data_dir=Path(tmp)))
            # one-off loads of a process (the model, the sentence splitter) are not throughput
            service.engine.embedder.embed(["load the model before the clock starts"])
            plan_chunks(loaded[0].article, service.engine.embedder, 256)
            began = time.perf_counter()
            report = service.index_paths([corpus])
            full.append(time.perf_counter() - began)
            assert report.chunks_embedded == len(texts)
        began = time.perf_counter()
        embedder.embed(texts)
        bare.append(time.perf_counter() - began)
    bare_s, full_s = statistics.median(bare), statistics.median(full)
    tokens = sum(embedder.count_tokens(t) for t in texts)
    return {
        "chunks": len(texts),
        "tokens": tokens,
        "bare_model_chunks_per_s": len(texts) / bare_s,
        "indexing_chunks_per_s": len(texts) / full_s,
        "bare_model_tokens_per_s": tokens / bare_s,
        "indexing_share_of_bare": bare_s / full_s,
        "runs": runs,
    }


def warm_api(data_dir: Path, requests: int, clients: int, seconds: float) -> dict[str, float]:
    """Warm `/api/ask` latency over real HTTP on loopback (sequential), then throughput with concurrent clients."""
    import threading

    import httpx

    questions = ["What did Truss demand?", "Who signed the sanctions law?", "When did the meeting take place?"]
    server, url = qa_serve(_env(data_dir))
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            for question in questions * 5:  # warm-up
                client.post("/api/ask", json={"question": question}).raise_for_status()
            latencies = []
            for i in range(requests):
                began = time.perf_counter()
                client.post("/api/ask", json={"question": questions[i % len(questions)]}).raise_for_status()
                latencies.append((time.perf_counter() - began) * 1000)
        latencies.sort()
        done = [0] * clients
        deadline = time.monotonic() + seconds

        def worker(index: int) -> None:
            with httpx.Client(base_url=url, timeout=30) as client:
                while time.monotonic() < deadline:
                    client.post("/api/ask", json={"question": questions[done[index] % 3]}).raise_for_status()
                    done[index] += 1

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
    finally:
        server.terminate()
        server.wait(timeout=20)
    return {
        "p50_ms": statistics.median(latencies),
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))],
        "requests": requests,
        f"throughput_rps_{clients}_clients": sum(done) / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--corpus", type=Path, default=REPO / "eval" / "xquad_en" / "corpus.jsonl")
    args = parser.parse_args()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        subprocess.run([*QA, "index", str(REPO / "seeds")], env=_env(data_dir), check=True, capture_output=True)
        results["cold_qa_ask"] = cold_ask(data_dir, args.runs, "What did Truss demand?")
        # a question with a short answer ("11 February 2022") exercises the span picker too
        results["cold_qa_ask_typed"] = cold_ask(data_dir, args.runs, "When did Lavrov and Truss meet?")
        results["warm_api_ask"] = warm_api(data_dir, requests=200, clients=8, seconds=15)
    results["indexing"] = indexing_throughput(args.corpus, max(1, args.runs // 2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
