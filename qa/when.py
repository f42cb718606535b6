"""The time a question is about, read against a reference time (`as_of`): a date window, and whether it asks
for the current state of things.

"What did the bank decide last month?" asked on 14 Nov 2025 is about 1-31 Oct 2025; "Who is the chief executive?"
wants the newest report. Rule-based on purpose: the expressions news readers use are few, and a rule says exactly
what window it chose (the answer shows it), where a statistical date tagger would guess. Absolute dates inside an
expression ("since 3 March 2025") are parsed by dateutil.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from dateutil import parser as date_parser

_MONTHS = [
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
]  # fmt: skip
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DAY_MONTH = rf"(?:\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}|{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?)"
_DATE = rf"(?:{_DAY_MONTH}(?:,?\s+\d{{4}})?|{_MONTH}\.?(?:\s+\d{{4}})?|\d{{4}}-\d{{2}}-\d{{2}})"
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "eight": 8, "nine": 9, "ten": 10, "a couple of": 2, "a few": 3, "couple of": 2, "few": 3}  # fmt: skip
_UNITS = "day|week|month|year"
_COUNT = r"\d+|a couple of|a few|couple of|few|an?|one|two|three|four|five|six|seven|eight|nine|ten"

# Questions about the state of things now: the newest report answers them.
_CURRENT = re.compile(
    r"\b(current(ly)?|latest|newest|most recent|now|nowadays|still|so far|to date|at present|presently|as of"
    r"|these days|remains?|anymore|any more|yet)\b"
    r"|^\s*(who|what|which|where|how \w+)\s+(is|are|'s)\b|^\s*(is|are|does|do|has|have)\b"
    r"|^\s*how (many|much)\b.*\b(has|have)\b",
    re.I,
)

# Questions about a state ("Who was in charge", "What was the death toll"), not an event ("Who was appointed"):
# "on 1 March" in them means "as things stood then".
_STATE = re.compile(
    r"^\s*(who|what|which|where)\s+(was|were|is|are)\s+(the|a|an|in|at|its|their|his|her)\b"
    r"|^\s*how (many|much)\b.*\b(had|has|have)\b",
    re.I,
)

# Questions about how something developed: a timeline answers them better than one sentence.
_DEVELOPMENT = re.compile(
    r"\b(timeline|chronolog\w*|over time|sequence of events|step by step)\b"
    r"|\bhow (did|has|have)\b.*\b(develop(ed|ing)?|unfold(ed)?|evolve[ds]?|chang(e|ed)|progress(ed)?|escalat\w+)\b"
    r"|\bwhat (has )?happened (since|so far|over|with|to)\b",
    re.I,
)


def asks_how_it_developed(question: str) -> bool:
    """Whether the question asks how something developed ("How did the death toll change?")."""
    return bool(_DEVELOPMENT.search(question))


@dataclass(frozen=True)
class TimeReading:
    """What a question says about time. `since`/`until` bound the articles that may answer (until: before);
    `phrase` is the expression they were read from; `latest` says the newest evidence should lead."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    phrase: str | None = None
    latest: bool = False
    query: str = ""  # the question with the relative expression taken out, for retrieval

    @property
    def has_window(self) -> bool:
        """Whether the question limits the articles to a span of time."""
        return self.since is not None or self.until is not None


def read_time(question: str, as_of: dt.datetime) -> TimeReading:
    """The window and recency preference of `question` asked at `as_of` (timezone-aware)."""
    for pattern, window in _RULES:
        found = pattern.search(question)
        if found is None:
            continue
        bounds = window(found, as_of)
        if bounds is None:
            continue
        query = _without(question, found)
        if window is _as_at or (window is _on and _STATE.search(query)):
            # "Who was in charge on 1 March?" (or "as of 1 March") asks for the state of things then: the newest
            # report by the end of that day, not a report published on it
            return TimeReading(None, bounds[1], found.group(0).strip(), True, query)
        # a question bound to a past window asks what was, not what is; one bound to "this week" or "since
        # March" still reaches to now and may ask for the latest
        reaches_now = bounds[1] is None or bounds[1] >= as_of
        latest = reaches_now and bool(_CURRENT.search(query))
        return TimeReading(bounds[0], bounds[1], found.group(0).strip(), latest, query)
    return TimeReading(latest=bool(_CURRENT.search(question)), query=question)


def _without(question: str, found: re.Match[str]) -> str:
    left, right = question[: found.start()].rstrip(), question[found.end() :].lstrip()
    joined = f"{left} {right}".strip() if right and right[0] not in "?.!," else f"{left}{right}"
    return joined or question


# -- windows --------------------------------------------------------------------------------------------------

Bounds = tuple[dt.datetime | None, dt.datetime | None]


def _day(moment: dt.datetime) -> dt.datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _month_start(year: int, month: int, tz: dt.tzinfo | None) -> dt.datetime:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return dt.datetime(year, month, 1, tzinfo=tz)


def _end(as_of: dt.datetime) -> dt.datetime:
    """Just after `as_of`: windows that reach "now" include articles published at that very second."""
    return as_of + dt.timedelta(seconds=1)


def _count(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBER_WORDS[word.lower()]


def _shift(as_of: dt.datetime, unit: str, count: int) -> dt.datetime:
    """`as_of` moved back `count` units (months and years by the calendar)."""
    unit = unit.lower().rstrip("s")
    if unit == "day":
        return as_of - dt.timedelta(days=count)
    if unit == "week":
        return as_of - dt.timedelta(weeks=count)
    months = count * (12 if unit == "year" else 1)
    start = _month_start(as_of.year, as_of.month - months, as_of.tzinfo)
    return as_of.replace(year=start.year, month=start.month, day=min(as_of.day, 28))


def _parse_date(text: str, as_of: dt.datetime) -> tuple[dt.datetime, str] | None:
    """A date named in a question, and its precision ('day', 'month' or 'year'); a month or day without a year is
    the latest one not after `as_of`."""
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text.strip().rstrip("."), flags=re.I)
    has_year = bool(re.search(r"\b\d{4}\b", text))
    has_day = bool(re.search(r"\b\d{1,2}\b(?!\d)", re.sub(r"\b\d{4}\b", "", text))) or bool(
        re.match(r"\d{4}-\d{2}-\d{2}$", text)
    )
    month_only = not has_day and re.search(_MONTH, text, re.I) is not None
    if not has_day and not month_only:
        return None
    default = as_of.replace(day=1, hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    try:
        parsed = date_parser.parse(text, default=default)
    except (ValueError, OverflowError):
        return None
    moment = parsed.replace(tzinfo=as_of.tzinfo)
    if not has_year and moment > as_of:  # "in March" asked in February means last year's March
        moment = moment.replace(year=moment.year - 1)
    return moment, ("day" if has_day else "month")


def _span(moment: dt.datetime, precision: str) -> Bounds:
    start = _day(moment)
    if precision == "day":
        return start, start + dt.timedelta(days=1)
    return start.replace(day=1), _month_start(start.year, start.month + 1, start.tzinfo)


def _today(_: re.Match[str], as_of: dt.datetime) -> Bounds:
    return _day(as_of), _end(as_of)


def _yesterday(_: re.Match[str], as_of: dt.datetime) -> Bounds:
    return _day(as_of) - dt.timedelta(days=1), _day(as_of)


def _this(found: re.Match[str], as_of: dt.datetime) -> Bounds:
    unit = found.group("unit").lower()
    if unit == "week":  # the past seven days: on a Monday, "this week" still means the days just gone
        return _day(as_of) - dt.timedelta(days=6), _end(as_of)
    if unit == "month":
        return _month_start(as_of.year, as_of.month, as_of.tzinfo), _end(as_of)
    return dt.datetime(as_of.year, 1, 1, tzinfo=as_of.tzinfo), _end(as_of)


def _last(found: re.Match[str], as_of: dt.datetime) -> Bounds:
    unit = found.group("unit").lower()
    if unit == "week":  # the calendar week before this one
        monday = _day(as_of) - dt.timedelta(days=as_of.weekday())
        return monday - dt.timedelta(days=7), monday
    if unit == "month":
        this_month = _month_start(as_of.year, as_of.month, as_of.tzinfo)
        return _month_start(as_of.year, as_of.month - 1, as_of.tzinfo), this_month
    return dt.datetime(as_of.year - 1, 1, 1, tzinfo=as_of.tzinfo), dt.datetime(as_of.year, 1, 1, tzinfo=as_of.tzinfo)


def _past(found: re.Match[str], as_of: dt.datetime) -> Bounds:
    count = _count(found.group("count") or "1")
    return _day(_shift(as_of, found.group("unit"), count)), _end(as_of)


def _ago(found: re.Match[str], as_of: dt.datetime) -> Bounds:
    count, unit = _count(found.group("count")), found.group("unit").lower().rstrip("s")
    moment = _shift(as_of, unit, count)
    if unit == "day":
        return _day(moment), _day(moment) + dt.timedelta(days=1)
    if unit == "week":  # that week, give or take a few days
        return _day(moment) - dt.timedelta(days=3), _day(moment) + dt.timedelta(days=4)
    if unit == "month":
        return _span(moment, "month")
    return dt.datetime(moment.year, 1, 1, tzinfo=as_of.tzinfo), dt.datetime(moment.year + 1, 1, 1, tzinfo=as_of.tzinfo)


def _since(found: re.Match[str], as_of: dt.datetime) -> Bounds | None:
    parsed = _parse_date(found.group("date"), as_of)
    return (_day(parsed[0]), _end(as_of)) if parsed else None


def _before(found: re.Match[str], as_of: dt.datetime) -> Bounds | None:
    parsed = _parse_date(found.group("date"), as_of)
    return (None, _span(*parsed)[0]) if parsed else None


def _on(found: re.Match[str], as_of: dt.datetime) -> Bounds | None:
    parsed = _parse_date(found.group("date"), as_of)
    return _span(*parsed) if parsed else None


def _as_at(found: re.Match[str], as_of: dt.datetime) -> Bounds | None:
    """ "as of 1 March": the day itself; read_time takes it as the state of things by its end."""
    return _on(found, as_of)


def _rule(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-])(?:{pattern})(?![\w-])", re.I)


_RULES = [
    (_rule(r"today|this morning|tonight|this evening|this afternoon"), _today),
    (_rule(r"yesterday|last night"), _yesterday),
    (_rule(rf"(?P<count>{_COUNT})\s+(?P<unit>{_UNITS})s?\s+ago"), _ago),
    (_rule(rf"(?:in|over|during)\s+the\s+(?:past|last)\s+(?:(?P<count>{_COUNT})\s+)?(?P<unit>{_UNITS})s?"), _past),
    (_rule(r"(?:this|the current)\s+(?P<unit>week|month|year)"), _this),
    (_rule(r"last\s+(?P<unit>week|month|year)"), _last),
    (_rule(rf"since\s+(?:the\s+)?(?:start\s+of\s+|beginning\s+of\s+)?(?P<date>{_DATE})"), _since),
    (_rule(rf"(?:before|until|prior\s+to)\s+(?P<date>{_DATE})"), _before),
    (_rule(rf"as\s+of\s+(?P<date>{_DATE})"), _as_at),
    # "the poll of 28 March 2025" names the day as "on" does
    (_rule(rf"(?:on|in|during|throughout|of)\s+(?:early\s+|late\s+|mid-?)?(?P<date>{_DATE})"), _on),
]  # fmt: skip
