"""Reading the time a question is about, against a reference time."""

from __future__ import annotations

import datetime as dt

import pytest

from qa.when import read_time

AS_OF = dt.datetime(2025, 11, 14, 10, 0, tzinfo=dt.UTC)  # a Friday


def day(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("question", "since", "until", "phrase", "query"),
    [
        ("What did the bank decide last month?", "2025-10-01", "2025-11-01", "last month", "What did the bank decide?"),
        ("What did the mayor say yesterday?", "2025-11-13", "2025-11-14", "yesterday", "What did the mayor say?"),
        ("What happened this week in Lisburg?", "2025-11-08", None, "this week", "What happened in Lisburg?"),
        ("What did the club announce two weeks ago?", "2025-10-28", "2025-11-04", "two weeks ago", None),
        ("What did the bank decide in February?", "2025-02-01", "2025-03-01", "in February", None),
        # a month still to come this year is last year's
        ("What was agreed in December?", "2024-12-01", "2025-01-01", "in December", None),
        ("What happened on 14 March?", "2025-03-14", "2025-03-15", "on 14 March", None),
        ("What happened on March 3, 2024?", "2024-03-03", "2024-03-04", "on March 3, 2024", None),
        ("What has changed since March 3?", "2025-03-03", None, "since March 3", "What has changed?"),
        ("What was said in the past three days?", "2025-11-11", None, "in the past three days", None),
        ("What happened before September 2025?", None, "2025-09-01", "before September 2025", None),
        ("Who resigned this month?", "2025-11-01", None, "this month", "Who resigned?"),
        ("What did the minister say last week?", "2025-11-03", "2025-11-10", "last week", None),
    ],
)
def test_relative_expressions_become_a_window(
    question: str, since: str | None, until: str | None, phrase: str, query: str | None
) -> None:
    reading = read_time(question, AS_OF)
    assert reading.phrase == phrase
    assert reading.since == (day(since) if since else None)
    if until is None:  # reaches now: the reference time itself is inside
        assert reading.until is not None and AS_OF < reading.until <= AS_OF + dt.timedelta(seconds=1)
    else:
        assert reading.until == day(until)
    if query is not None:
        assert reading.query == query


@pytest.mark.parametrize(
    "question",
    ["What did Truss demand?", "When did the storm make landfall?", "Who won the election in 2024?",
     "In which city were the talks held?", "What may happen to the treaty?"],
)  # fmt: skip
def test_questions_without_a_relative_date_have_no_window(question: str) -> None:
    reading = read_time(question, AS_OF)
    assert not reading.has_window and reading.query == question


@pytest.mark.parametrize(
    ("question", "latest"),
    [
        ("Who is the chief executive of Norvale Energy?", True),
        ("What is the latest death toll?", True),
        ("Is the ceasefire still holding?", True),
        ("How many people have died so far?", True),
        ("Who won the mayoral election?", False),
        ("What did the bank decide?", False),
        ("When did the storm make landfall?", False),
        # bound to a past window, a present-tense question asks what was then
        ("Who is the mayor, according to reports last month?", False),
    ],
)
def test_questions_about_the_current_state_want_the_newest_report(question: str, latest: bool) -> None:
    assert read_time(question, AS_OF).latest is latest


@pytest.mark.parametrize(
    ("question", "until", "query"),
    [
        ("Who was in charge of Lisburg Rovers on 1 March 2025?", "2025-03-02", "Who was in charge of Lisburg Rovers?"),
        ("What was the rate in February?", "2025-03-01", "What was the rate?"),
        ("How many people had died in September?", "2025-10-01", "How many people had died?"),
    ],
)
def test_a_state_on_a_date_is_the_newest_report_by_then(question: str, until: str, query: str) -> None:
    reading = read_time(question, AS_OF)
    assert (reading.since, reading.until, reading.latest, reading.query) == (None, day(until), True, query)


def test_a_poll_of_a_date_keeps_to_reports_of_that_day() -> None:
    reading = read_time("What share did Dunleavy have in the poll of 28 March 2025?", AS_OF)
    assert (reading.since, reading.until, reading.query) == (
        day("2025-03-28"),
        day("2025-03-29"),
        "What share did Dunleavy have in the poll?",
    )


def test_as_of_a_date_asks_for_the_state_of_things_then() -> None:
    reading = read_time("Who led Lisburg Rovers as of 1 March 2025?", AS_OF)
    assert (reading.since, reading.until, reading.latest) == (None, day("2025-03-02"), True)
    assert reading.query == "Who led Lisburg Rovers?"


def test_an_event_on_a_date_keeps_to_reports_of_that_day() -> None:
    reading = read_time("Who was appointed on 1 March 2025?", AS_OF)
    assert (reading.since, reading.until, reading.latest) == (day("2025-03-01"), day("2025-03-02"), False)
