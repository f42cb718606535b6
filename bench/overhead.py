"""What observability costs a warm question. Run: .venv/bin/python bench/overhead.py [--data-dir DIR]

Figures on the indexed seeds: `service.ask` in-process (the engine with its stage timers and spans) and warm
`/api/ask` over real HTTP on loopback (with the request-id middleware, the access log and the HTTP metrics); and,
where the code has them, the time spent inside the stage timers during real asks, the cost of one `stage()` alone
and of the request middleware alone (what a busy shared machine's noise hides in the first two). Run it on two
commits to compare; machines are noisy, so it repeats each measurement and reports the median and the best repeat."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from processes import qa_serve  # noqa: E402  (the benchmark scripts share their helpers)

QUESTIONS = ["What did Truss demand?", "Who signed the sanctions law?", "When did the meeting take place?"]


def in_process(data_dir: Path, asks: int) -> dict[str, float]:
    """Microseconds per warm `service.ask` (median and p95 of `asks`)."""
    from qa.settings import Settings
    from qa.wiring import open_service

    service = open_service(Settings(data_dir=data_dir))
    try:
        for question in QUESTIONS * 10:  # warm-up: the model, the replica, the caches
            service.ask(question)
        took = []
        for i in range(asks):
            began = time.perf_counter()
            service.ask(QUESTIONS[i % len(QUESTIONS)])
            took.append((time.perf_counter() - began) * 1e6)
    finally:
        service.close()
    took.sort()
    return {"ask_p50_us": statistics.median(took), "ask_p95_us": took[int(0.95 * (len(took) - 1))]}


def over_http(data_dir: Path, requests: int, extra: dict[str, str]) -> dict[str, float]:
    """Milliseconds per warm sequential `POST /api/ask` against `qa serve` (median and p95)."""
    import httpx

    server, url = qa_serve({**os.environ, "QA_DATA_DIR": str(data_dir), **extra})
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            for question in QUESTIONS * 10:
                client.post("/api/ask", json={"question": question}).raise_for_status()
            took = []
            for i in range(requests):
                began = time.perf_counter()
                client.post("/api/ask", json={"question": QUESTIONS[i % len(QUESTIONS)]}).raise_for_status()
                took.append((time.perf_counter() - began) * 1000)
    finally:
        server.terminate()
        server.wait(timeout=20)
    took.sort()
    return {"http_p50_ms": statistics.median(took), "http_p95_ms": took[int(0.95 * (len(took) - 1))]}


def stage_alone(loops: int) -> dict[str, float]:
    """Microseconds of one `with stage("dense"):` around nothing (no exporter: the no-op tracer)."""
    try:
        from qa.telemetry import stage
    except ImportError:  # a commit before the stage timers
        return {}
    began = time.perf_counter()
    for _ in range(loops):
        with stage("dense"):
            pass
    return {"stage_us": (time.perf_counter() - began) * 1e6 / loops}


def inside_asks(data_dir: Path, asks: int) -> dict[str, float]:
    """Microseconds per warm `service.ask` spent inside the stage and operation timers themselves (their entry and
    exit, timed where they run: after the model, beside the store's threads), and the ask's own wall time. Where
    the machine is busy this is more than the loop in `stage_alone` says; it includes the probe's own cost."""
    try:
        from qa import telemetry
    except ImportError:  # a commit before the stage timers
        return {}
    import threading

    from qa.settings import Settings
    from qa.wiring import open_service

    spent = [0.0]
    lock = threading.Lock()
    originals = {kind: (kind.__enter__, kind.__exit__) for kind in (telemetry.stage, telemetry.operation)}

    def timing(method: Any) -> Any:
        def run(*args: Any) -> Any:
            began = time.perf_counter()
            try:
                return method(*args)
            finally:
                took = time.perf_counter() - began
                with lock:
                    spent[0] += took

        return run

    for kind, (enter, leave) in originals.items():
        kind.__enter__, kind.__exit__ = timing(enter), timing(leave)  # type: ignore[method-assign]
    service = open_service(Settings(data_dir=data_dir))
    try:
        for question in QUESTIONS * 10:
            service.ask(question)
        spent[0] = 0.0
        began = time.perf_counter()
        for i in range(asks):
            service.ask(QUESTIONS[i % len(QUESTIONS)])
        wall = time.perf_counter() - began
    finally:
        service.close()
        for kind, (enter, leave) in originals.items():
            kind.__enter__, kind.__exit__ = enter, leave  # type: ignore[method-assign]
    return {"timers_in_ask_us": spent[0] * 1e6 / asks, "ask_mean_us": wall * 1e6 / asks}


def middleware_alone(loops: int) -> dict[str, float]:
    """Microseconds the request middleware adds to a request (id, header, access line to /dev/null in text and in
    JSON, two metrics), against the same trivial ASGI app without it."""
    try:
        from api.observability import RequestContext
    except ImportError:  # a commit before it
        return {}
    import asyncio
    import logging

    from qa.logs import make_handler

    async def app(scope: dict, receive: object, send: object) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]

    async def sent(message: dict) -> None:
        pass

    async def received() -> dict:
        return {"type": "http.request", "body": b""}

    def scope() -> dict:
        return {"type": "http", "method": "POST", "path": "/api/ask", "headers": [(b"host", b"x")]}

    async def timed(handler: object) -> float:
        began = time.perf_counter()
        for _ in range(loops):
            await handler(scope(), received, sent)  # type: ignore[operator]
        return (time.perf_counter() - began) * 1e6 / loops

    figures = {}
    access = logging.getLogger("api.access")
    access.propagate = False
    access.setLevel(logging.INFO)
    with open(os.devnull, "w") as devnull:
        for log_format in ("text", "json"):
            access.handlers = [make_handler(log_format, devnull)]  # type: ignore[arg-type]
            bare = asyncio.run(timed(app))
            wrapped = asyncio.run(timed(RequestContext(app)))  # type: ignore[arg-type]
            figures[f"middleware_{log_format}_us"] = wrapped - bare
    access.handlers = []
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="an indexed data directory (default: the seeds, indexed now)")
    parser.add_argument("--asks", type=int, default=600)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir
        if data_dir is None:
            data_dir = Path(tmp) / "data"
            env = {**os.environ, "QA_DATA_DIR": str(data_dir)}
            subprocess.run([sys.executable, "-m", "qa", "index", str(REPO / "seeds")], env=env, check=True)
        runs: dict[str, list[float]] = {}
        for _ in range(args.repeats):
            figures = {**in_process(data_dir, args.asks), **over_http(data_dir, args.requests, {})}
            figures.update(stage_alone(100_000))
            figures.update(inside_asks(data_dir, args.asks))
            figures.update(middleware_alone(20_000))
            for name, value in figures.items():
                runs.setdefault(name, []).append(value)
    # The median over repeats, and the best repeat: on a shared machine the best is the least disturbed.
    summary = {name: round(statistics.median(values), 3) for name, values in runs.items()}
    summary.update({f"{name}_best": round(min(values), 3) for name, values in runs.items()})
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
