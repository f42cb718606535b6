"""qa/question.py: a question's terms, names and wanted answer type, and whether a sentence shows that type."""

from __future__ import annotations

import pytest

from qa.posts import LEAVES_POST
from qa.question import AnswerType, QuestionProfile


def test_profile_reads_stemmed_terms_and_names() -> None:
    profile = QuestionProfile.of("What did Truss demand from Lavrov?")
    assert profile.terms == ["truss", "demand", "lavrov"]
    assert profile.names == frozenset({"truss", "lavrov"})


def test_profile_names_leave_out_capitalised_question_words() -> None:
    profile = QuestionProfile.of("Who met Truss in Moscow?")
    assert profile.names == frozenset({"truss", "moscow"})


def test_profile_without_names_has_an_empty_set() -> None:
    assert QuestionProfile.of("why did the talks fail?").names == frozenset()


@pytest.mark.parametrize(
    ("question", "wanted"),
    [
        ("Who met Truss in Moscow?", AnswerType.NAME),
        ("Where did Lavrov fly?", AnswerType.NAME),
        ("Which country hosted the talks?", AnswerType.NAME),
        ("Who demanded a ceasefire?", AnswerType.NAME),  # "who" is read before "demand"
        ("When did the talks end?", AnswerType.DATE),
        ("In what year did the war start?", AnswerType.DATE),
        ("Hutton published his theories in what year?", AnswerType.DATE),
        ("During what decade did the campus change?", AnswerType.DATE),
        ("How many troops crossed the border?", AnswerType.NUMBER),
        ("What percentage of voters agreed?", AnswerType.NUMBER),
        ("How long did the siege last?", AnswerType.DURATION),
        ("How old is Lavrov?", AnswerType.AGE),
        ("At what age did Truss enter parliament?", AnswerType.AGE),
        ("What is the name of the operation?", AnswerType.TITLE),
        ("What is the plan called?", AnswerType.TITLE),
        ("What did Truss demand?", AnswerType.DEMAND),
        ("What does Lavrov want?", AnswerType.DEMAND),
        ("What did Truss call for?", AnswerType.DEMAND),
        ("Why did Truss resign?", None),
        ("What did Lavrov say about NATO?", None),
    ],
)
def test_answer_type_of_question(question: str, wanted: AnswerType | None) -> None:
    assert QuestionProfile.of(question).answer_type is wanted


def test_no_wanted_type_matches_every_sentence_by_half() -> None:
    profile = QuestionProfile.of("Why did Truss resign?")
    assert profile.type_match("She resigned in October 2022.") == 0.5
    assert profile.type_match("Nothing here.") == 0.5


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Truss met Lavrov in Moscow.", 1.0),
        ("They met Sergei Lavrov.", 1.0),
        ("Truss met him there.", 0.0),  # the only name is the question's own, at the start
        ("Yesterday she met nobody.", 0.0),  # capitalised only because it opens the sentence
        ("She met Liz Truss.", 0.0),  # the run holds a name the question already gives
        ("she met nobody at all.", 0.0),
    ],
)
def test_name_wants_a_new_capitalised_run_not_at_the_start(sentence: str, expected: float) -> None:
    assert QuestionProfile.of("Who met Truss?").type_match(sentence) == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("The talks ended in February.", 1.0),
        ("The talks ended in 2022.", 1.0),
        ("The talks ended two years ago.", 1.0),
        ("The city fell in 44 BC.", 1.0),
        ("The talks ended badly.", 0.0),
        ("The talks ended with an ad.", 0.0),  # era marks count in capitals only
    ],
)
def test_date_pattern(sentence: str, expected: float) -> None:
    assert QuestionProfile.of("When did the talks end?").type_match(sentence) == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("About 40,000 troops crossed.", 1.0),
        ("Thousands of troops crossed.", 1.0),
        ("Seven battalions crossed.", 1.0),
        ("Many troops crossed.", 0.0),
    ],
)
def test_number_pattern(sentence: str, expected: float) -> None:
    assert QuestionProfile.of("How many troops crossed?").type_match(sentence) == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("The siege lasted three weeks.", 1.0),
        ("It was a 10-year siege.", 1.0),
        ("The city was held from 1870 to 1939.", 1.0),
        ("It went on all night.", 1.0),
        ("The siege lasted a while.", 0.0),
    ],
)
def test_duration_pattern(sentence: str, expected: float) -> None:
    assert QuestionProfile.of("How long did the siege last?").type_match(sentence) == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Lavrov is 72 years old.", 1.0),
        ("He joined at the age of 22.", 1.0),
        ("He retired aged 65.", 1.0),
        ("Lavrov is a veteran diplomat.", 0.0),
    ],
)
def test_age_pattern(sentence: str, expected: float) -> None:
    assert QuestionProfile.of("How old is Lavrov?").type_match(sentence) == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ('It was called "Sunflower".', 1.0),  # a quoted title
        ("It was codenamed Sunflower Storm.", 1.0),  # a new run of two capitalised words
        ("It was codenamed Sunflower.", 0.0),  # a single word is no title
        ("It was a success.", 0.0),
    ],
)
def test_title_pattern(sentence: str, expected: float) -> None:
    assert QuestionProfile.of("What is the name of the plan?").type_match(sentence) == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Russia must withdraw its troops.", 1.0),
        ("She urged Moscow to stop.", 1.0),
        ("She called for calm.", 1.0),
        ("She insisted on talks.", 1.0),
        ("The Russian demand for guarantees was rejected.", 0.0),  # the noun reports no one's demand
        ("She spoke about the weather.", 0.0),
    ],
)
def test_demand_pattern(sentence: str, expected: float) -> None:
    assert QuestionProfile.of("What did Truss demand?").type_match(sentence) == expected


def test_a_day_or_month_is_no_name_a_who_question_wants() -> None:
    profile = QuestionProfile.of("Who is the chief executive of Norvale Energy?")
    assert profile.type_match("Norvale Energy reported a rise in profit on Thursday.") == 0.0
    assert profile.type_match("Profit rose in Sept. and again in March.") == 0.0
    assert profile.type_match("Chief executive Tomas Brekke said on Thursday that it would invest.") == 1.0


@pytest.mark.parametrize(
    ("question", "own"),
    [
        ("What is the dateline date of this report?", True),
        ("What is the dateline of the story?", True),
        ("When was this article published?", True),
        ("When was the report first filed?", True),
        ("What is the date of this report?", True),
        ("When did the meeting take place?", False),  # a date the report tells of
        ("What date did the report give for the vote?", False),
        ("Who published the report?", False),
    ],
)
def test_a_question_about_the_reports_own_date(question: str, own: bool) -> None:
    profile = QuestionProfile.of(question)
    assert profile.asks_own_date is own
    if own:
        assert profile.answer_type is AnswerType.DATE


@pytest.mark.parametrize(
    ("question", "holder"),
    [
        ("Who is the mayor of Lisburg?", True),
        ("Who is in charge of Lisburg Rovers?", True),
        ("Who was the chief executive of Norvale Energy on 1 March?", True),
        ("Who now runs Norvale Energy?", True),
        ("Who leads the party?", True),
        ("Who resigned as mayor?", False),  # asks about the one who left
        ("Who was the chief executive of Norvale Energy?", False),  # no date: history, not a post held then
        ("Who had been in charge before Reyes?", False),
        ("Who won the election?", False),  # an event, not a post
        ("What is the mayor's plan?", False),
    ],
)
def test_a_question_about_who_holds_a_post(question: str, holder: bool) -> None:
    assert QuestionProfile.of(question).asks_holder is holder


def test_a_question_whose_date_became_its_window_asks_who_held_the_post_then() -> None:
    """ "Who was in charge of the club on 1 March?" reaches the answerer as "Who was in charge of the club?"."""
    assert QuestionProfile.of("Who was in charge of Lisburg Rovers?").asks_holder is False
    assert QuestionProfile.of("Who was in charge of Lisburg Rovers?", dated=True).asks_holder is True


@pytest.mark.parametrize(
    ("sentence", "leaves"),
    [
        ("Helena Voss resigned as mayor of Lisburg on Tuesday.", True),
        ("Lisburg Rovers sacked manager Gavin Prost on Monday.", True),
        ("Prost, 49, had been in charge since July 2023.", True),
        ("The chairman was replaced by his deputy.", True),
        ("Kawann Short led the team in sacks with 11.", False),  # a football statistic
        ("Police fired tear gas at the crowd.", False),
        ("The minister dismissed the claims as nonsense.", False),
        ("Former President Jose Maria Figueres studied there.", False),
    ],
)
def test_what_tells_of_someone_leaving_a_post(sentence: str, leaves: bool) -> None:
    assert bool(LEAVES_POST.search(sentence)) is leaves


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Dunleavy has 38% support.", 1.0),
        ("Dunleavy has 38 % support.", 1.0),
        ("Eleven percent of voters were undecided.", 1.0),
        ("The margin of error is three percentage points.", 1.0),
        ("The poll was carried out between March 20 and March 25.", 0.0),  # a number, not a share
        ("Dunleavy leads the race, a poll of 1,020 voters said.", 0.0),
    ],
)
def test_a_share_wants_a_percentage_not_any_number(sentence: str, expected: float) -> None:
    profile = QuestionProfile.of("What share did Dunleavy have in the poll?")
    assert profile.answer_type is AnswerType.NUMBER and profile.asks_share
    assert profile.type_match(sentence) == expected
    assert QuestionProfile.of("How many voters did the poll ask?").type_match(sentence) == 1.0  # any number does


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("The project remained on track at a cost of 1.71 billion crowns.", 1.0),
        ("DuMont would have received $5 million in cash.", 1.0),
        ("The bill came to 40 million euros.", 1.0),
        ("The last pylon reached its full height of 184 metres.", 0.0),  # a number, not an amount of money
        ("The bridge will open in September 2027.", 0.0),
    ],
)
def test_a_cost_wants_an_amount_of_money_not_any_number(sentence: str, expected: float) -> None:
    profile = QuestionProfile.of("How much is the Kessel Strait Bridge expected to cost?")
    assert profile.answer_type is AnswerType.NUMBER and profile.asks_money
    assert profile.type_match(sentence) == expected
    assert QuestionProfile.of("How much steel does the bridge need?").type_match(sentence) == 1.0  # any number does
