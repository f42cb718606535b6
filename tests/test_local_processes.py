"""Several processes on one data directory with the embedded store: `qa serve` running while `qa index` adds.

An embedded Chroma loads each vector index once per process; these check that a running server answers from
what another process wrote, and that writes taking turns between processes lose no vector.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx

from tests.conftest import LiveServer, holds_within, run_qa_in

ARTICLES = {
    "grain-deal": (
        "Grain deal talks in Istanbul",
        "Delegations met in Istanbul on Friday.\n\nThey agreed to reopen the port of Odesa for grain exports.",
        "Which port will reopen for grain exports?",
    ),
    "ferry-strike": (
        "Ferry crews walk out",
        "Ferry crews in Calais stopped work on Monday.\n\nThe union demanded a pay rise of nine per cent.",
        "What pay rise did the ferry union demand?",
    ),
    "rail-timetable": (
        "New rail timetable",
        "The operator published a new timetable on Sunday.\n\nTrains to Leeds will run every twelve minutes.",
        "How often will trains to Leeds run?",
    ),
}


def _file(folder: Path, article_id: str) -> Path:
    title, text, _ = ARTICLES[article_id]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{article_id}.md"
    path.write_text(f"---\nid: {article_id}\ntitle: {title}\n---\n{text}\n", encoding="utf-8")
    return path


def _cited_by(server: LiveServer, article_id: str) -> bool:
    answer = httpx.post(f"{server.url}/api/ask", json={"question": ARTICLES[article_id][2]}, timeout=60)
    assert answer.status_code == 200, answer.text
    return any(c["article_id"] == article_id for c in answer.json()["citations"])


def test_a_running_server_and_qa_index_share_one_data_directory(seeded_copy: Path, tmp_path: Path) -> None:
    server = LiveServer(seeded_copy)
    try:
        assert not _cited_by(server, "grain-deal")  # the server has loaded its view of the vectors
        indexed = run_qa_in(seeded_copy, "index", str(_file(tmp_path / "one", "grain-deal")))
        assert indexed.returncode == 0, indexed.stderr
        assert holds_within(2.0, lambda: _cited_by(server, "grain-deal")), "the server answers from the other's write"

        title, text, _ = ARTICLES["ferry-strike"]
        added = httpx.post(
            f"{server.url}/api/articles", json={"id": "ferry-strike", "title": title, "text": text}, timeout=60
        )
        assert added.status_code == 201, added.text
        indexed = run_qa_in(seeded_copy, "index", str(_file(tmp_path / "two", "rail-timetable")))
        assert indexed.returncode == 0, indexed.stderr
        assert holds_within(2.0, lambda: _cited_by(server, "rail-timetable"))
        assert _cited_by(server, "grain-deal") and _cited_by(server, "ferry-strike")
    finally:
        server.stop()

    # A fresh process, by vectors alone: each writer's chunks are all in the vector index on disk.
    for article_id, (_, _, question) in ARTICLES.items():
        asked = run_qa_in(seeded_copy, "ask", "--json", question, QA_RETRIEVAL="dense")
        assert asked.returncode == 0, asked.stderr
        assert article_id in {c["article_id"] for c in json.loads(asked.stdout)["citations"]}, article_id
    listed = json.loads(run_qa_in(seeded_copy, "list", "--json").stdout)
    assert listed["total"] == 4


def test_two_first_runs_of_qa_index_at_once_on_a_new_directory_both_succeed(tmp_path: Path) -> None:
    """Both create Chroma's tables and the replica's files: they take turns (this failed about 1 run in 4)."""
    import subprocess

    from tests.conftest import SEEDS, qa_env

    for attempt in range(3):
        data_dir = tmp_path / f"data-{attempt}"
        command = [sys.executable, "-m", "qa", "index", str(SEEDS)]
        runs = [
            subprocess.Popen(command, env=qa_env(data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        outputs = [run.communicate(timeout=300) for run in runs]
        for run, (out, err) in zip(runs, outputs, strict=True):
            assert run.returncode == 0, err
            assert "Traceback" not in out + err
        listed = run_qa_in(data_dir, "list", "--json")
        assert json.loads(listed.stdout)["total"] == 1


KILLED_AFTER_WRITING = """
import os
import qa.store
from qa.domain import ArticleDraft
from qa.settings import Settings
from qa.wiring import open_service

service = open_service(Settings())

def die_at_the_record(self, *args):
    os._exit(9)  # as kill -9 once the article is written (its record switched), before its change-log record

qa.store.ChromaStore._log = die_at_the_record
service.put_article(ArticleDraft(id="ferry-strike", title="Ferry crews walk out", text=TEXT))
"""


def test_a_writer_killed_before_its_change_record_leaves_no_stale_keyword_index(seeded_copy: Path) -> None:
    import subprocess

    from tests.conftest import qa_env

    _, text, question = ARTICLES["ferry-strike"]
    script = KILLED_AFTER_WRITING.replace("TEXT", repr(text))
    killed = subprocess.run([sys.executable, "-c", script], env=qa_env(seeded_copy), capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr
    # Its intent is left in the journal: the next process to open the index finishes the write and logs the
    # article, and every keyword index picks it up.
    asked = run_qa_in(seeded_copy, "ask", "--json", question, QA_RETRIEVAL="bm25")
    assert asked.returncode == 0, asked.stderr
    assert "ferry-strike" in {c["article_id"] for c in json.loads(asked.stdout)["citations"]}


KILLED_BEFORE_THE_RECORD = """
import os
from chromadb.api.models.Collection import Collection
from qa.domain import ArticleDraft
from qa.settings import Settings
from qa.wiring import open_service

upsert = Collection.upsert

def die_at_the_record(self, *args, **kwargs):
    if self.name.endswith("_articles_v2"):
        os._exit(9)  # as kill -9 after the chunks were written, before the article's record
    upsert(self, *args, **kwargs)

Collection.upsert = die_at_the_record
open_service(Settings()).put_article(ArticleDraft(id="ferry-strike", title="Ferry crews walk out", text=TEXT))
"""


def _chunks_claiming(data_dir: Path, article_id: str) -> list[str]:
    """Ids of every chunk whose metadata names this article (a scan: fine for a test)."""
    from qa.embedder import MiniLMEmbedder
    from qa.settings import Settings
    from qa.wiring import open_store

    store = open_store(Settings(data_dir=data_dir), MiniLMEmbedder())
    store.require()
    return list(store._chunks.get(where={"article_id": article_id}, include=[])["ids"])


def test_chunks_a_killed_writer_left_without_a_record_are_never_cited_and_gone_at_the_next_start(
    seeded_copy: Path,
) -> None:
    import subprocess

    from tests.conftest import qa_env

    _, text, question = ARTICLES["ferry-strike"]
    script = KILLED_BEFORE_THE_RECORD.replace("TEXT", repr(text))
    killed = subprocess.run([sys.executable, "-c", script], env=qa_env(seeded_copy), capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr
    assert _chunks_claiming(seeded_copy, "ferry-strike"), "the killed writer left its chunks"

    # The next start (any command) finishes the write the journal names: the chunks without a record go.
    asked = run_qa_in(seeded_copy, "ask", "--json", question, QA_RETRIEVAL="dense")
    assert asked.returncode == 0, asked.stderr
    assert "ferry-strike" not in {c["article_id"] for c in json.loads(asked.stdout)["citations"]}
    assert _chunks_claiming(seeded_copy, "ferry-strike") == [], "nothing of it is left"
    removed = run_qa_in(seeded_copy, "remove", "ferry-strike")
    assert removed.returncode == 4 and "no article with id" in removed.stderr
