"""Dated news: filters inside retrieval, questions asked as of a time, relative dates, the newest report first,
through the service, the CLI, the JSON API and the OpenAI-compatible endpoint."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai import OpenAI

from qa import stories
from qa.domain import Answer, SearchFilter
from qa.service import NewsService
from qa.settings import Settings
from qa.wiring import open_service
from tests.conftest import LiveServer, run_qa_in

SOURCES = ["Coastline Herald", "Harbor Wire", "Meridian Business Daily", "Pennant Sports", "The Lisburg Ledger"]
QUESTIONS = [
    "Who is the chief executive of Norvale Energy?",
    "What is the Bank of Valdra's main refinancing rate?",
    "How many people have been killed by Cyclone Orla?",
    "Who is the mayor of Lisburg?",
    "How much will the Kessel Strait Bridge cost?",
    "What did Truss demand?",
]
CEO = "Who is the chief executive of Norvale Energy?"


@pytest.fixture(scope="module")
def data_dir(dated_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("dated-copy") / "data"
    shutil.copytree(dated_dir, copy)
    return copy


@pytest.fixture(scope="module")
def service(data_dir: Path) -> Iterator[NewsService]:
    opened = open_service(Settings(data_dir=data_dir))
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[LiveServer]:
    live = LiveServer(data_dir)
    yield live
    live.stop()


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def published(answer: Answer) -> list[dt.datetime]:
    dates = [c.published for c in answer.citations]
    assert all(dates), "every article of this set is dated, and every citation carries its date"
    return [dt.datetime.fromisoformat(d) for d in dates if d]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    question=st.sampled_from(QUESTIONS),
    start=st.dates(dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
    days=st.integers(1, 200),
    sources=st.one_of(st.none(), st.lists(st.sampled_from(SOURCES), min_size=1, max_size=2, unique=True)),
)
def test_no_citation_falls_outside_the_filter(
    service: NewsService, question: str, start: dt.date, days: int, sources: list[str] | None
) -> None:
    since = dt.datetime.combine(start, dt.time(), dt.UTC)
    until = since + dt.timedelta(days=days)
    answer = service.ask(question, within=SearchFilter(since=since, until=until, sources=sources))
    assert all(since <= when < until for when in published(answer))
    assert sources is None or all(c.source in sources for c in answer.citations)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=st.sampled_from(QUESTIONS), as_of=st.dates(dt.date(2025, 1, 20), dt.date(2025, 12, 31)))
def test_nothing_published_after_as_of_is_cited(service: NewsService, question: str, as_of: dt.date) -> None:
    moment = dt.datetime.combine(as_of, dt.time(23, 59, 59), dt.UTC)
    answer = service.ask(question, as_of=moment)
    assert all(when <= moment for when in published(answer))


def test_chroma_can_filter_chunks_and_records_by_publication_time(service: NewsService) -> None:
    since, until = dt.datetime(2025, 9, 1, tzinfo=dt.UTC), dt.datetime(2025, 10, 1, tzinfo=dt.UTC)
    window = {
        "$and": [{"published_at": {"$gte": int(since.timestamp())}}, {"published_at": {"$lt": int(until.timestamp())}}]
    }
    infos = [info for page in service.engine.store.all_article_infos() for info in page]
    inside = {i.id: i for i in infos if i.published and since <= dt.datetime.fromisoformat(i.published) < until}
    assert 0 < len(inside) < len(infos)
    store = service.engine.store  # Chroma itself, as a user of the Chroma server would ask it
    chunks = store._chunks.get(where=window, include=["metadatas"])
    records = store._articles.get(where=window, include=[])
    assert set(records["ids"]) == set(inside)
    assert sorted(m["article_id"] for m in chunks["metadatas"]) == sorted(
        i.id for i in inside.values() for _ in range(i.chunks)
    )


def test_the_answer_depends_on_when_the_question_is_asked(service: NewsService) -> None:
    early = service.ask(CEO, as_of=dt.datetime(2025, 2, 1, tzinfo=dt.UTC))
    late = service.ask(CEO, as_of=dt.datetime(2025, 9, 1, tzinfo=dt.UTC))
    assert "Okonjo" in late.answer and "Okonjo" not in early.answer
    assert late.time is not None and late.time.latest and late.reported is not None
    assert late.reported.startswith("as of ") and late.reported.endswith("2025")


def test_the_newest_report_leads_and_an_older_one_is_earlier_reporting(service: NewsService) -> None:
    answer = service.ask(
        "How many people have been killed by Cyclone Orla?", as_of=dt.datetime(2025, 10, 1, tzinfo=dt.UTC)
    )
    lead = [c for c in answer.citations if not c.earlier]
    earlier = [c for c in answer.citations if c.earlier]
    assert lead and earlier, answer.citations
    assert min(published_of(c.published) for c in lead) > max(published_of(c.published) for c in earlier)


@pytest.mark.parametrize(
    ("as_of", "holder", "not_holder"),
    [
        # the newest article is about the race for mayor; the older one names the mayor in office
        (dt.datetime(2025, 5, 1, 12, tzinfo=dt.UTC), "Arnold Fenwick", "Dunleavy"),
        # the newest article tells of the mayor resigning, then of her deputy taking over
        (dt.datetime(2025, 11, 1, 12, tzinfo=dt.UTC), "Tobias Renn", None),
    ],
)
def test_who_holds_a_post_is_answered_by_who_holds_it(
    service: NewsService, as_of: dt.datetime, holder: str, not_holder: str | None
) -> None:
    answer = service.ask("Who is the mayor of Lisburg?", as_of=as_of)
    assert answer.short_answer is not None and answer.short_answer.text == holder, answer.answer
    assert not_holder is None or not_holder not in answer.answer
    # earlier reporting is of the same thing: not the oldest passage retrieved (Norvale's interim chief executive)
    assert all(c.article_id.startswith("mayor-") for c in answer.citations), [c.article_id for c in answer.citations]


def test_the_answer_says_the_day_its_newest_report_gives_and_points_a_terminal_to_the_timeline(
    data_dir: Path,
) -> None:
    done = run_qa_in(data_dir, "ask", "Who won the mayoral election?", "--article", "mayor-04")
    assert done.returncode == 0, done.stderr  # published 2025-06-09T01:20+02:00: 8 June in UTC, 9 June there
    assert "as of 9 Jun 2025" in done.stdout and "Harbor Wire, 9 Jun 2025" in done.stdout
    developed = run_qa_in(data_dir, "ask", "How did the death toll of Cyclone Orla change?", "--as-of", "2025-10-01")
    assert 'qa timeline "How did the death toll of Cyclone Orla change?"' in developed.stdout


def test_who_is_in_charge_is_answered_by_whoever_the_reports_put_in_charge(service: NewsService) -> None:
    """The newest report (the season's last match) names no one in charge; the older one names the manager."""
    answer = service.ask("Who is in charge of Lisburg Rovers?", as_of=dt.datetime(2025, 7, 1, tzinfo=dt.UTC))
    assert "Aaltonen" in answer.answer, answer.answer


def published_of(text: str | None) -> dt.datetime:
    assert text is not None
    return dt.datetime.fromisoformat(text)


def test_a_relative_date_becomes_a_window(service: NewsService) -> None:
    answer = service.ask(
        "What did the Bank of Valdra decide last month?", as_of=dt.datetime(2025, 6, 20, tzinfo=dt.UTC)
    )
    assert answer.time is not None and answer.time.phrase == "last month"
    assert answer.time.since == dt.datetime(2025, 5, 1, tzinfo=dt.UTC)
    assert answer.time.until == dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    assert "4.25%" in answer.answer
    assert all(answer.time.since <= when < answer.time.until for when in published(answer))


def test_a_window_nothing_was_published_in_abstains(service: NewsService) -> None:
    answer = service.ask("What did the Bank of Valdra decide yesterday?", as_of=dt.datetime(2025, 1, 5, tzinfo=dt.UTC))
    assert answer.abstained and not answer.citations


def test_an_outcome_not_yet_reported_is_not_answered_with_the_race(service: NewsService) -> None:
    """Before the vote the articles tell of polls; after it, of the winner."""
    before = service.ask("Who won the Lisburg mayoral election?", as_of=dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
    assert before.abstained, before.answer
    after = service.ask("Who won the Lisburg mayoral election?", as_of=dt.datetime(2025, 6, 20, tzinfo=dt.UTC))
    assert not after.abstained and "Voss" in after.answer


def test_an_archive_without_dates_ignores_relative_dates(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "talks.txt").write_text("Talks in Moscow\n\nThe foreign minister demanded that the troops withdraw.")
    assert run_qa_in(tmp_path / "data", "index", str(articles)).returncode == 0
    opened = open_service(Settings(data_dir=tmp_path / "data"))
    try:
        answer = opened.ask("What did the foreign minister demand last month?")
    finally:
        opened.close()
    assert not answer.abstained and answer.time is None and "troops withdraw" in answer.answer


def test_the_api_takes_filters_and_as_of(http: httpx.Client) -> None:
    body = {"question": CEO, "as_of": "2025-09-01", "sources": ["Harbor Wire", "The Lisburg Ledger"]}
    answer = http.post("/api/ask", json=body).json()
    assert all(c["source"] in body["sources"] for c in answer["citations"])
    assert all(c["published"] <= "2025-09-02" for c in answer["citations"])
    window = http.post("/api/ask", json={"question": CEO, "since": "2025-02-01", "until": "2025-02-28"}).json()
    assert window["citations"] and all("2025-02-01" <= c["published"] < "2025-03-01" for c in window["citations"])
    chat = http.post("/api/chat", json={"message": CEO, "as_of": "2025-02-01"}).json()
    assert "Okonjo" not in chat["answer"]


def test_the_openai_endpoint_takes_the_same_fields(server: LiveServer) -> None:
    client = OpenAI(base_url=f"{server.url}/v1", api_key="not-needed")
    completion = client.chat.completions.create(
        model="newsqa", messages=[{"role": "user", "content": CEO}], extra_body={"as_of": "2025-09-01"}
    )
    assert "Okonjo" in (completion.choices[0].message.content or "")
    assert completion.model_extra and completion.model_extra["reported"].startswith("as of")


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        (
            {"question": CEO, "since": "2025-05-01", "until": "2025-04-01"},
            'but its last day is 2025-04-01. The field "until" must be later than "since"',
        ),
        # an end with a time of day is said as it was given: nothing of that moment is in the window
        (
            {"question": CEO, "since": "2025-05-01", "until": "2025-04-01T09:30:00+00:00"},
            "ends before 2025-04-01T09:30+00:00.",
        ),
        ({"question": CEO, "sources": ["Daily Nothing"]}, 'The field "sources" takes outlets'),
        ({"question": CEO, "article_ids": ["no-such-id"]}, 'The field "article_ids" takes ids'),
        ({"question": CEO, "since": "1 Marhc"}, "since"),
        ({"question": CEO, "since": "2025-13-45"}, "e.g. 2025-03-01"),
        ({"question": CEO, "as_of": "yesterday"}, "as_of"),
    ],
)
def test_bad_filters_are_a_422_that_names_the_field(http: httpx.Client, body: dict[str, object], phrase: str) -> None:
    fields = {k: v for k, v in body.items() if k != "question"}
    messages = [{"role": "user", "content": body["question"]}]
    for path, sent in [
        ("/api/ask", body),
        ("/api/chat", {**fields, "message": body["question"]}),
        ("/v1/chat/completions", {**fields, "model": "newsqa", "messages": messages}),
    ]:
        response = http.post(path, json=sent)
        assert response.status_code == 422 and phrase in response.json()["error"]["message"], (path, response.text)
        assert response.json()["error"]["type"] == "InvalidInput"  # a bad field, whoever read it


def test_qa_chat_refuses_a_filter_no_question_can_pass_before_it_starts(data_dir: Path) -> None:
    for args in (["--since", "2025-06-01", "--until", "2025-01-01"], ["--source", "Daily Planet"]):
        done = run_qa_in(data_dir, "chat", *args, stdin="Who is the mayor?\nexit\n")
        assert done.returncode == 2 and done.stderr.startswith("error: ") and "you>" not in done.stdout


FLOOD = """---
title: "{title}"
published: "{published}"
source: "{source}"
---
{dateline}The Tarsel river burst its banks on Wednesday, flooding {homes} homes in the town of Ambery and forcing the \
evacuation of a hospital, the regional fire service said. Water levels peaked at 6.2 metres shortly after noon, the \
highest since records began in 1921. Officials said {missing} and that army engineers were building temporary \
barriers along the eastern embankment. Rail services between Ambery and the capital were suspended.
"""


def test_a_newer_report_with_its_figures_in_words_leads_and_is_no_copy(tmp_path: Path) -> None:
    """Syndicated copies are near-equal; an update that changes "two" to "five" is news, not a copy."""
    articles = tmp_path / "flood"
    articles.mkdir()
    for name, fields in {
        "wire-1": ("Tarsel floods Ambery", "2025-10-01T10:00:00+02:00", "Wire One", "AMBERY, Oct 1 (Wire One) - ",
                   "more than four hundred", "two people were missing"),
        "gazette": ("Ambery flood: two missing", "2025-10-01T15:00:00+02:00", "Gazette Three",
                    "AMBERY (Gazette Three) - ", "over four hundred", "two people remained missing"),
        "wire-2": ("Ambery flood update", "2025-10-02T09:00:00+02:00", "Wire One", "AMBERY, Oct 2 (Wire One) - ",
                   "more than six hundred", "five people were missing"),
    }.items():  # fmt: skip
        keys = ("title", "published", "source", "dateline", "homes", "missing")
        (articles / f"{name}.md").write_text(FLOOD.format(**dict(zip(keys, fields, strict=True))), encoding="utf-8")
    data = tmp_path / "data"
    assert run_qa_in(data, "index", str(articles)).returncode == 0
    done = run_qa_in(data, "ask", "How many people are still missing after the Ambery flood?", "--as-of", "2025-10-05")
    assert done.returncode == 0, done.stderr
    short, answer = done.stdout.splitlines()[1:3]
    assert short.startswith("five ") and "five people were missing" in answer  # not "2" from "Oct 2"
    earlier = done.stdout.split("earlier reporting:")[1]
    assert "two people remained missing" in earlier and "two people" not in answer  # its answering quote
    assert "also, nearly word for word: Wire One (wire-1)" in earlier  # the copy, not claimed word for word


def test_the_cli_takes_filters_and_refuses_bad_ones(data_dir: Path) -> None:
    done = run_qa_in(data_dir, "ask", CEO, "--as-of", "2025-09-01", "--source", "Harbor Wire")
    assert done.returncode == 0 and "Harbor Wire" in done.stdout and "as of" in done.stdout
    for args, phrase in [
        (["--since", "1 Marhc"], "--since: '1 Marhc' is not a date"),
        (["--since", "2025-05-01", "--until", "2025-04-01"], "The date window is empty"),
        (["--source", "Daily Nothing"], "The sources are: 'Coastline Herald'"),
        (["--article", "no-such-id"], "No article has the id 'no-such-id'. --article takes an id as qa list shows it."),
    ]:
        done = run_qa_in(data_dir, "ask", CEO, *args)
        assert done.returncode == 2 and phrase in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_a_timeline_lists_the_reports_in_order(service: NewsService) -> None:
    found = service.timeline("How did the Cyclone Orla death toll develop?")
    days = [day.day for day in found.days]
    assert days == sorted(days) and {"2025-09-06", "2025-09-08", "2025-09-12"} <= set(days)
    quotes = [c.quote for day in found.days for c in day.citations]
    assert len(quotes) == len(set(quotes)), "a sentence syndicated word for word appears once"
    copied = [c for day in found.days for c in day.citations if c.copies]
    assert copied and copied[0].article_id == "orla-04", "...and names the other outlet that carried it"
    assert [(c.article_id, c.source, c.exact) for c in copied[0].copies] == [("orla-05", "The Lisburg Ledger", True)]
    assert [c.n for day in found.days for c in day.citations] == list(range(1, len(quotes) + 1))
    texts = {a: service.get_article(a).text for a in {c.article_id for d in found.days for c in d.citations}}
    for day in found.days:
        for citation in day.citations:
            assert texts[citation.article_id][citation.start : citation.end] == citation.quote
            assert citation.published is not None and citation.published.startswith(day.day)


def test_a_timeline_keeps_to_its_filter(service: NewsService) -> None:
    window = SearchFilter(since=dt.datetime(2025, 9, 7, tzinfo=dt.UTC), sources=["Harbor Wire"])
    found = service.timeline("Cyclone Orla death toll", within=window)
    citations = [c for day in found.days for c in day.citations]
    assert citations and all(c.source == "Harbor Wire" and (c.published or "") >= "2025-09-07" for c in citations)


def test_the_timeline_over_http_and_from_the_cli(http: httpx.Client, data_dir: Path) -> None:
    found = http.get("/api/timeline", params={"q": "Kessel Strait Bridge cost", "until": "2025-08-01"}).json()
    assert [d["day"] for d in found["days"]] == sorted(d["day"] for d in found["days"])
    assert found["days"] and all(d["day"] < "2025-08-02" for d in found["days"])
    one_outlet = http.get("/api/timeline", params={"q": "Cyclone Orla death toll", "source": "Harbor Wire"}).json()
    assert all(c["source"] == "Harbor Wire" for d in one_outlet["days"] for c in d["citations"])
    chosen = ["orla-06", "orla-07"]
    body = {"query": "Cyclone Orla death toll", "article_ids": chosen, "sources": SOURCES[:2]}
    posted = http.post("/api/timeline", json=body).json()
    assert posted["days"] and {c["article_id"] for d in posted["days"] for c in d["citations"]} <= set(chosen)
    bad = http.get("/api/timeline", params={"q": "bridge", "since": "soon"})
    assert bad.status_code == 422 and "since" in bad.json()["error"]["message"]
    assert http.get("/api/sources").json() == SOURCES
    done = run_qa_in(data_dir, "timeline", "Bank of Valdra rate decisions", "--since", "2025-06-01")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line[:4] == "2025"]
    assert lines == sorted(lines) and all(line >= "2025-06-01" for line in lines)


def test_an_answer_says_when_a_timeline_answers_better(service: NewsService) -> None:
    assert service.ask("How has the Kessel Strait Bridge cost changed?").timeline
    assert not service.ask(CEO).timeline


def test_a_syndicated_copy_is_cited_once_with_its_outlets(service: NewsService) -> None:
    answer = service.ask(
        "How many people have been killed by Cyclone Orla?", as_of=dt.datetime(2025, 9, 7, tzinfo=dt.UTC)
    )
    quotes = [c.quote for c in answer.citations]
    assert len(quotes) == len(set(quotes))
    copied = [c for c in answer.citations if c.copies]
    assert copied, "orla-04 and orla-05 carry the same wire story"
    for citation in copied:
        for copy in citation.copies:
            assert copy.article_id != citation.article_id and copy.source != citation.source
            shown = service.get_article(copy.article_id).text[copy.start : copy.end]
            assert shown == citation.quote if copy.exact else stories.near_equal(shown, citation.quote)


def test_stories_are_listed_with_their_outlets_by_the_api_and_the_cli_alike(http: httpx.Client, data_dir: Path) -> None:
    first = http.get("/api/stories", params={"limit": 2}).json()
    assert [s["story_id"] for s in first["stories"]] == ["mayor-04", "norvale-04"] and first["next_cursor"]
    rest = http.get("/api/stories", params={"cursor": first["next_cursor"]}).json()
    orla = rest["stories"][0]
    assert (orla["story_id"], orla["outlets"]) == ("orla-04", ["Harbor Wire", "The Lisburg Ledger"])
    assert [a["id"] for a in orla["articles"]] == ["orla-04", "orla-05"] and rest["next_cursor"] is None
    done = run_qa_in(data_dir, "list", "--stories", "--json", "--limit", "2")
    assert done.returncode == 0 and json.loads(done.stdout) == first
    assert http.get("/api/stories", params={"limit": 0}).status_code == 422
