"""qa/posts.py: the post a question asks about, who a sentence names in it, and who left it."""

from __future__ import annotations

import pytest

from qa.posts import ANY_POST, names_holder
from qa.question import QuestionProfile


@pytest.mark.parametrize(
    ("question", "post"),
    [
        ("Who is the mayor of Lisburg?", "mayor"),
        ("Who is the chief executive of Norvale Energy?", "chief executive"),
        ("Who is the UK Foreign Secretary?", "uk foreign secretary"),
        ("Who is in charge of Lisburg Rovers?", ANY_POST),  # no post named: any will do
        ("Who runs Norvale Energy?", ANY_POST),
        ("Who resigned as mayor of Lisburg?", None),
        ("Who was the first director of the museum?", None),  # history, not who holds it
    ],
)
def test_the_post_a_question_asks_about(question: str, post: str | None) -> None:
    assert QuestionProfile.of(question).post == post


@pytest.mark.parametrize(
    ("sentence", "post", "named"),
    [
        (
            "Three candidates registered to succeed Mayor Arnold Fenwick, who is not seeking a third term.",
            "mayor",
            True,
        ),
        ("Deputy Mayor Tobias Renn became acting mayor with immediate effect.", "mayor", True),
        ("Helena Voss was sworn in as mayor of Lisburg on Monday.", "mayor", True),
        ("Anneli Sorvik was named interim chief executive while the board searches.", "chief executive", True),
        ("Lisburg Rovers appointed Stefan Aaltonen as manager on Monday.", "manager", True),
        ("The decision was unanimous, Ilse Marwood, the governor, said.", "governor", True),
        ("Marek Dunleavy leads the race for mayor of Lisburg, a poll showed.", "mayor", False),
        ("Voss has overtaken Dunleavy in the race to become mayor.", "mayor", False),
        ("Chief executive Tomas Brekke said the utility would invest.", "mayor", False),  # another post
        ("Assistant coach Colm Reyes will take charge as caretaker manager.", ANY_POST, True),
        ("Rovers took 19 points from 11 games under Stefan Aaltonen.", ANY_POST, True),
        ("Rovers avoided relegation on Sunday, beating Aldhaven Athletic 2-0.", ANY_POST, False),
        ("The rules were changed under Article 5 of the treaty.", "mayor", False),
    ],
)
def test_who_a_sentence_names_in_the_post(sentence: str, post: str, named: bool) -> None:
    assert names_holder(sentence, post) is named
