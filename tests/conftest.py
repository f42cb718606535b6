"""Shared fixtures: the real model, a real Chroma in temporary directories, the CLI as a subprocess."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser, expect

from qa.embedder import MiniLMEmbedder
from qa.store import unpack_chunk

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
DATED = REPO / "eval" / "dated" / "articles"
SEED_ID = "000_7fce140085dacc93"

RunQA = Callable[..., subprocess.CompletedProcess[str]]

# Playwright waits 5 s for an expectation by default; adding an article (its embedding and write) took longer on
# this 2-core machine while the suite ran beside other work, and the failed test left the article behind for the
# rest of its file. An expectation that holds returns at once: only a failure waits the longer time.
expect.set_options(timeout=20_000)

# `make test` runs each test file whole on one of two workers (--dist loadfile) and hands the files out in the
# order collected (--no-loadscope-reorder): the longest first, so that no long file starts last and keeps one core
# busy while the other idles (xdist's own order, most tests first, started the 3 tests of test_quality.py, 200 s,
# near the end). Seconds per file, from `pytest --durations=0` on 2026-12-02 (set-up, call and tear-down); a file not
# listed goes after these, in collection order.
FILE_SECONDS = {
    "tests/test_quality.py": 257,
    "tests/test_generative.py": 223,
    "tests/test_cli.py": 171,
    "tests/test_api.py": 123,
    "tests/test_eval.py": 98,
    "tests/test_crash_safety.py": 98,
    "tests/test_web_answer.py": 82,
    "tests/test_local_processes.py": 76,
    "tests/test_doctor.py": 74,
    "tests/test_web_library.py": 73,
    "tests/test_fuzz.py": 68,
    "tests/test_web_page.py": 67,
    "tests/test_bounded.py": 64,
    "tests/test_dated.py": 62,
    "tests/test_chroma_server.py": 57,
    "tests/test_web_dated.py": 43,
    "tests/test_observability.py": 37,
    "tests/test_feeds.py": 37,
    "tests/test_access.py": 25,
    "tests/test_indexing.py": 17,
    "tests/test_stories.py": 16,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest test files first (see FILE_SECONDS); a stable sort keeps each file's own order."""
    items.sort(key=lambda item: -FILE_SECONDS.get(item.path.relative_to(REPO).as_posix(), 0))


def schema_4_vectors(rows: np.ndarray) -> str:
    """Sentence vectors as schema 4 and earlier wrote them (float16, base64), to build an older index's layout."""
    return base64.b64encode(np.asarray(rows, dtype=np.float16).tobytes()).decode("ascii")


def schema_5_chunk(meta: dict[str, Any]) -> dict[str, Any]:
    """A chunk's metadata as schema 5 and earlier wrote it: each field a key of its own (and `"chunk": None`, which
    takes the packed value away in a Chroma update)."""
    fields = unpack_chunk(meta)
    return fields | {"sentences": json.dumps(fields["sentences"]), "chunk": None}


def qa_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a `qa` process pointed at this data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "OPENAI_"))}
    env.update({"QA_DATA_DIR": str(data_dir), "NO_COLOR": "1", "COLUMNS": "200"}, **extra)
    return env


def run_qa_in(data_dir: Path, *args: str, stdin: str | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run `qa ARGS` in a fresh process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "qa", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=qa_env(data_dir, **extra),
        cwd=REPO,
        timeout=900,  # a guard against a hung process, not a speed check: XQuAD-en's gates take 3 min, more when busy
    )


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by playwright (its own browser download cannot work offline)."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; these tests drive Debian's Chromium. Run: apt-get install chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    """One real MiniLM for the session."""
    return MiniLMEmbedder()


@pytest.fixture(scope="session")
def seeded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the seed article indexed once through the CLI (read-only for tests)."""
    data_dir = tmp_path_factory.mktemp("seeded") / "data"
    done = run_qa_in(data_dir, "index", str(SEEDS))
    assert done.returncode == 0, done.stderr
    return data_dir


@pytest.fixture(scope="session")
def dated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the dated set's 46 articles (several outlets, 2025) indexed once (read-only)."""
    data_dir = tmp_path_factory.mktemp("dated") / "data"
    done = run_qa_in(data_dir, "index", str(DATED))
    assert done.returncode == 0, done.stderr
    return data_dir


@pytest.fixture
def seeded_copy(seeded_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the seeded data directory, for tests that write."""
    copy = tmp_path / "data"
    shutil.copytree(seeded_dir, copy)
    return copy


@pytest.fixture
def run_qa(tmp_path: Path) -> RunQA:
    """`qa` against an empty data directory of this test (pass data_dir= to use another)."""

    def run(*args: str, data_dir: Path | None = None, stdin: str | None = None, **extra: str):
        return run_qa_in(data_dir or tmp_path / "data", *args, stdin=stdin, **extra)

    return run


def free_port() -> int:
    """A free TCP port on loopback."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Poll `url` until it answers 200, failing early if the process died."""
    import time
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before {url} answered")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {seconds} s")
        time.sleep(0.2)


def holds_within(seconds: float, condition: Callable[[], bool]) -> bool:
    """Whether the condition comes to hold within `seconds` (checked again and again until then)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
    return condition()


class LiveServer:
    """`qa serve` in a subprocess on a free loopback port."""

    def __init__(self, data_dir: Path, **extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"server-{self.port}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "qa", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=qa_env(data_dir, **extra),
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for(f"{self.url}/health", self.process)
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (and say what it logged if it failed)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
