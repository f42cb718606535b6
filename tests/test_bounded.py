"""Bounded work per request: the model's batches, cancelling an add between its steps, big adds as background
jobs, a client that leaves, and `qa serve` stopping on SIGTERM while an add runs."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from qa.cancel import Cancelled, CancelToken
from qa.domain import ArticleDraft, ArticleWrite
from qa.embedder import MiniLMEmbedder
from qa.errors import Conflict, NotFound
from qa.heaps import give_back_memory
from qa.jobs import Busy, JobRunner
from qa.service import NewsService
from qa.settings import Settings
from qa.wiring import open_service
from tests.conftest import SEED_ID, SEEDS, LiveServer, holds_within, run_qa_in

BIG = 20_000  # QA_BACKGROUND_ADD_CHARS of the servers here: a 50 KB article is "big"


def long_text(chars: int, tag: str = "") -> str:
    """About `chars` characters of the seed article's paragraphs, numbered so that no two are alike."""
    paragraphs = [p for p in next(SEEDS.glob("*.md")).read_text(encoding="utf-8").split("\n\n") if len(p) > 80]
    out: list[str] = []
    size = 0
    while size < chars:
        out.append(f"Part {len(out)} {tag}. {paragraphs[len(out) % len(paragraphs)]}")
        size += len(out[-1]) + 2
    return "\n\n".join(out)


# -- the model's batches -------------------------------------------------------------------------------------


def test_a_forward_pass_is_bounded_in_tokens_not_only_in_texts(embedder: MiniLMEmbedder) -> None:
    """onnxruntime keeps the memory of the largest batch it ran: 32 texts of 256 tokens held 760 MB for good."""
    texts = [long_text(1500, tag=str(n)) for n in range(40)]  # each truncated at 256 tokens
    shapes: list[tuple[int, int]] = []
    forward = embedder._forward

    def recording(encodings, options=None, session=None):  # the real forward pass, its shape noted
        shapes.append((len(encodings), max(len(e.ids) for e in encodings)))
        return forward(encodings, options, session)

    embedder._forward = recording  # type: ignore[method-assign]
    try:
        together = embedder.embed(texts)
    finally:
        del embedder._forward
    assert shapes and all(rows * width <= embedder.max_batch_tokens for rows, width in shapes)
    assert max(width for _, width in shapes) == 256
    alone = np.stack([embedder.embed([t])[0] for t in texts[:3]])
    assert np.allclose(together[:3], alone, atol=1e-4)


def _resident_mib() -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) / 1024


def test_the_model_gives_its_working_memory_back_between_windows(embedder: MiniLMEmbedder) -> None:
    texts = [long_text(1500, tag=str(n)) for n in range(16)]
    before = embedder.embed(texts)
    give_back_memory()  # what is free already goes back to the system: what is left is held
    holding = _resident_mib()
    embedder.release_memory()
    give_back_memory()  # as after each window's write (whether the C heap returns it by itself varies)
    assert _resident_mib() < holding - 15  # the arena's ~35 MB at 512 word pieces a batch
    assert np.array_equal(embedder.embed(texts), before)  # and the model works as before


# -- cancelling an add in the service ------------------------------------------------------------------------


@pytest.fixture
def service(tmp_path: Path) -> Iterator[NewsService]:
    opened = open_service(Settings(data_dir=tmp_path / "data"))
    yield opened
    opened.close()


def test_an_add_cancelled_between_steps_stores_nothing(service: NewsService) -> None:
    first = service.put_article(ArticleDraft(id="a", title="A", text=long_text(3000, "first")))
    token = CancelToken()
    steps: list[tuple[int, int]] = []

    def cancel_after_the_first_step(done: int, total: int) -> None:
        steps.append((done, total))
        token.cancel("Test.")

    for draft in (
        ArticleDraft(id="a", title="A again", text=long_text(60_000, "second")),  # a replacement
        ArticleDraft(id="b", title="B", text=long_text(60_000, "new")),  # a new article
    ):
        steps.clear()
        token = CancelToken()
        with pytest.raises(Cancelled):
            service.put_article(draft, cancel=token, embedded=cancel_after_the_first_step)
        # one batch of the model was heard, then the run stopped
        assert len(steps) == 1 and 0 < steps[0][0] <= service.settings.embed_batch_size < 40 < steps[0][1]
    assert service.get_article("a").content_hash == first.article.content_hash
    assert service.get_article("a").text == long_text(3000, "first")
    with pytest.raises(NotFound):
        service.get_article("b")
    assert service.health().articles == 1
    # the lock was let go: the next add goes through, with its progress heard step by step
    steps.clear()
    written = service.put_article(ArticleDraft(id="b", title="B", text=long_text(5000)), embedded=_note(steps))
    assert written.status == "added" and steps[-1] == (written.chunks_embedded, written.chunks_embedded)


def _note(steps: list[tuple[int, int]]):
    return lambda done, total: steps.append((done, total))


# -- the job runner ------------------------------------------------------------------------------------------


def _written(article_id: str) -> ArticleWrite:
    info = {"id": article_id, "title": "T", "chunks": 1, "content_hash": "h"}
    return ArticleWrite.model_validate({"article": info, "status": "added", "chunks_embedded": 1})


def test_the_runner_keeps_a_bounded_number_of_jobs_waiting_and_finished() -> None:
    runner = JobRunner(max_waiting=2, keep_finished=2)
    gate = threading.Event()

    def blocked(token: CancelToken, progress) -> ArticleWrite:
        while not gate.wait(0.05):
            token.check()
        return _written("x")

    running = runner.submit("x", blocked)
    assert holds_within(10, lambda: runner.get(running.id).state == "running")
    waiting = [runner.submit(f"w{n}", lambda token, progress: _written("w")) for n in range(2)]
    with pytest.raises(Busy):
        runner.submit("one too many", lambda token, progress: _written("w"))
    cancelled = runner.cancel(waiting[0].id)  # a waiting job ends at once
    assert cancelled.state == "cancelled" and cancelled.error is not None
    gate.set()
    assert holds_within(10, lambda: runner.get(waiting[1].id).state == "done")
    with pytest.raises(Conflict):
        runner.cancel(waiting[1].id)  # done: nothing to cancel
    more = []
    for n in range(3):
        more.append(runner.submit(f"more{n}", lambda token, progress: _written("m")))
        assert holds_within(10, lambda: runner.get(more[-1].id).state == "done")
    for forgotten in (running, *waiting, more[0]):  # only the last two finished jobs are kept
        with pytest.raises(NotFound):
            runner.get(forgotten.id)
    assert runner.get(more[1].id).state == runner.get(more[2].id).state == "done"
    runner.close()


def test_stopping_the_runner_cancels_running_and_waiting_work() -> None:
    runner = JobRunner()

    def endless(token: CancelToken, progress) -> ArticleWrite:
        while True:
            token.check()
            time.sleep(0.05)

    running = runner.submit("a", endless)
    waiting = runner.submit("b", endless)
    assert holds_within(10, lambda: runner.get(running.id).state == "running")
    with runner.tracked() as request_token:
        runner.stop()
        assert request_token.cancelled
    assert holds_within(10, lambda: runner.get(running.id).state == "cancelled")
    assert runner.get(waiting.id).state == "cancelled"
    with pytest.raises(Cancelled):
        runner.submit("c", endless)
    runner.close()


# -- over HTTP -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jobs_server(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    import shutil

    data = tmp_path_factory.mktemp("jobs") / "data"
    shutil.copytree(seeded_dir, data)
    live = LiveServer(data, QA_BACKGROUND_ADD_CHARS=str(BIG))
    yield live
    live.stop()


@pytest.fixture
def http(jobs_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=jobs_server.url, timeout=60) as client:
        yield client


def _until_finished(http: httpx.Client, job_id: str) -> dict:
    job: dict = {}

    def finished() -> bool:
        nonlocal job
        job = http.get(f"/api/jobs/{job_id}").json()
        return job["state"] in ("done", "failed", "cancelled")

    assert holds_within(300, finished), job
    return job


def _until_running(http: httpx.Client, job_id: str) -> dict:
    job: dict = {}

    def embedding() -> bool:
        nonlocal job
        job = http.get(f"/api/jobs/{job_id}").json()
        return job["state"] != "queued" and job["chunks_done"] > 0

    assert holds_within(300, embedding), job
    return job


def test_a_big_article_is_added_in_the_background(http: httpx.Client) -> None:
    text = long_text(50_000, "background")
    posted = http.post("/api/articles", json={"id": "big", "title": "Big", "text": text})
    assert posted.status_code == 202, posted.text
    job = posted.json()
    assert posted.headers["location"] == f"/api/jobs/{job['id']}"
    assert job["article_id"] == "big" and job["state"] in ("queued", "running")
    done = _until_finished(http, job["id"])
    assert done["state"] == "done", done
    assert done["chunks_total"] > 40 and done["chunks_done"] == done["chunks_total"]
    assert done["result"]["status"] == "added" and done["result"]["chunks_embedded"] == done["chunks_total"]
    assert http.get("/api/articles/big").json()["text"] == text
    again = http.delete(f"/api/jobs/{job['id']}")  # done: it cannot be undone by cancelling
    assert again.status_code == 409 and "stored" in again.json()["error"]["message"]
    # small articles are still added at once
    small = http.post("/api/articles", json={"id": "small", "title": "Small", "text": long_text(2000)})
    assert small.status_code == 201 and small.json()["status"] == "added"


def test_an_unknown_job_is_a_404_and_the_schema_says_so(http: httpx.Client) -> None:
    for method in ("GET", "DELETE"):
        missing = http.request(method, "/api/jobs/nope")
        assert missing.status_code == 404 and "nope" in missing.json()["error"]["message"]
    paths = http.get("/openapi.json").json()["paths"]
    assert {"200", "404"} <= set(paths["/api/jobs/{job_id}"]["get"]["responses"])
    assert {"200", "404", "409"} <= set(paths["/api/jobs/{job_id}"]["delete"]["responses"])
    post = paths["/api/articles"]["post"]["responses"]
    assert {"200", "201", "202"} <= set(post) and "Location" in post["202"]["headers"]


def test_cancelling_a_job_keeps_the_previous_version(http: httpx.Client) -> None:
    first = http.post("/api/articles", json={"id": "kept", "title": "Kept", "text": long_text(3000, "v1")})
    assert first.status_code == 201
    running = http.post("/api/articles", json={"id": "kept", "title": "Kept v2", "text": long_text(300_000, "v2")})
    waiting = http.post("/api/articles", json={"id": "never", "title": "Never", "text": long_text(30_000)})
    assert running.status_code == waiting.status_code == 202
    _until_running(http, running.json()["id"])
    queued = http.delete(f"/api/jobs/{waiting.json()['id']}").json()
    assert queued["state"] == "cancelled"  # it had not started
    http.delete(f"/api/jobs/{running.json()['id']}")
    stopped = _until_finished(http, running.json()["id"])
    assert stopped["state"] == "cancelled" and stopped["chunks_done"] < stopped["chunks_total"]
    assert "Nothing was stored" in stopped["error"]["message"]
    kept = http.get("/api/articles/kept").json()
    assert kept["content_hash"] == first.json()["article"]["content_hash"] and kept["title"] == "Kept"
    assert http.get("/api/articles/never").status_code == 404


def _raw_post(port: int, body: dict) -> socket.socket:
    """POST /api/articles on a raw socket, without reading the answer: the caller hangs up when it likes."""
    payload = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    head = "POST /api/articles HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    sock.sendall(f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
    return sock


def test_an_add_whose_client_leaves_is_cancelled(seeded_copy: Path) -> None:
    live = LiveServer(seeded_copy)  # the default threshold: a 90 KB article is added while the client waits
    try:
        sock = _raw_post(live.port, {"id": "left", "title": "Left", "text": long_text(90_000)})
        time.sleep(2)  # it is embedding now
        sock.close()
        with httpx.Client(base_url=live.url, timeout=300) as http:
            # this add waits for the write lock: once it is through, the other add has ended one way or the other
            after = http.post("/api/articles", json={"id": "after", "title": "After", "text": long_text(1000)})
            assert after.status_code == 201
            assert http.get("/api/articles/left").status_code == 404
    finally:
        live.stop()


def test_sigterm_stops_the_server_while_adds_run(seeded_copy: Path) -> None:
    live = LiveServer(seeded_copy, QA_BACKGROUND_ADD_CHARS="600000")
    answers: list[object] = []

    def post(body: dict) -> None:
        try:
            answers.append(httpx.post(f"{live.url}/api/articles", json=body, timeout=120).status_code)
        except httpx.HTTPError as exc:  # the server may close the connection as it goes
            answers.append(exc)

    try:
        synchronous = threading.Thread(target=post, args=({"id": "sync", "title": "S", "text": long_text(400_000)},))
        synchronous.start()
        time.sleep(1)
        job = httpx.post(
            f"{live.url}/api/articles", json={"id": "job", "title": "J", "text": long_text(700_000)}, timeout=60
        )
        assert job.status_code == 202  # waits for the write lock behind the synchronous add
        time.sleep(2)
        live.process.send_signal(signal.SIGTERM)
        live.process.wait(timeout=20)  # raises if it is still running
        synchronous.join(30)
        assert answers and answers[0] != 201
    finally:
        live.stop()
    # whatever the adds had done, the data directory is whole and usable
    listed = run_qa_in(seeded_copy, "list")
    assert listed.returncode == 0 and SEED_ID in listed.stdout, listed.stderr
    asked = run_qa_in(seeded_copy, "ask", "--json", "What did Truss demand?")
    assert asked.returncode == 0 and json.loads(asked.stdout)["citations"], asked.stderr
    reopened = open_service(Settings(data_dir=seeded_copy))
    try:
        for article_id, size in (("sync", 120_000), ("job", 400_000)):
            try:
                stored = reopened.get_article(article_id)
            except NotFound:
                continue
            assert stored.text == long_text(size) and stored.chunks > 0  # present only whole
    finally:
        reopened.close()
