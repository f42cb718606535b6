"""Schemathesis over the whole OpenAPI schema of a real `qa serve` with keys on: no 500, no response outside the
schema (status, headers, content type, body), invalid requests refused, deleted resources gone.

Bounded in time (FUZZ_SECONDS, 30 by default) and seeded, so `make test` is repeatable; `FUZZ_SEED=random` for a
fresh search. `positive_data_acceptance` is left out: a schema-valid request can still be refused on its meaning
(a question of only spaces, a title with no letter to derive an id from), and those 422s are documented.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveServer, run_qa_in

SECONDS = os.environ.get("FUZZ_SECONDS", "30")
SEED = os.environ.get("FUZZ_SEED", "20261130")


@pytest.fixture(scope="module")
def keyed_server(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    data = tmp_path_factory.mktemp("fuzz") / "data"
    shutil.copytree(seeded_dir, data)
    made = run_qa_in(data, "keys", "create", "--name", "fuzzer", "--scope", "write", "--rate", "1000000/minute")
    assert made.returncode == 0, made.stderr
    live = LiveServer(data)
    yield live, made.stdout.strip()
    live.stop()


def test_no_500_and_no_response_outside_the_schema(keyed_server: tuple[LiveServer, str], tmp_path: Path) -> None:
    server, key = keyed_server
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{server.url}/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--max-time",
        SECONDS,
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--no-color",
        # Hypothesis's own health checks (too slow, too much filtered) judge the generator, not the API, and trip
        # on a busy machine; the API's checks above stay.
        "--suppress-health-check",
        "all",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    if SEED != "random":
        command += ["--seed", SEED]
    ran = subprocess.run(command, capture_output=True, text=True, timeout=int(SECONDS) + 300)
    assert ran.returncode == 0, ran.stdout[-6000:] + ran.stderr[-2000:]
    assert "generated" in ran.stdout  # it did test something
    assert "Internal error" not in server.log.read_text()
