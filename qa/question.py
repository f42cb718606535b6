"""What a question asks for, read without a model: its terms, the names it is about, the kind of answer it wants."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from qa.keyword import tokenize

_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_NUMBER_WORDS = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozen|hundred|thousand|million|billion"


class AnswerType(Enum):
    """The shape of answer a question asks for; each has a pattern an answering sentence shows."""

    DATE = re.compile(rf"\b(1[0-9]{{3}}|20[0-9]{{2}}|{_MONTHS}|century|centuries|decade)\b", re.IGNORECASE)
    NUMBER = re.compile(rf"(\d|\b({_NUMBER_WORDS}|percent|per cent)\b)", re.IGNORECASE)
    NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+")
    DEMAND = re.compile(
        r"\b(must|should|needs? to|has to|have to|demand\w*|urge\w*|call(?:s|ed)? (?:on|for)|insist\w*|require\w*)\b",
        re.IGNORECASE,
    )


_TYPE_CUES: list[tuple[re.Pattern[str], AnswerType]] = [
    (
        re.compile(
            r"^\s*(when|what (year|date|day|month|century|decade)|in (what|which) (year|century|decade))\b",
            re.I,
        ),
        AnswerType.DATE,
    ),
    (
        re.compile(
            r"\b(how (many|much|long|old|far|large|big|tall)|what (percentage|number|amount|proportion))\b",
            re.I,
        ),
        AnswerType.NUMBER,
    ),
    (
        re.compile(
            r"^\s*(who|whom|whose|where)\b|\b(which|what) (person|company|country|city|team|organi[sz]ation)\b",
            re.I,
        ),
        AnswerType.NAME,
    ),
    (
        re.compile(
            r"\b(demand\w*|want\w*|urge\w*|call(?:s|ed)? (for|on)|insist\w*|ask(?:s|ed)? (for|that)|expect\w*)\b",
            re.I,
        ),
        AnswerType.DEMAND,
    ),
]
_QUESTION_WORDS = {
    "what",
    "who",
    "whom",
    "whose",
    "when",
    "where",
    "which",
    "why",
    "how",
    "did",
    "does",
    "do",
    "is",
    "are",
    "was",
    "were",
    "and",
    "the",
    "a",
    "an",
    "in",
    "of",
}


@dataclass(frozen=True)
class QuestionProfile:
    """A question's stemmed terms, the stemmed names it mentions, and the answer type it wants."""

    terms: list[str]
    names: set[str]
    answer_type: AnswerType | None

    @classmethod
    def of(cls, question: str) -> QuestionProfile:
        """Read a question."""
        (terms,) = tokenize([question])
        capitalised = [w for w in re.findall(r"\b[A-Z][\w’'-]+", question) if w.lower() not in _QUESTION_WORDS]
        names = set(tokenize([" ".join(capitalised)])[0]) if capitalised else set()
        answer_type = next((kind for cue, kind in _TYPE_CUES if cue.search(question)), None)
        return cls(terms=terms, names=names, answer_type=answer_type)

    def type_match(self, sentence: str) -> float:
        """1 when the sentence shows the wanted answer type, 0 when it does not, 0.5 when no type is wanted."""
        if self.answer_type is None:
            return 0.5
        pattern: re.Pattern[str] = self.answer_type.value
        if self.answer_type is AnswerType.NAME:
            question_terms = set(self.terms)
            return float(any(set(tokenize([m])[0]) - question_terms for m in pattern.findall(sentence)))
        return float(bool(pattern.search(sentence)))
