"""The server on a network: API keys with scopes, rate limits, Host checking, security headers, loopback-only
without keys, and the page asking for a key. Real `qa serve` on loopback, keys made by `qa keys create`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import REPO, LiveServer, free_port, qa_env, run_qa_in

TRUSS = "What did Truss demand?"


@pytest.fixture(scope="module")
def data_dir(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("keys") / "data"
    shutil.copytree(seeded_dir, copy)
    return copy


def _new_key(data_dir: Path, name: str, *options: str) -> str:
    made = run_qa_in(data_dir, "keys", "create", "--name", name, *options)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


@pytest.fixture(scope="module")
def keys(data_dir: Path) -> dict[str, str]:
    return {
        "read": _new_key(data_dir, "reader"),
        "write": _new_key(data_dir, "writer", "--scope", "write"),
        "slow": _new_key(data_dir, "slow", "--rate", "3/minute"),
    }


@pytest.fixture(scope="module")
def server(data_dir: Path, keys: dict[str, str]) -> Iterator[LiveServer]:
    live = LiveServer(data_dir)
    yield live
    live.stop()


def _client(server: LiveServer, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server.url, timeout=30, headers=headers)


def test_a_call_without_a_valid_key_is_401_and_says_how_to_send_one(server: LiveServer) -> None:
    for key in (None, "qa-0000000000-" + "x" * 43, "not a key at all"):
        with _client(server, key) as http:
            refused = http.post("/api/ask", json={"question": TRUSS})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        message = refused.json()["error"]["message"]
        assert ("Authorization: Bearer" in message) if key is None else ("not valid" in message)


def test_scopes_read_asks_and_chats_write_also_adds_and_removes(server: LiveServer, keys: dict[str, str]) -> None:
    with _client(server, keys["read"]) as reader:
        assert reader.post("/api/ask", json={"question": TRUSS}).json()["citations"]
        assert reader.post("/api/chat", json={"message": TRUSS}).status_code == 200
        assert reader.get("/api/articles").json()["total"] >= 1
        refused = reader.post("/api/articles", json={"title": "Refused", "text": "A reader may not add this."})
        assert refused.status_code == 403 and "write" in refused.json()["error"]["message"]
    with _client(server, keys["write"]) as writer:
        added = writer.post("/api/articles", json={"id": "key-test", "title": "Keys", "text": "Writers add articles."})
        assert added.status_code == 201
        assert writer.delete("/api/articles/key-test").status_code == 200
        assert writer.post("/api/ask", json={"question": TRUSS}).status_code == 200  # write includes read


def test_a_conversation_is_its_keys_alone(server: LiveServer, keys: dict[str, str]) -> None:
    """Another key can neither list, read, continue, rename, export nor delete it: to it, the id does not exist."""
    with _client(server, keys["read"]) as owner, _client(server, keys["write"]) as other:
        session_id = owner.post("/api/chat", json={"message": TRUSS}).json()["session_id"]
        assert session_id in [c["session_id"] for c in owner.get("/api/chat").json()]
        assert session_id not in [c["session_id"] for c in other.get("/api/chat").json()]
        for refused in (
            other.get(f"/api/chat/{session_id}"),
            other.post("/api/chat", json={"message": "And then?", "session_id": session_id}),
            other.patch(f"/api/chat/{session_id}", json={"name": "Taken over"}),
            other.get(f"/api/chat/{session_id}/export"),
            other.delete(f"/api/chat/{session_id}"),
        ):
            assert refused.status_code == 404, refused.text
            assert f"No chat session '{session_id}'" in refused.json()["error"]["message"]
        kept = owner.get(f"/api/chat/{session_id}").json()
        assert [t["role"] for t in kept["turns"]] == ["user", "assistant"]  # the other key's calls changed nothing
        assert owner.delete(f"/api/chat/{session_id}").status_code == 200


def test_the_openai_client_authenticates_with_api_key(server: LiveServer, keys: dict[str, str]) -> None:
    good = openai.OpenAI(base_url=f"{server.url}/v1", api_key=keys["read"], max_retries=0)
    reply = good.chat.completions.create(model="newsqa", messages=[{"role": "user", "content": TRUSS}])
    assert "[1]" in (reply.choices[0].message.content or "")
    bad = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_a_revoked_key_stops_working_at_the_next_call(server: LiveServer, data_dir: Path) -> None:
    key = _new_key(data_dir, "short-lived")
    with _client(server, key) as http:
        assert http.get("/api/articles").status_code == 200
        revoked = run_qa_in(data_dir, "keys", "revoke", "short-lived")
        assert revoked.returncode == 0, revoked.stderr
        assert http.get("/api/articles").status_code == 401


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(server: LiveServer, keys: dict[str, str]) -> None:
    with _client(server, keys["slow"]) as http:
        statuses = [http.get("/api/articles", params={"limit": 1}) for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert 1 <= int(statuses[-1].headers["retry-after"]) <= 60
    with _client(server, keys["read"]) as other:  # the limit is the key's, not everybody's
        assert other.get("/api/articles", params={"limit": 1}).status_code == 200


def test_open_routes_a_foreign_host_and_the_security_headers(server: LiveServer) -> None:
    with _client(server) as http:
        for path in ("/health", "/", "/docs", "/openapi.json", "/static/app.js"):
            response = http.get(path)
            assert response.status_code == 200, path
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["x-content-type-options"] == "nosniff"
        assert "x-frame-options" in http.post("/api/ask", json={"question": TRUSS}).headers  # on refusals too
        assert http.get("/health", headers={"Host": "attacker.example"}).status_code == 400
        assert http.get("/metrics").status_code == 401  # a scraper sends a key too


def test_a_scraper_reads_metrics_with_a_key(server: LiveServer, keys: dict[str, str]) -> None:
    with _client(server, keys["read"]) as http:
        assert "qa_http_requests_total" in http.get("/metrics").text


def test_keys_are_stored_hashed_and_listed_without_secrets(data_dir: Path, keys: dict[str, str]) -> None:
    stored = (data_dir / "keys.sqlite").read_bytes()
    listed = run_qa_in(data_dir, "keys", "list")
    for token in keys.values():
        secret = token.split("-", 2)[2]
        assert secret.encode() not in stored and secret not in listed.stdout
    assert "reader" in listed.stdout and "write" in listed.stdout
    assert oct((data_dir / "keys.sqlite").stat().st_mode & 0o777) == "0o600"


def test_key_commands_refuse_bad_use_in_one_line(data_dir: Path, keys: dict[str, str]) -> None:
    for args, phrase in (
        (("create", "--name", "reader"), "already named"),
        (("create", "--name", "two words"), "letters, digits"),
        (("create", "--name", "x", "--rate", "lots"), "not a rate limit"),
        (("revoke", "nobody"), "No live key"),
    ):
        result = run_qa_in(data_dir, "keys", *args)
        assert result.returncode != 0 and phrase in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_serve_refuses_a_network_interface_without_keys_unless_told(tmp_path: Path) -> None:
    refused = run_qa_in(tmp_path / "data", "serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert refused.returncode == 2
    assert "qa keys create" in refused.stderr and "--insecure-open" in refused.stderr
    port = free_port()
    opened = subprocess.Popen(
        [sys.executable, "-m", "qa", "serve", "--host", "0.0.0.0", "--port", str(port), "--insecure-open"],
        env=qa_env(tmp_path / "data"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with httpx.Client(timeout=5) as http:
            for _ in range(300):
                try:
                    if http.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    if opened.poll() is not None:
                        break
                    import time

                    time.sleep(0.2)
    finally:
        opened.terminate()
        _, stderr = opened.communicate(timeout=30)
    assert "warning:" in stderr and "no API keys" in stderr and "any Host header" in stderr


def test_the_page_asks_for_a_key_and_uses_it(browser: Browser, server: LiveServer, keys: dict[str, str]) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(server.url + "/")
        dialog = page.locator("#key-dialog")
        expect(dialog).to_be_visible()
        expect(page.locator("#key-reason")).to_contain_text("API key")
        expect(page.locator("#key-reason")).not_to_contain_text("Bearer")  # the header's name is for programs
        page.fill("#key-input", "qa-wrong")
        page.click("#key-use")
        expect(page.locator("#key-reason")).to_contain_text("not valid")  # asked again, with the server's reason
        page.fill("#key-input", keys["read"])
        page.click("#key-use")
        expect(dialog).to_be_hidden()
        expect(page.locator("#articles li").first).to_be_visible()
        page.fill("#question", TRUSS)
        page.click("#ask")
        expect(page.locator(".message.assistant .cite").first).to_be_visible(timeout=20_000)
        assert page.evaluate("sessionStorage.getItem('newsqa.api_key')") == keys["read"]
        assert page.evaluate("localStorage.getItem('newsqa.api_key')") is None  # not remembered unless asked
    finally:
        context.close()
