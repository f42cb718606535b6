"""Settled or still open: a question about how something ended is not answered by a report that it has not.

"Who won the mayoral election?" asked before the vote finds "Voss leads the race for mayor"; "What was the final
death toll?" asked while rescuers search finds "the toll rose to 12"; "Who is the permanent chief executive?"
finds "Sorvik was named interim chief executive"; "Whom did Rovers appoint as permanent manager?" finds "Rovers
sacked manager Gavin Prost". Each sentence is about the right story and scores well, yet none tells the outcome
asked for: the articles do not say yet. Rules, not a model: the question asks for a settled outcome by its words
("won", "final", "permanent"), and an answer whose every sentence reports the matter as open ("leads",
"interim", "rose to", "so far", someone leaving a post) and none as settled ("won", "elected", "final") does not
answer it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from qa.posts import LEAVES_POST

# Asks how something ended. Not "confirmed" or "official": "confirmed deaths" are a count so far.
ASKS_SETTLED = re.compile(
    r"\b(?:won|win|wins|winner|final|finally|permanent(?:ly)?|eventual(?:ly)?|ultimately)\b", re.I
)
# Tells of the matter as still open: a race, a poll, a stand-in, a count still rising, a plan.
STILL_OPEN = re.compile(
    r"\b(?:leads?|leading|ahead of|polls?|race|candidates?|interim|acting|caretaker|provisional|preliminary"
    r"|temporary|temporarily|so far|rose to|risen to|climbed to|has reached|at least|expected to|will|plans? to"
    r"|set to)\b",
    re.I,
)
# Tells of an outcome: any of these and the sentence may answer.
SETTLED = re.compile(
    r"\b(?:won|wins|winner|elected|victory|beat|defeated|final|finally|permanent(?:ly)?|confirmed|officially"
    r"|ended|named|appointed)\b",
    re.I,
)


def reports_only_open(question: str, sentences: Iterable[str]) -> bool:
    """Whether the question asks how something ended and every sentence reports it as still open."""
    if not ASKS_SETTLED.search(question):
        return False
    texts = list(sentences)
    # a post someone left, with no one named in it, is open too: "Rovers sacked manager Gavin Prost" does not
    # say whom they appointed
    return bool(texts) and all((STILL_OPEN.search(t) or LEAVES_POST.search(t)) and not SETTLED.search(t) for t in texts)
