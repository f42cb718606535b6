"""The `qa` command as a user runs it: fresh processes, the real model, Chroma in a temporary directory."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO, SEED_ID, SEEDS, RunQA, qa_env, run_qa_in


def _article_text(data_dir: Path) -> str:
    from qa.embedder import MiniLMEmbedder
    from qa.settings import Settings
    from qa.wiring import open_store

    return open_store(Settings(data_dir=data_dir), MiniLMEmbedder()).get_article(SEED_ID)[1]


def _assert_clean_error(done, code: int, *phrases: str) -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error:"), done.stderr
    for phrase in phrases:
        assert phrase in done.stderr, (phrase, done.stderr)


def test_truss_question_gets_a_cited_verbatim_answer(seeded_dir: Path) -> None:
    done = run_qa_in(seeded_dir, "ask", "--json", "What did Truss demand?")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert set(answer) >= {"question", "answer", "abstained", "citations"}
    assert not answer["abstained"]
    assert "troops withdraw" in answer["answer"] and "sovereignty of Ukraine" in answer["answer"]
    text = _article_text(seeded_dir)
    numbers = {c["n"] for c in answer["citations"]}
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer["answer"])} == numbers
    for citation in answer["citations"]:
        assert set(citation) >= {"n", "article_id", "title", "quote", "start", "end", "score"}
        assert citation["article_id"] == SEED_ID
        assert text[citation["start"] : citation["end"]] == citation["quote"]
        assert citation["title"].startswith("Lavrov and Truss")


def test_a_cold_ask_does_not_import_scipy(seeded_dir: Path) -> None:
    """Every `qa ask` is a fresh process: scipy (0.2 s of its imports, for bm25s's BM25 index, which the keyword
    side does not use: it is tantivy's) is not needed to answer."""
    code = (
        "import sys\nfrom qa.cli.app import app\ntry:\n    app(['ask', 'What did Truss demand?'])\n"
        "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=qa_env(seeded_dir), cwd=REPO, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "troops withdraw" in done.stdout  # it answered
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_plain_output_shows_answer_then_numbered_quotes(seeded_dir: Path) -> None:
    done = run_qa_in(seeded_dir, "ask", "Who signed the sanctions legislation?")
    assert done.returncode == 0, done.stderr
    assert "James Cleverly" in done.stdout
    assert re.search(r"^\[1\] Lavrov and Truss", done.stdout, re.MULTILINE)


def test_questions_from_stdin_in_one_process(seeded_dir: Path) -> None:
    questions = "What did Truss demand?\n\nWhen did the meeting take place?\n   \nWho signed the sanctions law?\n"
    done = run_qa_in(seeded_dir, "ask", "-", "--json", stdin=questions)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["question"] for r in results] == [
        "What did Truss demand?",
        "When did the meeting take place?",
        "Who signed the sanctions law?",
    ]
    assert "10 February 2022" in results[1]["answer"]


def test_list_shows_the_seed_with_its_metadata(seeded_dir: Path) -> None:
    done = run_qa_in(seeded_dir, "list", "--json")
    assert done.returncode == 0, done.stderr
    page = json.loads(done.stdout)
    assert page["total"] == 1 and page["next_cursor"] is None
    (article,) = page["articles"]
    assert (
        article["id"] == SEED_ID and article["published"] == "2022-02-11T00:00:00+00:00" and article["source"] == "TDI"
    )
    assert article["chunks"] > 5


def test_indexing_the_seeds_twice_changes_no_count(seeded_copy: Path) -> None:
    before = json.loads(run_qa_in(seeded_copy, "list", "--json").stdout)
    done = run_qa_in(seeded_copy, "index", str(SEEDS))
    assert done.returncode == 0, done.stderr
    assert "0 added, 0 updated, 1 unchanged, 0 removed, 0 failed" in done.stdout
    assert "(0 embedded" in done.stdout
    assert json.loads(run_qa_in(seeded_copy, "list", "--json").stdout) == before


def test_remove_takes_the_article_out_of_every_index(seeded_copy: Path) -> None:
    done = run_qa_in(seeded_copy, "remove", SEED_ID)
    assert done.returncode == 0 and f"removed {SEED_ID}" in done.stdout
    assert json.loads(run_qa_in(seeded_copy, "list", "--json").stdout) == {
        "articles": [],
        "total": 0,
        "next_cursor": None,
    }
    asked = run_qa_in(seeded_copy, "ask", "--json", "What did Truss demand?")
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["citations"] == [], "nothing left to cite, not even from BM25"
    _assert_clean_error(run_qa_in(seeded_copy, "remove", "no-such-article"), 4, "no article with id")


def test_bad_questions_get_one_clear_line(seeded_dir: Path) -> None:
    _assert_clean_error(run_qa_in(seeded_dir, "ask", ""), 2, "question is empty")
    _assert_clean_error(run_qa_in(seeded_dir, "ask", "   \t "), 2, "question is empty")
    _assert_clean_error(run_qa_in(seeded_dir, "ask", "w" * 100_000), 2, "100,000 characters", "limit is 2,000")


def test_asking_before_indexing_says_to_index(run_qa: RunQA) -> None:
    _assert_clean_error(run_qa("ask", "What did Truss demand?"), 3, "Nothing is indexed", "qa index")


def test_listing_an_empty_index_says_how_to_fill_it_instead_of_an_empty_table(run_qa: RunQA) -> None:
    listed = run_qa("list")
    assert listed.returncode == 0, listed.stderr
    assert "Nothing is indexed yet. Add articles with: qa index PATH" in listed.stdout
    assert "┃" not in listed.stdout, "no table of no rows"
    assert json.loads(run_qa("list", "--json").stdout) == {"articles": [], "total": 0, "next_cursor": None}
    stories = run_qa("list", "--stories")
    assert stories.returncode == 0, stories.stderr
    assert "No story is carried by several outlets yet" in stories.stdout


def test_a_search_that_finds_nothing_says_so(seeded_dir: Path) -> None:
    done = run_qa_in(seeded_dir, "list", "--search", "zeppelin")
    assert done.returncode == 0, done.stderr
    assert "No indexed article matches these filters" in done.stdout
    assert "┃" not in done.stdout


def test_bad_paths_are_listed_and_the_index_is_untouched(seeded_copy: Path, tmp_path: Path) -> None:
    before = json.loads(run_qa_in(seeded_copy, "list", "--json").stdout)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x00\x01\x02\x03")
    odd = tmp_path / "sheet.xlsx"
    odd.write_text("x")
    done = run_qa_in(seeded_copy, "index", str(tmp_path / "missing"), str(empty), str(binary), str(odd))
    assert done.returncode == 7 and "Traceback" not in done.stderr
    assert "no such file or folder" in done.stderr and "the file is empty" in done.stderr
    assert "binary" in done.stderr and "unsupported file type '.xlsx'" in done.stderr
    assert json.loads(run_qa_in(seeded_copy, "list", "--json").stdout) == before


def test_a_data_dir_built_by_another_embedder_is_refused(tmp_path: Path) -> None:
    from qa.settings import Settings
    from qa.store import ChromaStore
    from qa.wiring import chroma_client

    data_dir = tmp_path / "other"
    client, where = chroma_client(Settings(data_dir=data_dir))
    ChromaStore(client, "articles", "another-embedder", 768, where).ensure()
    del client
    _assert_clean_error(run_qa_in(data_dir, "ask", "What did Truss demand?"), 5, "another-embedder", "QA_DATA_DIR")
    _assert_clean_error(run_qa_in(data_dir, "index", str(SEEDS)), 5, "another-embedder")


def test_an_unreachable_chroma_server_is_a_clear_error(run_qa: RunQA) -> None:
    done = run_qa("ask", "What did Truss demand?", QA_CHROMA_URL="http://127.0.0.1:9")
    _assert_clean_error(done, 6, "Cannot reach the Chroma server at http://127.0.0.1:9", "chroma run")


def test_a_bad_setting_is_a_clear_error(run_qa: RunQA) -> None:
    _assert_clean_error(run_qa("ask", "x", QA_TOP_K="lots"), 2, "QA_TOP_K")


def test_an_index_of_stop_words_only_answers_without_a_traceback(run_qa: RunQA, tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "only.txt").write_text("It is a the.", encoding="utf-8")  # no word BM25 keeps
    done = run_qa("index", str(folder))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    asked = run_qa("ask", "--json", "What is it?")
    assert asked.returncode == 0, asked.stderr
    assert [c["article_id"] for c in json.loads(asked.stdout)["citations"]] == ["only"]


def test_text_that_is_not_unicode_gets_one_error_line(seeded_copy: Path, tmp_path: Path) -> None:
    # An undecodable byte in an argument reaches Python as a lone surrogate, as "\ud800" in JSON does.
    asked = run_qa_in(seeded_copy, "ask", "What did \udcff Truss demand?")
    _assert_clean_error(asked, 2, "lone surrogate")

    feed = tmp_path / "feed.jsonl"
    good = {"id": "good", "title": "Ferry strike", "text": "Ferry crews in Calais stopped work on Monday."}
    feed.write_text(json.dumps(good) + "\n" + '{"id": "bad", "title": "T\\ud800", "text": "Some text."}\n')
    indexed = run_qa_in(seeded_copy, "index", str(feed))
    assert "Traceback" not in indexed.stderr + indexed.stdout
    assert "line 2" in indexed.stdout + indexed.stderr and "lone surrogate" in indexed.stdout + indexed.stderr
    listed = json.loads(run_qa_in(seeded_copy, "list", "--json").stdout)
    assert {a["id"] for a in listed["articles"]} == {SEED_ID, "good"}, "the good line is indexed, nothing is lost"


def test_serve_on_a_port_in_use_is_one_error_line(run_qa: RunQA) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_qa("serve", "--port", str(port))
    _assert_clean_error(result, 6, "cannot listen on")
    assert "Choose another --port" in result.stderr


def test_serve_on_a_host_that_names_no_address_says_so_not_that_it_is_exposed(run_qa: RunQA) -> None:
    result = run_qa("serve", "--host", "no.such.host.invalid", "--port", "8765")
    _assert_clean_error(result, 6, "the host name is not known")
    assert "would let other machines" not in result.stderr


def test_chat_prints_the_short_answer_first(seeded_dir: Path) -> None:
    done = run_qa_in(
        seeded_dir, "chat", stdin="When did Moscow get a written reply from Washington and the alliance?\n"
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    question = next(i for i, line in enumerate(lines) if "Q: When did Moscow" in line)
    assert re.fullmatch(r"26 January 2022 \[\d\]", lines[question + 1]), lines[question : question + 3]
    assert "26 January 2022." in lines[question + 2]  # then the answer's sentences


def test_chat_ends_at_slash_quit_without_asking_it(seeded_dir: Path) -> None:
    done = run_qa_in(seeded_dir, "chat", stdin="/quit\nWhat did Truss demand?\n")
    assert done.returncode == 0, done.stderr
    assert "Q: " not in done.stdout, "neither '/quit' nor what came after it was asked"


def test_the_reports_own_date_is_quoted_from_its_dateline(seeded_dir: Path) -> None:
    done = run_qa_in(seeded_dir, "ask", "--json", "What is the dateline date of this report?")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert not answer["abstained"] and answer["support_label"] == "strong"
    assert answer["citations"][0]["quote"].startswith("Moscow, 11 February 2022 (TDI):")
    assert answer["short_answer"]["text"] == "11 February 2022"


def test_an_interrupted_index_says_what_is_kept_and_the_same_command_finishes_it(tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    towns = ["Calais", "Dover", "Ostend", "Dunkirk", "Zeebrugge", "Harwich", "Hull", "Rosslare"]
    with feed.open("w", encoding="utf-8") as out:
        for n in range(300):
            town = towns[n % len(towns)]
            text = f"Ferry crews in {town} stopped work on day {n}. The port said {n % 90} sailings were lost. "
            out.write(json.dumps({"id": f"ferry-{n}", "title": f"Ferry strike {n}", "text": text * 3}) + "\n")
    data = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "qa", "index", str(feed)],
        env=qa_env(data),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (data / "chroma").exists() and time.monotonic() < deadline:  # the store opened: indexing began
        time.sleep(0.2)
    time.sleep(1)  # 300 chunks take several seconds more to embed
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "stopping after the step under way (Ctrl-C again to stop at once)" in stderr
    assert "interrupted: the articles indexed so far are kept. Run the same command again" in stderr
    again = run_qa_in(data, "index", str(feed))
    assert again.returncode == 0, again.stderr
    assert json.loads(run_qa_in(data, "list", "--json", "--limit", "1").stdout)["total"] == 300


def test_a_json_lines_file_with_a_bad_line_is_partly_read_not_skipped(tmp_path: Path) -> None:
    """It was reported as "skipped feed.jsonl: 1 bad line(s) (2 loaded)", which reads as if nothing was indexed."""
    feed = tmp_path / "feed.jsonl"
    good = [{"id": f"p{n}", "title": f"Port {n}", "text": f"Port {n} reopened on Monday."} for n in range(2)]
    feed.write_text("\n".join([json.dumps(good[0]), "{not json", json.dumps(good[1])]) + "\n", encoding="utf-8")
    done = run_qa_in(tmp_path / "data", "index", str(feed))
    assert done.returncode == 0, done.stderr
    assert f"partly read {feed}: 2 article(s) read, 1 bad line(s) skipped: line 2" in done.stderr
    assert "skipped " + str(feed) not in done.stderr
    assert "articles: 2 added" in done.stdout


def test_an_empty_folder_indexes_nothing_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = run_qa_in(tmp_path / "data", "index", str(tmp_path / "empty"))
    assert done.returncode == 0, done.stderr
    assert "no article was found in what was given" in done.stderr
