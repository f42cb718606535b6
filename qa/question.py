"""What a question asks for, read without a model: its terms, the names it is about, the kind of answer it wants.

Answer types are the classic extractive-QA check: a "when" question is answered by a sentence with a date in
it, "how many" by one with a number, "who" by one naming someone the question does not already name. A question
whose type no retrieved sentence shows is one the articles most likely do not answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from qa.posts import asks_who_holds_a_post, post_named
from qa.text import MONTHS, NAME_RUN, WEEKDAYS, names_in, tokenize

_MONTHS = "|".join(MONTHS)
_NUMBER_WORDS = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozen|hundred|thousand|million|billion"
_TIME_UNITS = "seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centuries|century"
_NUMBER = rf"(?:\d[\d,.]*|{_NUMBER_WORDS}|several|few|many)"


class AnswerType(Enum):
    """The shape of answer a question asks for."""

    DATE = "date"
    DURATION = "duration"
    AGE = "age"
    NUMBER = "number"
    NAME = "name"
    TITLE = "title"
    DEMAND = "demand"


# Era marks in capitals only: "an ad" and "ce" are no dates.
_DATE = rf"\b([1-9][0-9]{{2,3}}s?|{_MONTHS}|century|centuries|decade|(?-i:BC|AD|BCE|CE))\b|\b(years|ago)\b"
_DURATION = rf"\b{_NUMBER}[\s-]+(?:(?:million|billion|thousand)\s+)?({_TIME_UNITS})\b|\b(all|whole) (day|night|week)\b"
_SHOWS: dict[AnswerType, re.Pattern[str]] = {
    AnswerType.DATE: re.compile(_DATE, re.I),
    # a span of time is also told by its ends: "from 1870 to 1939", "until the 19th century"
    AnswerType.DURATION: re.compile(
        rf"{_DURATION}|\bfrom\b[^.;]{{0,20}}\d[^.;]{{0,20}}\b(to|until|till)\b|\bbetween\b[^.;]{{0,20}}\d[^.;]{{0,20}}\band\b"
        rf"|\b(until|since|into)\b[^.;]{{0,30}}(\d|century|centuries|{_MONTHS})",
        re.I,
    ),
    AnswerType.AGE: re.compile(
        rf"\b{_NUMBER}[\s-]+(?:(?:million|billion|thousand)\s+)?years?[\s-]+(old|ago)\b|\baged? {_NUMBER}\b"
        rf"|\b(at|the) age of\b|\b(over|under|at least) (the age of )?\d+\b",
        re.I,
    ),
    AnswerType.NUMBER: re.compile(rf"(\d|\b({_NUMBER_WORDS}|percent|per cent|dozens|hundreds|thousands)\b)", re.I),
    AnswerType.DEMAND: re.compile(
        # verbs of demanding, not the noun: "the Russian demand for guarantees" reports no one's demand
        r"\b(must|should|needs? to|has to|have to|demanded|demands? that|demanding|urge[sd]?|call(?:s|ed)? (?:on|for)"
        r"|insist\w*|require[sd]?)\b",
        re.I,
    ),
}
# A question asking for a share is answered by a percentage ("38% support"), not by any number ("March 25").
_ASKS_SHARE = re.compile(r"\b(what|which) (percentage|percent|proportion|share)\b|\bhow many percent\b", re.I)
_SHOWS_SHARE = re.compile(r"\d\s?%|\b(percent|per cent|percentage points?)\b", re.I)
# A question about what something costs is answered by an amount of money ("1.71 billion crowns"), not by any
# number ("184 metres").
_ASKS_MONEY = re.compile(
    r"\bhow much\b.*\b(cost|costs|costing|pay|pays|paid|spend|spends|spent|price|priced|charge|charges|charged"
    r"|fee|fees|worth|money|budget|salary|invest|invested|raise|raised)\b",
    re.I,
)
# Names of money, as a figure's unit ("1.71 billion crowns").
CURRENCY_NAMES = (
    r"dollars?|euros?|pounds?|sterling|yen|yuan|renminbi|rupees?|francs?|marks|crowns|kronor|kroner|krona|krone"
    r"|pesos?|roubles?|rubles?|cents?|pence|shillings?|dinars?|riyals?|lira|lire|won|rand|guilders?|usd|eur|gbp"
)
_SHOWS_MONEY = re.compile(rf"[$£€¥₹]|\b({CURRENCY_NAMES})\b", re.I)
# Capitalised, yet no one's name: "Thursday" in "said on Thursday" does not answer "Who ...?".
_MONTH_ABBREVIATIONS = ("jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec")
_CALENDAR_WORDS = frozenset(MONTHS + WEEKDAYS + _MONTH_ABBREVIATIONS)
_QUOTED = re.compile(r"[\"“‘'][^\"”’']{3,}[\"”’']")

_TYPE_CUES: list[tuple[re.Pattern[str], AnswerType]] = [
    (re.compile(r"\bhow old\b|\b(at )?what age\b", re.I), AnswerType.AGE),
    (re.compile(r"\bhow long\b|\bfor how many (minutes|hours|days|weeks|months|years)\b", re.I), AnswerType.DURATION),
    (
        re.compile(
            r"^\s*(?:(?:on|in|by|from|since|until|at|during)\s+)?"
            r"(?:when|(?:what|which) (?:year|date|day|month|century|decade))\b"
            r"|\b(?:in|during) (?:what|which) (?:year|month|century|decade)\b",  # "... published in what year?"
            re.I,
        ),
        AnswerType.DATE,
    ),
    (
        re.compile(
            r"\b(how (many|much|far|large|big|tall|high)|what (percentage|number|amount|proportion|share))\b",
            re.I,
        ),
        AnswerType.NUMBER,
    ),
    (re.compile(r"\b(what|which) is the (name|title) of\b|\bwhat is (it|the \w+) called\b", re.I), AnswerType.TITLE),
    (
        re.compile(
            r"^\s*(who|whom|whose|where)\b|\b(which|what) (person|company|country|city|team|organi[sz]ation)\b", re.I
        ),
        AnswerType.NAME,
    ),
    (
        re.compile(
            r"\b(demand\w*|want\w*|urge\w*|call(?:s|ed)? (for|on)|insist\w*|ask(?:s|ed)? (for|that)|expect\w*)\b", re.I
        ),
        AnswerType.DEMAND,
    ),
]


# A question about the report's own date, not about a date in it: "What is the dateline of this report?", "When
# was this article published?". Its answer is the dateline the report opens with.
_OWN_DATE = re.compile(
    r"\bdateline\b"
    r"|\b(?:date|day) of (?:this|the) (?:report|article|story|piece)\b"
    r"|\bwhen (?:was|is) (?:this|the) (?:report|article|story|piece)\b"
    r"(?: \w+)? (?:published|filed|written|dated|from)\b",
    re.I,
)


@dataclass(frozen=True)
class QuestionProfile:
    """A question's stemmed terms, the stemmed names it mentions, and the answer type it wants."""

    terms: list[str]
    names: frozenset[str]
    answer_type: AnswerType | None
    asks_own_date: bool = False  # the report's own date (its dateline), not a date the report tells of
    asks_holder: bool = False  # who holds a post now (not who left it): "Who is the mayor?"
    post: str | None = None  # the post such a question names ("mayor"), if it names one
    asks_share: bool = False  # a percentage: "What share did Dunleavy have?"
    asks_money: bool = False  # an amount of money: "How much will the bridge cost?"

    @classmethod
    def of(cls, question: str, dated: bool = False) -> QuestionProfile:
        """Read a question (`dated`: its date was taken out of it as its time window)."""
        (terms,) = tokenize([question])
        named = [name for name in names_in(question) if name.lower().rstrip(".") not in _CALENDAR_WORDS]
        stems = frozenset(tokenize([" ".join(named)])[0]) if named else frozenset()
        own_date = bool(_OWN_DATE.search(question))
        answer_type = AnswerType.DATE if own_date else next((k for cue, k in _TYPE_CUES if cue.search(question)), None)
        holder = asks_who_holds_a_post(question, dated)
        post = post_named(question) if holder else None
        return cls(
            terms=terms,
            names=stems,
            answer_type=answer_type,
            asks_own_date=own_date,
            asks_holder=holder,
            post=post,
            asks_share=answer_type is AnswerType.NUMBER and bool(_ASKS_SHARE.search(question)),
            asks_money=answer_type is AnswerType.NUMBER and bool(_ASKS_MONEY.search(question)),
        )

    def type_match(self, sentence: str) -> float:
        """1 when the sentence shows the wanted answer type, 0 when it does not, 0.5 when no type is wanted."""
        if self.answer_type is None:
            return 0.5
        if self.answer_type is AnswerType.NAME:
            return float(bool(self._new_names(sentence)))
        if self.answer_type is AnswerType.TITLE:
            return float(bool(_QUOTED.search(sentence)) or any(len(run) > 1 for run in self._new_names(sentence)))
        shows = _SHOWS_SHARE if self.asks_share else _SHOWS_MONEY if self.asks_money else _SHOWS[self.answer_type]
        return float(bool(shows.search(sentence)))

    def _new_names(self, sentence: str) -> list[list[str]]:
        """Capitalised runs (not at the sentence start) that do not contain a name the question already gives."""
        question_terms = set(self.terms)
        candidates = []
        for match in NAME_RUN.finditer(sentence):
            words = match.group().split()
            if match.start() == 0:  # the first word is capitalised anyway
                words = words[1:]
            words = [w for w in words if w.lower().rstrip(".") not in _CALENDAR_WORDS]
            if words:
                candidates.append(words)
        stemmed = tokenize([" ".join(words) for words in candidates]) if candidates else []  # one call: it adds up
        pairs = zip(candidates, stemmed, strict=True)
        return [words for words, stems in pairs if stems and not set(stems) & question_terms]
