"""qa/span.py: the short answer pinned inside a cited quote, on hand-written sentences."""

from __future__ import annotations

import pytest

from qa.domain import Citation
from qa.reader import SpanReader
from qa.span import prepare, short_answer

PREAMBLE = "An opening paragraph that no citation quotes.\n\n"


def cited(*quotes: str) -> tuple[str, list[Citation]]:
    """An article made of a preamble and these quotes (one paragraph each), and a citation of each."""
    article, citations = PREAMBLE, []
    for n, quote in enumerate(quotes, start=1):
        start = len(article)
        article += quote + "\n\n"
        citations.append(
            Citation(n=n, article_id="a1", title="T", quote=quote, start=start, end=start + len(quote), score=1.0)
        )
    return article, citations


@pytest.mark.parametrize(
    ("question", "quotes", "expected"),
    [
        (
            "How many points did the Panthers defense surrender?",
            ["The Panthers defense gave up just 308 points, ranking sixth in the league."],
            "308",
        ),
        (
            "On which day did Lavrov and Truss meet?",
            ["The foreign ministers talked for hours. The meeting of Lavrov and Truss took place on 10 February 2022."],
            "10 February 2022",
        ),
        ("When was the bridge opened?", ["The bridge was opened to traffic in 1937 after four years of work."], "1937"),
        (
            "Who succeeded Smith as chairman of the board?",
            ["Smith retired in May, and the board named Maria Lopez as its new chairman."],
            "Maria Lopez",
        ),
        (
            "What percentage of the vote did the party win?",
            ["The party won 42 percent of the vote in the northern districts."],
            "42 percent",
        ),
        (
            "How long did the siege last?",
            ["The city held out, and the siege lasted three months before the army withdrew."],
            "three months",
        ),
        (
            "In which city were the talks held?",
            ["The ministers arrived on Monday. The talks were held in Moscow at the foreign ministry."],
            "Moscow",
        ),
        # a day is no one's name, with or without an apostrophe
        (
            "Who is the mayor of Lisburg?",
            ["The city said that Tobias Renn became acting mayor of Lisburg on Tuesday."],
            "Tobias Renn",
        ),
        (
            "Who is the mayor of Lisburg?",
            ["Candidates registered by Thursday's deadline to succeed Mayor Arnold Fenwick."],
            "Arnold Fenwick",
        ),
        # who holds a post: not the one the answer says left it
        (
            "Who is the mayor of Lisburg?",
            [
                "Helena Voss resigned as mayor of Lisburg on Tuesday.",
                "Deputy Mayor Tobias Renn became acting mayor with immediate effect.",
            ],
            "Tobias Renn",
        ),
        # initials, abbreviated titles and a glued scale stay in the span
        (
            "Who led the committee?",
            ["The committee was led by Nicholas E. Golovin, a NASA engineer."],
            "Nicholas E. Golovin",
        ),
        (
            "Who is the boulevard named after?",
            ["The boulevard is named after M. Theo Kearney, a farmer."],
            "M. Theo Kearney",
        ),
        ("How much were the carriage fees?", ["The carriage fees rose to £30m for the channels."], "£30m"),
        # a currency named after the figure is part of the amount
        (
            "How much is the tunnel expected to cost?",
            ["The ministry said the tunnel is now expected to cost 2.4 billion crowns, up from its first estimate."],
            "2.4 billion crowns",
        ),
        # a person named in full when the quotes give the full name; only for "who"
        (
            "Who was assigned to design a second master plan?",
            [
                "The plan was drawn up by the architect Eero Saarinen in 1955.",
                "Saarinen was assigned to design a second master plan, which the board adopted.",
            ],
            "Eero Saarinen",
        ),
        (
            "Where did the team travel?",
            ["The team travelled to Germany, where Friedrich Ratzel of Germany had taught."],
            "Germany",
        ),
        # a particle is part of a name; "who" wants the person, not a possessive
        (
            "Who was the last prime minister of the republic?",
            ["The last prime minister of the republic, Lothar de Maizière, is a lawyer."],
            "Lothar de Maizière",
        ),
        (
            "Who leads the club?",
            ["Rovers took 19 points from 11 games under Stefan Aaltonen's leadership."],
            "Stefan Aaltonen",
        ),
        # "May" is the month here, not the verb a span may not start with ("2013" and "18, 1756" were the answers)
        (
            "When did the plant close?",
            ["The carmaker said the closure of its Victoria plant took effect in May 2013, ending production there."],
            "May 2013",
        ),
        (
            "When did England declare war on France?",
            ["England formally declared war on France on May 18, 1756, after months of skirmishes."],
            "May 18, 1756",
        ),
        # dates without a calendar year (no span fitted a date at all)
        (
            "When did the extinction happen?",
            ["The extinction happened 66 million years ago, when an asteroid struck."],
            "66 million years ago",
        ),
        (
            "When was the valley fully forested?",
            ["The valley was fully forested by 9000 BP, pollen records show."],
            "9000 BP",
        ),
        # how near the number is belongs to it
        (
            "How many visitors came to the exhibition?",
            ["The museum said over 14,000 visitors came to the exhibition last year."],
            "over 14,000",
        ),
        (
            "How many works are in the collection?",
            ["The collection holds more than 70,000 works from the region."],
            "more than 70,000",
        ),
    ],
)
def test_picks_the_span_that_answers(question: str, quotes: list[str], expected: str) -> None:
    article, citations = cited(*quotes)
    span = short_answer(question, citations)
    assert span is not None and span.text == expected
    assert article[span.start : span.end] == span.text  # offsets index the article, not the quote
    quote = citations[span.citation - 1]
    assert quote.start <= span.start < span.end <= quote.end


def test_the_span_comes_from_the_quote_that_answers() -> None:
    article, citations = cited("Talks went on all day in the capital.", "The treaty was signed in 1921 by both sides.")
    span = short_answer("In what year was the treaty signed?", citations)
    assert span is not None and (span.text, span.citation) == ("1921", 2)
    assert article[span.start : span.end] == "1921"


@pytest.mark.parametrize(
    "question",
    [
        "Why did the talks fail?",  # a reason: the sentence is the answer
        "How did Lavrov respond?",  # a manner
        "What did Truss demand?",  # a demand is a clause, not a span
    ],
)
def test_no_span_for_reasons_manners_and_demands(question: str) -> None:
    _, citations = cited("Truss demanded that Russia withdraw its troops, and Lavrov refused in 2022.")
    assert short_answer(question, citations) is None


def test_no_span_when_nothing_fits_the_wanted_type_or_the_answer_abstained() -> None:
    _, citations = cited("The ministers talked for hours about the situation at the border.")
    assert short_answer("When did the ministers talk?", citations) is None  # no date in the quote
    assert short_answer("How many soldiers were at the border?", citations) is None  # no number
    _, dated = cited("The meeting took place on 10 February 2022.")
    assert short_answer("When did the meeting take place?", dated, abstained=True) is None
    assert short_answer("When did the meeting take place?", []) is None


def test_a_span_is_never_only_the_questions_own_words() -> None:
    _, citations = cited("Lavrov met Truss in Moscow.")
    span = short_answer("Who did Lavrov meet in Moscow?", citations)
    assert span is not None and span.text == "Truss"


def test_the_fact_is_the_answers_own_not_earlier_reportings() -> None:
    _, (answer, earlier) = cited(
        "The club said it would name a new manager soon.", "Anneli Sorvik took charge of Norvale Energy."
    )
    earlier = earlier.model_copy(update={"earlier": True})
    found = short_answer("Who is in charge of Lisburg Rovers?", [answer, earlier])
    assert found is None or found.citation == 1
    found = short_answer("Who is in charge of Lisburg Rovers?", [answer, earlier.model_copy(update={"earlier": False})])
    assert found is not None and found.citation == 2


def test_an_extractive_answers_own_sentences_spare_splitting_its_quotes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sentence splitter's model takes about a second to load: a cold `qa ask` must not need it when the
    answer's sentences are its quotes word for word. A model's own words still get the quote split."""
    from qa import span
    from qa.domain import AnswerSentence

    first, second = "The ministers arrived on Monday.", "The talks were held in Moscow at the foreign ministry."
    _, citations = cited(f"{first} {second}")
    told = [AnswerSentence(text=t, citations=[1], supported=True) for t in (first, second)]
    split: list[str] = []
    monkeypatch.setattr(span, "sentence_spans", lambda text: split.append(text) or [(0, len(text))])

    found = short_answer("In which city were the talks held?", citations, sentences=told)
    assert found is not None and found.text == "Moscow"
    assert split == []
    model_words = [AnswerSentence(text="They met in Moscow.", citations=[1], supported=True)]
    short_answer("In which city were the talks held?", citations, sentences=model_words)
    assert split == [citations[0].quote]


@pytest.mark.parametrize(
    ("question", "quote", "never"),
    [
        ("Who is the mayor of Lisburg?", "The mayor of Lisburg resigned on Tuesday.", "Tuesday"),
        ("Who is the governor of the bank?", "The bank left its main rate at 3.50% on Thursday.", "3.50% on Thursday"),
        ("Whose army built the wall?", "The wall of Hadrian's army still stands in places.", "Hadrian"),  # whose: 's
    ],
)
def test_never_picks_what_cannot_answer(question: str, quote: str, never: str) -> None:
    _, citations = cited(quote)
    found = short_answer(question, citations)
    assert found is None or found.text != never


@pytest.mark.parametrize(
    "opening",
    ["AMBERY, Oct 2 (Wire One) - ", "LONDON, Oct. 20, 2022 (Reuters) - ", "AMBERY (Gazette Three) - "],
)
def test_no_short_answer_comes_from_a_dateline(opening: str) -> None:
    quote = opening + "Officials said five people were missing."
    citation = Citation(n=1, article_id="a", title="t", quote=quote, start=0, end=len(quote), score=1.0)
    found = short_answer("How many people are missing?", [citation])
    assert found is not None and found.text == "five"
    own = short_answer("What is the dateline of this report?", [citation])
    assert own is None or own.start < len(opening)  # the report's own date may come from it


def test_a_yes_or_no_question_gets_no_span() -> None:
    quote = "Officials said five people were still missing on Friday, the monitoring mission said."
    citation = Citation(n=1, article_id="a", title="t", quote=quote, start=0, end=len(quote), score=1.0)
    assert short_answer("Are people still missing?", [citation]) is None  # not "Friday", not "five"
    assert short_answer("Did the mission find the missing people?", [citation]) is None
    found = short_answer("How many people were still missing?", [citation])
    assert found is not None and found.text == "five"


@pytest.mark.parametrize(
    ("question", "reads"),
    [
        ("How many points did the Panthers defense surrender?", True),
        ("Who won the race?", True),
        ("Why did Truss resign?", False),
        ("How did the market react?", False),
        ("Did Truss resign?", False),
        ("   ", False),
    ],
)
def test_the_reader_starts_loading_before_retrieval_only_for_a_question_whose_short_answer_may_read_it(
    question: str, reads: bool
) -> None:
    loading = prepare(question, SpanReader())
    assert (loading is not None) is reads
    if loading is not None:
        loading.join(60)
