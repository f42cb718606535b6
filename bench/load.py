"""Load benchmark: 50 clients for 60 s against `qa serve` with API keys on, while a writer adds and removes an
article every second. Run: make bench-load (or python bench/load.py --clients 50 --seconds 60).

The clients take turns at four kinds of call: POST /api/ask, a conversation turn (POST /api/chat), a streamed
turn (POST /api/chat/stream, read to its `done` event) and POST /v1/chat/completions (every other one streamed,
read to [DONE]). An error is any status but 2xx, a transport failure or a stream that does not end as it should.
The corpus is the seed article and the XQuAD-en articles, indexed into a fresh data directory; questions are the
evaluation sets' own. Prints latency p50/p95 per kind, throughput, errors, and the server's resident memory before
the load, after it, and at its peak.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from processes import qa_serve  # noqa: E402  (the benchmark scripts share their process helpers)

KINDS = ("ask", "chat", "stream", "v1")


def questions() -> list[str]:
    """The evaluation sets' questions (seed first, then XQuAD-en)."""
    found = []
    for path in (REPO / "eval/seed_qa.jsonl", REPO / "eval/xquad_en/qa.jsonl"):
        with path.open(encoding="utf-8") as lines:
            found += [json.loads(line)["question"] for line in lines if line.strip()]
    return found


def rss_mib(pid: int) -> tuple[float, float]:
    """A process's resident memory now and at its peak, MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def one_call(client: httpx.Client, kind: str, question: str, turn: int) -> None:
    """One call of a kind, read to its end; raises on anything but a complete success."""
    if kind == "ask":
        client.post("/api/ask", json={"question": question}).raise_for_status()
    elif kind == "chat":
        client.post("/api/chat", json={"message": question}).raise_for_status()
    elif kind == "stream":
        with client.stream("POST", "/api/chat/stream", json={"message": question}) as response:
            response.raise_for_status()
            if "event: done" not in "".join(response.iter_text()):
                raise RuntimeError("stream ended without its done event")
    else:
        body = {"model": "newsqa", "messages": [{"role": "user", "content": question}], "stream": turn % 2 == 1}
        if not body["stream"]:
            reply = client.post("/v1/chat/completions", json=body)
            reply.raise_for_status()
            if not reply.json()["choices"][0]["message"]["content"]:
                raise RuntimeError("empty completion")
            return
        with client.stream("POST", "/v1/chat/completions", json=body) as response:
            response.raise_for_status()
            if "data: [DONE]" not in "".join(response.iter_text()):
                raise RuntimeError("stream ended without [DONE]")


def run_load(url: str, read_key: str, write_key: str, clients: int, seconds: float) -> dict[str, object]:
    """The load itself: per-kind latencies (ms), errors, writes done."""
    pool = questions()
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    writes = [0]
    deadline = time.monotonic() + seconds

    def client_loop(index: int) -> None:
        headers = {"Authorization": f"Bearer {read_key}"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            turn = 0
            while time.monotonic() < deadline:
                kind = KINDS[(index + turn) % len(KINDS)]
                question = pool[(index * 31 + turn) % len(pool)]
                began = time.perf_counter()
                try:
                    one_call(client, kind, question, turn)
                    latencies[kind].append((time.perf_counter() - began) * 1000)
                except Exception as exc:  # every failure is counted, whatever it is
                    errors.append(f"{kind}: {exc}"[:300])
                turn += 1

    def writer() -> None:
        article = {"id": "load/churn", "title": "Churn in the newsroom", "text": "A passage that comes and goes. " * 30}
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {write_key}"}, timeout=60) as client:
            while time.monotonic() < deadline:
                tick = time.monotonic()
                for method, path, body in (
                    ("POST", "/api/articles", article),
                    ("DELETE", "/api/articles/load/churn", None),
                ):
                    try:
                        client.request(method, path, json=body).raise_for_status()
                        writes[0] += 1
                    except Exception as exc:
                        errors.append(f"write: {exc}"[:300])
                time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)] + [
        threading.Thread(target=writer)
    ]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"latencies": latencies, "errors": errors, "writes": writes[0], "wall_s": time.monotonic() - began}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="newsqa-load-"))
    env = {**os.environ, "QA_DATA_DIR": str(work / "data")}
    qa = [sys.executable, "-m", "qa"]
    try:
        for corpus in ("seeds", "eval/xquad_en/corpus.jsonl"):
            subprocess.run([*qa, "index", str(REPO / corpus)], env=env, check=True, capture_output=True)

        def new_key(name: str, *options: str) -> str:
            made = subprocess.run(
                [*qa, "keys", "create", "--name", name, *options], env=env, check=True, capture_output=True, text=True
            )
            return made.stdout.strip()

        read_key = new_key("load-readers", "--rate", "1000000/minute")
        write_key = new_key("load-writer", "--scope", "write")
        server, url = qa_serve(env)
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {read_key}"}, timeout=60) as warm:
                for kind in KINDS:
                    one_call(warm, kind, "What did Truss demand?", 0)
            before, _ = rss_mib(server.pid)
            result = run_load(url, read_key, write_key, args.clients, args.seconds)
            after, peak = rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    latencies: dict[str, list[float]] = result["latencies"]  # type: ignore[assignment]
    errors: list[str] = result["errors"]  # type: ignore[assignment]
    every = [ms for kind in KINDS for ms in latencies[kind]]
    print(f"{args.clients} clients, {args.seconds:.0f} s, keys on, a writer adding and removing an article each second")
    print(f"{'call':<8}{'count':>8}{'p50 ms':>10}{'p95 ms':>10}")
    for kind, values in [*((k, latencies[k]) for k in KINDS), ("all", every)]:
        if values:
            p95 = statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]
            print(f"{kind:<8}{len(values):>8}{statistics.median(values):>10.0f}{p95:>10.0f}")
    rate = len(every) / float(result["wall_s"])  # type: ignore[arg-type]
    print(f"throughput {rate:.1f} calls/s; writes {result['writes']}; errors {len(errors)}")
    print(f"server memory: {before:.0f} MiB before, {after:.0f} MiB after, {peak:.0f} MiB peak")
    for line in errors[:10]:
        print("  error:", line)
    if args.json:
        summary = {
            kind: {"count": len(v), "p50_ms": statistics.median(v), "p95_ms": statistics.quantiles(v, n=20)[-1]}
            for kind, v in [*((k, latencies[k]) for k in KINDS), ("all", every)]
            if len(v) > 1
        }
        args.json.write_text(
            json.dumps(
                {
                    **summary,
                    "errors": len(errors),
                    "rss_before_mib": before,
                    "rss_after_mib": after,
                    "rss_peak_mib": peak,
                },
                indent=2,
            )
        )
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
