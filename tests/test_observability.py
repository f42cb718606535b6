"""Request ids, JSON logs, Prometheus metrics, OpenTelemetry traces, liveness and readiness, over real HTTP on
loopback: `qa serve` in a subprocess, or (for traces, which a test can only collect in its own process) the app
on uvicorn in a thread of this one with the SDK's in-memory exporter."""

from __future__ import annotations

import gc
import io
import json
import logging
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO, SEED_ID, SEEDS, LiveServer, free_port, qa_env, run_qa_in

TRUSS = "What did Truss demand?"
UNANSWERABLE = "What is the capital of Peru?"  # the seed article does not say: the answer abstains
STAGES = {"embed", "dense", "keyword", "fuse", "answer"}
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def data_dir(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("observe") / "data"
    shutil.copytree(seeded_dir, copy)
    return copy


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[LiveServer]:
    live = LiveServer(data_dir, QA_LOG_FORMAT="json")
    yield live
    live.stop()


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def log_lines(server: LiveServer) -> list[dict]:
    """The server's JSON log lines so far (anything else it printed, such as its banner, left out)."""
    lines = []
    for line in server.log.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def lines_of(server: LiveServer, request_id: str) -> list[dict]:
    """The log lines of one request, once its access line is written (it is written after the response)."""
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in log_lines(server) if line.get("request_id") == request_id]
        if any(line["logger"] == "api.access" for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def metrics(client: httpx.Client) -> dict[tuple[str, frozenset], float]:
    """The samples of /metrics by (name, labels)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sample(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# -- request ids ---------------------------------------------------------------------------------------------


def test_a_clients_request_id_comes_back_and_is_in_its_log_lines(server: LiveServer, http: httpx.Client) -> None:
    response = http.post("/api/ask", json={"question": TRUSS}, headers={"X-Request-ID": "client-7:a.b_c"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "client-7:a.b_c"
    lines = lines_of(server, "client-7:a.b_c")
    access = [line for line in lines if line["logger"] == "api.access"]
    assert len(access) == 1, "one access line per request"
    assert access[0]["method"] == "POST" and access[0]["route"] == "/api/ask" and access[0]["status"] == 200
    assert access[0]["duration_ms"] > 0 and access[0]["level"] == "INFO" and access[0]["time"]
    assert not [line for line in log_lines(server) if line["logger"].startswith("uvicorn.access")], (
        "uvicorn's own access log is off: ours replaces it"
    )


def test_an_unusable_request_id_is_replaced_by_a_generated_one(http: httpx.Client) -> None:
    for bad in ("has spaces in it", "x" * 65, 'quote"d', "<script>"):
        response = http.get("/health/live", headers={"X-Request-ID": bad})
        assert response.status_code == 200
        assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"]), bad
    first, second = http.get("/health/live"), http.get("/health/live")
    assert GENERATED_ID.fullmatch(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_every_error_body_carries_the_request_id(server: LiveServer, http: httpx.Client) -> None:
    cases = [
        http.post("/api/ask", json={"question": "  "}),  # 422 from the core
        http.post("/api/ask", content=b"{not json", headers={"content-type": "application/json"}),  # 400
        http.get("/api/articles/no-such-article"),  # 404 from the core
        http.get("/no/such/route"),  # 404 from the router
        http.post("/api/ask", content=b"x" * 3_000_000, headers={"content-type": "application/json"}),  # 413
    ]
    assert [r.status_code for r in cases] == [422, 400, 404, 404, 413]
    for response in cases:
        body = response.json()
        assert body["error"]["message"] and body["request_id"] == response.headers["X-Request-ID"]
    chosen = http.post("/api/ask", json={"question": ""}, headers={"X-Request-ID": "mine-1"})
    assert chosen.json()["request_id"] == "mine-1"
    [access] = [line for line in lines_of(server, "mine-1") if line["logger"] == "api.access"]
    assert access["status"] == 422


def test_the_openapi_schema_documents_the_request_id_metrics_and_probes(http: httpx.Client) -> None:
    schema = http.get("/openapi.json").json()
    assert "request_id" in schema["components"]["schemas"]["ErrorOut"]["properties"]
    ready = schema["paths"]["/health/ready"]["get"]["responses"]
    assert {"200", "503"} <= set(ready)
    assert ready["503"]["content"]["application/json"]["schema"]["$ref"].endswith("/Readiness")
    assert "/health/live" in schema["paths"] and "/health" in schema["paths"]
    assert "text/plain" in schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def test_text_log_lines_carry_the_request_id_too() -> None:
    from qa.logs import REQUEST_ID, make_handler

    stream = io.StringIO()
    logger = logging.getLogger("tests.text-format")
    logger.propagate = False
    logger.addHandler(make_handler("text", stream))
    try:
        token = REQUEST_ID.set("req-42")
        logger.warning("inside")
        REQUEST_ID.reset(token)
        logger.warning("outside")
    finally:
        logger.handlers.clear()
    inside, outside = stream.getvalue().splitlines()
    assert inside.endswith("WARNING tests.text-format [req-42] inside")
    assert outside.endswith("WARNING tests.text-format [-] outside")


# -- metrics -------------------------------------------------------------------------------------------------


def test_metrics_count_requests_stages_outcomes_and_the_index(http: httpx.Client) -> None:
    before = metrics(http)
    for question in (TRUSS, TRUSS, UNANSWERABLE):
        assert http.post("/api/ask", json={"question": question}).status_code == 200
    assert http.post("/api/ask", json={"question": ""}).status_code == 422
    assert http.get(f"/api/articles/{SEED_ID}").status_code == 200
    after = metrics(http)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("qa_http_requests_total", method="POST", route="/api/ask", status="200") == 3
    assert grew("qa_http_requests_total", method="POST", route="/api/ask", status="422") == 1
    # by the route's template, not its path: one series for every article
    assert grew("qa_http_requests_total", method="GET", route="/api/articles/{article_id}", status="200") == 1
    assert grew("qa_http_request_duration_seconds_count", method="POST", route="/api/ask") == 4
    assert grew("qa_http_request_duration_seconds_sum", method="POST", route="/api/ask") > 0
    for stage in STAGES:
        assert grew("qa_stage_seconds_count", operation="ask", stage=stage) == 3, stage
        assert grew("qa_stage_seconds_sum", operation="ask", stage=stage) > 0, stage
    assert grew("qa_answers_total", outcome="answered") == 2
    assert grew("qa_answers_total", outcome="abstained") == 1
    health = http.get("/health").json()
    assert sample(after, "qa_index_articles") == health["articles"] == 1
    assert sample(after, "qa_index_chunks") == health["chunks"] > 5


def test_metrics_count_what_indexing_embeds(http: httpx.Client) -> None:
    article = {"id": "ferry", "title": "Ferry crews strike", "text": "Ferry crews walked out on Monday over pay."}
    before = metrics(http)
    written = http.post("/api/articles", json=article)
    assert written.status_code in (200, 201), written.text
    embedded = written.json()["chunks_embedded"]
    after = metrics(http)
    assert embedded > 0
    assert sample(after, "qa_index_chunks_embedded_total") - sample(before, "qa_index_chunks_embedded_total") == (
        embedded
    )
    for stage in ("plan", "embed", "write"):
        grown = sample(after, "qa_stage_seconds_count", operation="index", stage=stage) - sample(
            before, "qa_stage_seconds_count", operation="index", stage=stage
        )
        assert grown == 1, stage
    assert sample(after, "qa_index_articles") == 2
    assert http.delete("/api/articles/ferry").status_code == 200
    assert sample(metrics(http), "qa_index_articles") == 1


# -- liveness and readiness ----------------------------------------------------------------------------------


def test_liveness_readiness_and_the_old_health_route(http: httpx.Client) -> None:
    assert http.get("/health/live").json() == {"status": "alive"}
    ready = http.get("/health/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["reason"] is None
    assert {c["name"]: c["ok"] for c in body["checks"]} == {"store": True, "replica": True, "model": True}
    assert http.get("/health").json()["status"] == "ok"


def _chroma_run(path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    chroma = Path(sys.executable).parent / "chroma"
    process = subprocess.Popen(
        [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"ANONYMIZED_TELEMETRY": "False", "PATH": "/usr/bin:/bin"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1).read()
            return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("chroma run did not start")
            time.sleep(0.2)


def test_when_the_store_goes_down_not_ready_but_alive_and_errors_keep_their_request_id(tmp_path: Path) -> None:
    chroma, chroma_url = _chroma_run(tmp_path / "chroma")
    try:
        indexed = run_qa_in(tmp_path / "data", "index", str(SEEDS), QA_CHROMA_URL=chroma_url)
        assert indexed.returncode == 0, indexed.stderr
        server = LiveServer(tmp_path / "data", QA_CHROMA_URL=chroma_url, QA_LOG_FORMAT="json")
    except BaseException:
        chroma.kill()
        raise
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert client.get("/health/ready").status_code == 200
            chroma.terminate()
            chroma.wait(timeout=30)

            ready = client.get("/health/ready", headers={"X-Request-ID": "probe-1"})
            assert ready.status_code == 503
            body = ready.json()
            assert body["status"] == "not_ready" and body["reason"].startswith("store: ")
            checks = {c["name"]: c for c in body["checks"]}
            assert not checks["store"]["ok"] and checks["model"]["ok"]
            assert client.get("/health/live").status_code == 200, "alive: restarting it would not help"

            # /metrics still answers without the index's size, and says why in a log line of that request
            scraped = client.get("/metrics", headers={"X-Request-ID": "scrape-1"})
            assert scraped.status_code == 200 and "qa_http_requests_total" in scraped.text
            warned = [line for line in lines_of(server, "scrape-1") if line["logger"] == "api"]
            assert warned and warned[0]["level"] == "WARNING" and "index size" in warned[0]["message"]

            # a store gone away is a 503 that says so (it was a 500: chromadb's client lets httpx's errors
            # through), and the error keeps its request id
            failed = client.get("/health", headers={"X-Request-ID": "broken-1"})
            assert failed.status_code == 503 and "cannot be reached" in failed.json()["error"]["message"]
            assert failed.headers["X-Request-ID"] == "broken-1" and failed.json()["request_id"] == "broken-1"
            lines = lines_of(server, "broken-1")
            [access] = [line for line in lines if line["logger"] == "api.access"]
            assert access["status"] == 503
            asked = client.post("/api/ask", json={"question": "What did Truss demand?"})
            assert asked.status_code == 503, asked.text
    finally:
        server.stop()
        if chroma.poll() is None:
            chroma.kill()


# -- traces --------------------------------------------------------------------------------------------------


class ThreadServer:
    """The app on uvicorn in a thread of the test process, on a free loopback port."""

    def __init__(self, app: object) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False)  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the in-process server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def traced(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadServer, object]]:
    """An in-process server whose spans go to an in-memory exporter (OpenTelemetry allows one tracer provider per
    process: the exporter is shut down afterwards, so later tests' spans are dropped, not kept)."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from api import create_app
    from qa import telemetry
    from qa.settings import Settings
    from qa.wiring import open_service

    exporter = InMemorySpanExporter()
    assert telemetry.configure_tracing("none", span_exporter=exporter)
    data = tmp_path_factory.mktemp("traced") / "data"
    shutil.copytree(seeded_dir, data)
    service = open_service(Settings(data_dir=data))
    live = ThreadServer(create_app(service=service))
    try:
        yield live, exporter
    finally:
        live.stop()
        exporter.shutdown()


def _spans_of(exporter: object, trace_id: int) -> list:
    """The finished spans of one trace (the request's spans end just after its response is sent)."""
    deadline = time.monotonic() + 10
    while True:
        spans = [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]  # type: ignore[attr-defined]
        if any(s.parent is None or s.parent.is_remote for s in spans) or time.monotonic() > deadline:
            return spans
        time.sleep(0.05)


def _children(spans: list, parent: object) -> list:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]  # type: ignore[attr-defined]


def _traceparent(trace_id: int) -> dict[str, str]:
    return {"traceparent": f"00-{trace_id:032x}-{0x1234567890ABCDEF:016x}-01"}


def test_an_ask_over_http_is_one_trace_of_its_stages(traced: tuple[ThreadServer, object]) -> None:
    live, exporter = traced
    trace_id = 0x0AF7651916CD43DD8448EB211C80319C  # the client's trace: the server's spans join it
    response = httpx.post(f"{live.url}/api/ask", json={"question": TRUSS}, headers=_traceparent(trace_id), timeout=60)
    assert response.status_code == 200
    spans = _spans_of(exporter, trace_id)
    [http_span] = [s for s in spans if s.parent is not None and s.parent.is_remote]
    assert http_span.name == "POST /api/ask" and http_span.attributes["http.route"] == "/api/ask"
    [ask] = _children(spans, http_span)
    assert ask.name == "ask"
    stages = _children(spans, ask)
    assert sorted(s.name for s in stages) == sorted(STAGES)
    assert all(ask.start_time <= s.start_time and s.end_time <= ask.end_time for s in stages)


def test_a_streamed_chat_and_an_indexing_run_are_traced_too(traced: tuple[ThreadServer, object]) -> None:
    live, exporter = traced
    streamed = 0x1F7651916CD43DD8448EB211C80319C1
    with httpx.stream(
        "POST", f"{live.url}/api/chat/stream", json={"message": TRUSS}, headers=_traceparent(streamed), timeout=60
    ) as response:
        assert response.status_code == 200
        body = response.read()
    assert b"troops withdraw" in body
    spans = _spans_of(exporter, streamed)
    [ask] = [s for s in spans if s.name == "ask"]
    assert sorted(s.name for s in _children(spans, ask)) == sorted(STAGES), "the answer stage under the ask too"

    indexed = 0x2F7651916CD43DD8448EB211C80319C2
    article = {"id": "ferry", "title": "Ferry crews strike", "text": "Ferry crews walked out on Monday over pay."}
    written = httpx.post(f"{live.url}/api/articles", json=article, headers=_traceparent(indexed), timeout=60)
    assert written.status_code in (200, 201), written.text
    spans = _spans_of(exporter, indexed)
    [index] = [s for s in spans if s.name == "index"]
    assert {s.name for s in _children(spans, index)} == {"plan", "embed", "write"}
    [http_span] = [s for s in spans if s.parent is not None and s.parent.is_remote]
    assert index.parent.span_id == http_span.context.span_id


# -- the command line ----------------------------------------------------------------------------------------


def test_qa_serve_log_format_option_and_a_bad_setting(data_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "qa", "serve", "--port", str(port), "--log-format", "json"],
            env=qa_env(data_dir),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health/live", headers={"X-Request-ID": "cli-1"})
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"qa serve did not start: {log.read_text()}")
                time.sleep(0.2)
        assert response.status_code == 200
        holds = time.monotonic() + 10
        while "cli-1" not in log.read_text() and time.monotonic() < holds:
            time.sleep(0.05)
        [line] = [json.loads(x) for x in log.read_text().splitlines() if '"cli-1"' in x]
        assert line["logger"] == "api.access" and line["route"] == "/health/live"
    finally:
        process.terminate()
        process.wait(timeout=20)
    bad = run_qa_in(data_dir, "serve", QA_LOG_FORMAT="xml")
    assert bad.returncode != 0 and bad.stderr.startswith("error: QA_LOG_FORMAT"), bad.stderr
    assert "Traceback" not in bad.stderr


class OTLPReceiver:
    """An OTLP/HTTP trace receiver on loopback: keeps the spans the exporter posts to /v1/traces."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        spans = self.spans = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the name http.server calls
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        spans.extend(scope.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


def test_the_cli_exports_traces_of_index_and_ask_over_otlp(tmp_path: Path) -> None:
    receiver = OTLPReceiver()
    try:
        otlp = {"QA_OTEL_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
        indexed = run_qa_in(tmp_path / "data", "index", str(SEEDS), **otlp)
        assert indexed.returncode == 0, indexed.stderr
        asked = run_qa_in(tmp_path / "data", "ask", "--json", TRUSS, **otlp)
        assert asked.returncode == 0, asked.stderr
        assert "troops withdraw" in json.loads(asked.stdout)["answer"]
    finally:
        receiver.stop()
    by_id = {span.span_id: span for span in receiver.spans}  # each process flushes its spans as it exits
    [index] = [s for s in receiver.spans if s.name == "index"]
    [ask] = [s for s in receiver.spans if s.name == "ask"]
    assert {s.name for s in receiver.spans if s.parent_span_id == index.span_id} == {"plan", "embed", "write"}
    assert sorted(s.name for s in receiver.spans if s.parent_span_id == ask.span_id) == sorted(STAGES)
    assert not index.parent_span_id and not ask.parent_span_id and len(by_id) == len(receiver.spans)


def test_console_traces_go_to_stderr_and_leave_the_answer_alone(seeded_dir: Path) -> None:
    asked = run_qa_in(seeded_dir, "ask", "--json", TRUSS, QA_OTEL_EXPORTER="console")
    assert asked.returncode == 0, asked.stderr
    assert "troops withdraw" in json.loads(asked.stdout)["answer"], "stdout is still one JSON answer"
    names = re.findall(r'^\s*"name": "([a-z]+)"', asked.stderr, flags=re.MULTILINE)
    assert sorted(names) == sorted([*STAGES, "ask"])


def test_a_server_keeps_what_it_loaded_out_of_the_garbage_collectors_full_passes(tmp_path: Path) -> None:
    """A full pass over what a server loads took 34-41 ms, landing on whichever question was running."""
    from fastapi.testclient import TestClient

    from api import create_app
    from qa.settings import Settings

    gc.unfreeze()  # what an earlier app of this test process froze
    app = create_app(Settings(data_dir=tmp_path / "data"))
    assert gc.get_freeze_count() == 0
    try:
        with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000)) as client:
            assert gc.get_freeze_count() > 10_000, "the modules, the service and its settings"
            assert client.get("/api/articles").status_code == 200
    finally:
        gc.unfreeze()
