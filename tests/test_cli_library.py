"""`qa list` searching and filtering the articles as GET /api/articles does (the dated articles: five outlets)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_qa_in


def test_list_searches_titles_and_text_and_filters_by_outlet_and_date(dated_dir: Path) -> None:
    options = ["--search", "refinancing", "--source", "Harbor Wire"]
    done = run_qa_in(dated_dir, "list", "--json", "--limit", "200", *options)
    assert done.returncode == 0, done.stderr
    page = json.loads(done.stdout)
    assert page["total"] == len(page["articles"]) > 0
    assert all(a["source"] == "Harbor Wire" for a in page["articles"])

    dated = run_qa_in(dated_dir, "list", "--json", "--limit", "200", "--since", "2025-11-01", "--until", "2025-11-30")
    assert dated.returncode == 0, dated.stderr
    november = json.loads(dated.stdout)["articles"]
    assert november and all(a["published"][:7] == "2025-11" for a in november)


def test_the_next_page_hint_keeps_the_search(dated_dir: Path) -> None:
    done = run_qa_in(dated_dir, "list", "--limit", "1", "--search", "Bank of Valdra")
    assert done.returncode == 0, done.stderr
    assert "--search 'Bank of Valdra'" in " ".join(done.stdout.split())


def test_a_bad_filter_is_one_error_line(dated_dir: Path) -> None:
    done = run_qa_in(dated_dir, "list", "--source", "No Such Outlet")
    assert done.returncode == 2
    assert done.stderr.startswith("error: No article comes from the source 'No Such Outlet'")
    assert "Traceback" not in done.stderr
    late = run_qa_in(dated_dir, "list", "--since", "2025-06-01", "--until", "2025-03-01")
    assert late.returncode == 2 and "The date window is empty" in late.stderr


def test_the_table_shows_each_id_whole_in_an_80_column_terminal(seeded_dir: Path) -> None:
    """The id is what `qa remove` and `--article` take: cut to "000_7fce1400…" it could not be copied."""
    done = run_qa_in(seeded_dir, "list", COLUMNS="80")
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if "000_" in line)
    assert "│ 000_7fce140085dacc93 │" in row and "│ 2022-02-11 │" in row
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
