"""qa/outcome.py: a question about how something ended, against sentences that say it has not yet."""

from __future__ import annotations

import pytest

from qa.outcome import reports_only_open


@pytest.mark.parametrize(
    ("question", "sentences", "only_open"),
    [
        ("Who won the mayoral election?", ["Voss has overtaken Dunleavy in the race to become mayor."], True),
        ("What was the final death toll?", ["The death toll rose to 12 on Friday, the ministry said."], True),
        (
            "Who has Norvale named as its permanent chief executive?",
            ["Sorvik, who took charge as interim chief executive, is a cautious numbers person."],
            True,
        ),
        (
            "Who did Rovers appoint as permanent manager?",
            ["Lisburg Rovers sacked manager Gavin Prost on Monday after a home defeat."],
            True,
        ),
        # the outcome is told: the sentence may answer
        ("Who won the mayoral election?", ["Voss won the election with 52.3% of the vote."], False),
        ("Who won Super Bowl 50?", ["The Denver Broncos defeated the Carolina Panthers 24-10."], False),
        ("What was the final death toll?", ["The government put the final death toll at 46."], False),
        # one sentence of the answer tells it
        ("Who won the race?", ["Smith leads the race.", "Jones won on Sunday."], False),
        # not a question about how something ended
        ("How many deaths had been confirmed by Saturday?", ["The number killed rose to 27 on Saturday."], False),
        ("Who leads the race?", ["Dunleavy leads the race for mayor."], False),
        ("Who won the election?", [], False),
    ],
)
def test_a_settled_outcome_is_not_answered_by_a_report_that_it_is_open(
    question: str, sentences: list[str], only_open: bool
) -> None:
    assert reports_only_open(question, sentences) is only_open
