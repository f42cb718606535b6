"""Datelines: the place and date a news report opens with ("LONDON, Oct. 20, 2022 (Reuters) -").

The indexer dates an article by its dateline when nothing else dates it (indexer.dates); the answerer quotes it
when a question asks for the report's own date ("What is the dateline of this report?").
"""

from __future__ import annotations

import re

MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_WEEKDAY = r"(?:(?:Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)[a-z]*\.?,?\s+)?"
_DATE = rf"(?:\d{{4}}-\d{{2}}-\d{{2}}|{MONTH}\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}\s+{MONTH},?\s+\d{{4}})"
# Where a dateline's date is: at the very start, after an optional upper-case place ("LONDON,") and weekday,
# and followed by what ends a dateline (an agency in brackets, a dash, a colon, a full stop or the line's end).
DATELINE = re.compile(
    rf"^\s*(?:[A-Z][A-Za-z .'’-]{{1,40}},\s*)?{_WEEKDAY}(?P<date>{_DATE})"
    rf"(?:\s*\([^)\n]{{1,40}}\))?\s*(?:[-–—:|.]|\n|$)"
)
# The same without a year ("LISBURG, March 3 (Pennant Sports) -"): its year must come from elsewhere.
PARTIAL_DATELINE = re.compile(
    rf"^\s*(?:[A-Z][A-Za-z .'’-]{{1,40}},\s*)?{_WEEKDAY}(?P<date>{MONTH}\s+\d{{1,2}}|\d{{1,2}}\s+{MONTH})"
    rf"(?:\s*\([^)\n]{{1,40}}\))?\s*(?:[-–—:|]|\n|$)"
)


# A place and an agency without a date ("AMBERY (Gazette Three) -"): a byline, not part of what the report says.
_CREDIT_LINE = re.compile(r"^\s*[A-Z][A-Z .'’-]{1,40}\s*\([A-Z][^)\n]{0,39}\)\s*[-–—:]")


def dateline_length(text: str) -> int:
    """How many characters the text's opening dateline (or place-and-agency credit) takes, with the dash or colon
    after it; 0 when it opens with none."""
    head = text[:200]
    found = DATELINE.match(head) or PARTIAL_DATELINE.match(head) or _CREDIT_LINE.match(head)
    return found.end() if found else 0


def opens_with_dateline(text: str) -> bool:
    """Whether the text opens with a dateline, with or without its year."""
    head = text[:200]
    return bool(DATELINE.match(head) or PARTIAL_DATELINE.match(head))
