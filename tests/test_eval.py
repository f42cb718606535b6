"""The evaluation runner: metric functions by hand, set validation, and `qa eval` end to end (real model/Chroma)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eval import metrics
from eval.report import reliability_points
from eval.runner import ArticleTexts, Gate, Summary, run_variant, service_variants
from eval.sets import EvalItem, load_sets
from eval.withheld import half_of, withheld_items
from qa.errors import InvalidInput
from qa.settings import Settings
from qa.wiring import open_service
from tests.conftest import REPO, run_qa_in

SEED_SET = REPO / "eval" / "seed_qa.jsonl"
RESULT_KEYS = {"id", "question", "answer", "abstained", "citations", "hit_rank", "pass"}


def write_set(path: Path, *records: dict[str, Any] | str) -> Path:
    """A set file: dicts become JSON lines, strings are written as they are (to make bad lines)."""
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n", "utf-8")
    return path


def seed_items(*ids: str) -> list[dict[str, Any]]:
    """These items of the seed set, as records."""
    records = [json.loads(line) for line in SEED_SET.read_text("utf-8").splitlines() if line.strip()]
    return [r for r in records if r["id"] in ids]


# -- metrics ------------------------------------------------------------------------------------------------


def test_strip_markers_and_answer_words() -> None:
    assert metrics.strip_markers("Troops must withdraw. [1] Talks go on. [12]") == "Troops must withdraw. Talks go on."
    assert metrics.answer_words("Troops must withdraw. [1] Talks go on. [2]") == 6
    assert metrics.answer_words("") == 0


def test_contains_folds_case_space_and_curly_quotes_and_needs_whole_words() -> None:
    assert metrics.contains("But, Russia doesn’t want\n this.", "russia DOESN'T want this")
    assert metrics.contains("He said “no”.", '"no"')
    assert not metrics.contains("elected in 2024", "24")
    assert metrics.contains("four interceptions, two of which", "two.")
    assert metrics.contains("He paid $5 (in cash).", "$5")
    assert not metrics.contains("anything", " . ")
    assert not metrics.contains("anything", "")


def test_is_relevant_uses_evidence_first_and_article_ids_only_without_it() -> None:
    text = "The meeting took place on 10 February 2022."
    assert metrics.is_relevant(text, "a", "took  place on 10 FEBRUARY", [])
    # with evidence, being from the right article is not enough
    assert not metrics.is_relevant(text, "a", "the talks lasted two hours", ["a"])
    assert metrics.is_relevant(text, "a", None, ["a", "b"])
    assert not metrics.is_relevant(text, "c", None, ["a", "b"])


def test_ranks_hits_and_reciprocal_ranks() -> None:
    retrieved = ["c1", "c2", "c3", "c4"]
    assert metrics.first_hit_rank(retrieved, ["c3", "c4"], 10) == 3
    assert metrics.first_hit_rank(retrieved, ["c3"], 2) is None
    assert metrics.first_hit_rank(retrieved, [], 10) is None
    assert metrics.hit_at(retrieved, ["c2"], 1) == 0.0
    assert metrics.hit_at(retrieved, ["c2"], 2) == 1.0
    assert metrics.hit_at(retrieved, [], 10) == 0.0  # no hit: llama-index would refuse an empty list
    assert metrics.hit_at([], ["c2"], 10) == 0.0
    assert metrics.reciprocal_rank(retrieved, ["c2", "c4"], 10) == 0.5
    assert metrics.reciprocal_rank(retrieved, ["c4"], 3) == 0.0
    assert metrics.reciprocal_rank(retrieved, [], 10) == 0.0


def test_answer_correct_strips_markers_and_judges_abstentions() -> None:
    answers = ["10 February 2022"]
    assert metrics.answer_correct("It took place on 10 February [1] 2022.", False, answers, False)
    assert not metrics.answer_correct("It took place on 10 February 2022. [1]", True, answers, False)
    assert not metrics.answer_correct("It took place in Moscow. [1]", False, answers, False)
    assert metrics.answer_correct("The articles do not say.", True, [], True)
    assert not metrics.answer_correct("Two hours. [1]", False, [], True)


def test_supported_and_citation_valid() -> None:
    quotes = ["Russia must respect the sovereignty of Ukraine.", "Talks went on."]
    assert metrics.supported(quotes, ["respect the sovereignty"], None)
    assert metrics.supported(quotes, ["sovereignty of Kyiv"], "talks went on")  # the evidence is quoted
    assert not metrics.supported(quotes, ["troops withdraw"], "see troops withdraw")
    assert not metrics.supported([], ["respect the sovereignty"], None)
    text = "Hello, world."
    assert metrics.citation_valid("world", 7, 12, text)
    assert not metrics.citation_valid("world", 6, 11, text)
    assert not metrics.citation_valid("World", 7, 12, text)  # exact: no folding
    assert not metrics.citation_valid("", 20, 20, text)


def test_short_answers_are_scored_as_squad_scores_them() -> None:
    assert metrics.squad_normalise("The  Panthers' defense, an NFL team!") == "panthers defense nfl team"
    assert metrics.exact_match("the 308", ["308"]) == 1.0  # articles and case do not count
    assert metrics.exact_match("308 points", ["308"]) == 0.0
    assert metrics.exact_match("Denver", ["Carolina", "denver."]) == 1.0  # the best gold answer counts
    assert metrics.exact_match(None, ["308"]) == 0.0  # no span pinned scores nothing
    assert metrics.token_f1("308 points", ["308"]) == pytest.approx(2 / 3)  # precision 1/2, recall 1
    assert metrics.token_f1("Santa Clara, California", ["Levi's Stadium", "Santa Clara"]) == pytest.approx(0.8)
    assert metrics.token_f1("Moscow", ["London"]) == 0.0
    assert metrics.token_f1(None, ["308"]) == 0.0
    assert metrics.token_f1("the", ["a"]) == 0.0  # nothing left after normalisation is no overlap


def test_abstention_precision_and_recall() -> None:
    abstained = [True, True, False, False]
    unanswerable = [True, False, True, False]
    assert metrics.abstention_precision(abstained, unanswerable) == 0.5
    assert metrics.abstention_recall(abstained, unanswerable) == 0.5
    assert metrics.abstention_precision([False, False], [True, False]) == 1.0  # nothing abstained
    assert metrics.abstention_recall([True, False], [False, False]) is None  # nothing to recall


def test_aggregates() -> None:
    assert metrics.mean([True, False, True, True]) == 0.75
    assert metrics.mean([]) is None
    assert metrics.share(3, 4) == 0.75
    assert metrics.share(0, 0) is None
    assert metrics.percentile([1, 2, 3, 4], 50) == 2.5
    assert metrics.percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 90) == pytest.approx(91.0)
    assert metrics.percentile([], 95) is None


def test_gates_name_the_figure_and_the_requirement() -> None:
    summary = Summary.model_construct(hit_at_1=0.912, median_words=23.5, abstain_recall=None, accuracy=0.95)
    assert Gate("hit_at_1", 0.95).failure(summary) == "hit@1 0.912 < required 0.95"
    assert Gate("accuracy", 0.95).failure(summary) is None
    assert Gate("median_words", 20, at_most=True).failure(summary) == "median words 23.5 > allowed at most 20"
    assert Gate("median_words", 30, at_most=True).failure(summary) is None
    assert Gate("abstain_recall", 0.5).failure(summary) == "abstain recall n/a, required 0.5"


# -- sets ---------------------------------------------------------------------------------------------------


def test_load_sets_reads_items_in_order(tmp_path: Path) -> None:
    first = write_set(tmp_path / "a.jsonl", *seed_items("s01", "u01"))
    second = write_set(
        tmp_path / "b.jsonl", "", {"id": "x", "question": "Who?", "answers": ["A"], "article_ids": ["a"]}
    )
    items = load_sets([first, second])
    assert [i.id for i in items] == ["s01", "u01", "x"]
    assert items[1].unanswerable and items[1].answers == []
    assert items[2].evidence is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "x", "question": "Who?"', "line 2: not valid JSON"),
        ('["x"]', "line 2: expected a JSON object"),
        ('{"id": "x", "answers": ["A"], "evidence": "A"}', "line 2: question: Field required"),
        ('{"id": "x", "question": "Who?", "answers": ["A"], "evidence": "A", "unanswerabel": true}', "unanswerabel"),
        # every misspelt field at once, not the first and a count
        (
            '{"id": "x", "questoin": "Who?", "answer": ["A"], "evidence": "A"}',
            "question: Field required; questoin: Extra inputs are not permitted; "
            "answer: Extra inputs are not permitted",
        ),
        ('{"id": "x", "question": "Who?", "answers": ["A"], "unanswerable": true}', "must have no answers"),
        ('{"id": "x", "question": "Who?", "answers": ["A"]}', "needs 'evidence' or 'article_ids'"),
        ('{"id": "x", "question": "Who?", "answers": [], "evidence": "A"}', "at least one non-empty answer"),
        ('{"id": "s01", "question": "Who?", "answers": ["A"], "evidence": "A"}', "'s01' is already used"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write_set(tmp_path / "bad.jsonl", *seed_items("s01"), line)
    with pytest.raises(InvalidInput) as caught:
        load_sets([path])
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_missing_and_empty_set_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such evaluation set file"):
        load_sets([tmp_path / "nope.jsonl"])
    (tmp_path / "empty.jsonl").write_text("\n\n", "utf-8")
    with pytest.raises(InvalidInput, match="has no questions"):
        load_sets([tmp_path / "empty.jsonl"])


# -- the runner over the real service ------------------------------------------------------------------------


def test_run_variant_measures_real_answers(seeded_copy: Path, tmp_path: Path) -> None:
    service = open_service(Settings(data_dir=seeded_copy))
    items = load_sets([write_set(tmp_path / "set.jsonl", *seed_items("s01", "s02", "u01"))])
    (variant,) = service_variants(service, ["hybrid"], top_k=10)
    run = run_variant(variant, items, ArticleTexts(service), top_k=10)

    assert [r.item.id for r in run.results] == ["s01", "s02", "u01"]
    for result in run.results:
        assert len(result.retrieved_ids) == 10  # the seed has more than 10 chunks
        assert result.hit_rank == metrics.first_hit_rank(result.retrieved_ids, result.relevant_ids, 10)
        assert result.latency_ms > 0
    assert run.results[2].hit_rank is None  # an unanswerable question has nothing to hit
    assert run.results[2].correct == run.results[2].answer.abstained
    summary = run.summary
    assert (summary.questions, summary.answerable, summary.unanswerable, summary.top_k) == (3, 2, 1, 10)
    assert summary.validity == 1.0
    assert summary.citations == sum(len(r.answer.citations) for r in run.results)
    assert summary.hit_curve == sorted(summary.hit_curve)  # hit@k never falls as k grows
    # short answers are scored over the answerable questions only: s01 wants a demand (no span), s02 a date
    assert run.results[2].short_em is None and run.results[0].answer.short_answer is None
    assert run.results[1].answer.short_answer is not None
    assert summary.short_em == (run.results[0].short_em + run.results[1].short_em) / 2
    assert summary.short_f1 == (run.results[0].short_f1 + run.results[1].short_f1) / 2


def test_reliability_points_bin_the_predictions_and_count_the_right_ones() -> None:
    answers = [(0.05, False), (0.15, False), (0.12, True), (0.95, True), (1.0, True), (0.91, False)]
    points = reliability_points(answers, bins=10)
    assert [count for _, _, count in points] == [1, 2, 3]  # empty bins are left out; 1.0 falls in the last bin
    assert [observed for _, observed, _ in points] == pytest.approx([0.0, 0.5, 2 / 3])
    assert [predicted for predicted, _, _ in points] == pytest.approx([0.05, 0.135, (0.95 + 1.0 + 0.91) / 3])


# -- `qa eval` ----------------------------------------------------------------------------------------------


def test_eval_seed_set_with_corpus_as_json(tmp_path: Path) -> None:
    unused, scratch = tmp_path / "unused", tmp_path / "tmp"
    scratch.mkdir()
    done = run_qa_in(unused, "eval", str(SEED_SET), "--corpus", "seeds", "--json", TMPDIR=str(scratch))
    assert done.returncode == 0, done.stderr

    report = json.loads(done.stdout)
    summary, results = report["summary"], report["results"]
    assert len(results) == summary["questions"] == 54
    assert summary["unanswerable"] == 9
    assert summary["validity"] == 1.0
    assert 0.0 <= summary["hit_at_1"] <= summary["hit_at_5"] <= 1.0
    assert len(summary["hit_curve"]) == 10
    assert summary["failed"] == sum(not r["pass"] for r in results)
    for result in results:
        assert result.keys() >= RESULT_KEYS
        assert result["hit_rank"] is None or 1 <= result["hit_rank"] <= 10
    bands = summary["support_bands"]  # every answer in one band; each band's accuracy from its own answers
    assert sum(band["answers"] for band in bands.values()) == 54
    assert bands["abstained"]["answers"] == summary["abstained"]
    for label, band in bands.items():
        passed = [r["pass"] for r in results if r["support_label"] == label]
        assert band["answers"] == len(passed) and band["accuracy"] == pytest.approx(sum(passed) / len(passed))
    assert summary["strong_accuracy"] == bands["strong"]["accuracy"]
    assert all((r["support_label"] == "abstained") == r["abstained"] for r in results)
    assert 0.0 <= summary["short_em"] <= summary["short_f1"] <= 1.0
    assert any(r["short_answer"] for r in results) and all("short_answer" in r for r in results)
    assert not unused.exists() or not any(unused.iterdir())  # --corpus leaves the configured store alone
    assert not list(scratch.glob("qa-eval-*"))  # and removes its temporary store


def test_compare_and_failed_gate_exit_1(seeded_dir: Path, tmp_path: Path) -> None:
    small = write_set(tmp_path / "small.jsonl", *seed_items("s01", "s02", "u01"))
    done = run_qa_in(
        seeded_dir, "eval", str(small), "--compare", "--json", "--min-hit1", "1.01", "--min-short-f1", "1.01"
    )
    assert done.returncode == 1
    assert "hit@1" in done.stderr and "< required 1.01" in done.stderr
    assert "short answer F1" in done.stderr
    report = json.loads(done.stdout)
    assert report["default"] == "hybrid"
    assert set(report["summary"]) == set(report["results"]) == {"dense", "bm25", "hybrid"}
    assert all(len(results) == 3 for results in report["results"].values())


def test_an_article_id_the_index_does_not_hold_is_a_warning(seeded_dir: Path, tmp_path: Path) -> None:
    (item,) = seed_items("s01")
    misspelt = {**item, "id": "typo", "article_ids": ["no-such-article"], "evidence": None}
    small = write_set(tmp_path / "small.jsonl", item, misspelt)
    done = run_qa_in(seeded_dir, "eval", str(small), "--json")
    assert done.returncode == 0, done.stderr
    assert "1 question(s) name 1 article id(s) the index does not hold (no-such-article)" in done.stderr


def test_report_is_self_contained_and_escaped(seeded_dir: Path, tmp_path: Path) -> None:
    question = "What did <b>Truss</b> demand & why?"
    small = write_set(
        tmp_path / "small.jsonl", {"id": "h1", "question": question, "answers": ["troops withdraw"], "evidence": "zzqx"}
    )
    done = run_qa_in(seeded_dir, "eval", str(small), "--report", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "hit@1" in done.stdout and "strong: answers (accuracy)" in done.stdout  # the table is still printed
    page = (tmp_path / "out" / "index.html").read_text("utf-8")
    assert "<img" in page or "<svg" in page
    assert 'alt="reliability"' in page and "Accuracy by support" in page
    assert "What did &lt;b&gt;Truss&lt;/b&gt; demand &amp; why?" in page
    assert "<b>Truss</b>" not in page


@pytest.mark.parametrize(
    ("content", "message", "code"),
    [
        ('{"id": "a", "question": "Who?", "answers": ["A"], "evidence": "A"}\n{"id": "b", oops}\n', "line 2", 2),
        (None, "no such evaluation set file", 2),
    ],
)
def test_set_errors_are_one_line(tmp_path: Path, content: str | None, message: str, code: int) -> None:
    path = tmp_path / "set.jsonl"
    if content is not None:
        path.write_text(content, "utf-8")
    done = run_qa_in(tmp_path / "data", "eval", str(path))
    assert done.returncode == code
    assert "error:" in done.stderr and message in done.stderr
    assert "Traceback" not in done.stderr


def test_nothing_indexed_is_the_engines_error(tmp_path: Path) -> None:
    done = run_qa_in(tmp_path / "empty", "eval", str(SEED_SET))
    assert done.returncode == 3
    assert "Nothing is indexed" in done.stderr
    assert "Traceback" not in done.stderr


# -- questions asked without their articles (--withhold) ----------------------------------------------------


def _ids_in_half(half: int, count: int) -> list[str]:
    """`count` article ids that fall in `half`."""
    return [i for i in (f"art-{n}" for n in range(200)) if half_of(i) == half][:count]


def test_withheld_items_ask_each_question_of_the_other_half_only_where_its_answer_is_absent() -> None:
    (a1, a2), (b1, b2) = _ids_in_half(0, 2), _ids_in_half(1, 2)
    texts = {a1: "Truss demanded a withdrawal.", a2: "Lavrov spoke.", b1: "The talks ended.", b2: "Truss left."}
    items = [
        EvalItem(id="q1", question="What did Truss demand?", answers=["a withdrawal"], article_ids=[a1]),
        EvalItem(id="q2", question="Who left?", answers=["Truss"], article_ids=[b2]),  # "Truss" is in a1 too
        EvalItem(id="q3", question="Who spoke?", answers=["Lavrov"], article_ids=[a2, b1]),  # both halves
        EvalItem(id="q4", question="What ended?", answers=["the talks"], article_ids=[b1]),
        EvalItem(id="u1", question="Gas prices?", unanswerable=True),
        EvalItem(id="q5", question="Who?", answers=["x"], evidence="x"),  # no article_ids: nothing to withhold
    ]
    withheld = withheld_items(items, [a1, a2, b1, b2], texts.get)
    assert [(item.id, sorted(others)) for item, others in withheld] == [("q1", [b1, b2]), ("q4", [a1, a2])]
    for item, _ in withheld:
        assert item.unanswerable and not item.answers and not item.article_ids
    assert withheld_items(items, [a1, a2], texts.get) == []  # one half empty: nowhere to ask, and q4's article
    # is not indexed at all
    # the split is fixed (a hash, not Python's salted hash()): the same ids fall in the same halves on every run
    assert (half_of("art-0"), half_of("art-7"), half_of("xquad-super-bowl-50")) == (1, 0, 1)


def test_withhold_asks_of_the_other_half_and_reports_it_beside_the_run(dated_dir: Path, tmp_path: Path) -> None:
    questions = [json.loads(line) for line in (REPO / "eval/dated/questions.jsonl").read_text("utf-8").splitlines()]
    small = write_set(tmp_path / "dated.jsonl", *questions[:12])  # current-state questions, each with its articles
    done = run_qa_in(dated_dir, "eval", str(small), "--withhold", "--json", "--min-withheld-abstain", "0")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["summary"]["questions"] == 12  # the run itself, as without --withhold
    withheld = report["withheld"]
    asked = {r["id"]: r for r in withheld["results"]}
    assert asked and withheld["summary"]["unanswerable"] == withheld["summary"]["questions"] == len(asked)
    own = {q["id"]: q.get("article_ids") for q in questions}
    for question_id, result in asked.items():
        half = half_of(own[question_id][0])
        cited = {c["article_id"] for c in result["citations"]}
        assert cited and all(half_of(article_id) != half for article_id in cited), (question_id, cited)
        assert result["pass"] == result["abstained"]
    assert withheld["summary"]["abstain_recall"] == pytest.approx(
        sum(r["abstained"] for r in asked.values()) / len(asked)
    )


def test_withhold_errors_say_what_to_do(seeded_dir: Path, tmp_path: Path) -> None:
    small = write_set(tmp_path / "small.jsonl", *seed_items("s01", "s02"))
    one_article = run_qa_in(seeded_dir, "eval", str(small), "--withhold")
    assert one_article.returncode == 2
    assert "at least two indexed articles" in one_article.stderr and "Traceback" not in one_article.stderr
    no_run = run_qa_in(seeded_dir, "eval", str(small), "--min-withheld-abstain", "0.5")
    assert no_run.returncode == 2 and "add --withhold" in no_run.stderr
