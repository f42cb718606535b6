"""Posts and who holds them: "Who is the mayor of Lisburg?" is answered by the sentence naming the mayor, not by
one telling of a mayor who resigned or of a candidate in the race for mayor.

Rules, not a model: the question's post is read from its words ("the mayor of Lisburg" asks for a mayor), and a
sentence names a holder when a capitalised name stands in the post ("Mayor Arnold Fenwick", "Helena Voss was
sworn in as mayor", "Ilse Marwood, the governor").
"""

from __future__ import annotations

import re

from qa.text import MONTHS, NAME_RUN

# A question about who holds a post or leads something: "Who is the mayor of Lisburg?", "Who is in charge of the
# club?", "Who runs Norvale Energy now?", or who held it on a date ("Who was in charge on 1 March 2025?"). A
# sentence telling of someone leaving the post does not answer it. "Who was the first director?" without a date
# asks about history, where leaving a post says nothing against the answer.
_HOLDER = re.compile(
    r"^\s*who\s+(?:(?P<past>was|were)|is|are|'s)\s+(?:now\s+|currently\s+|still\s+)?"
    r"(?:the|in charge|at the head|heading|leading|running)\b"
    r"|^\s*who\s+(?:now\s+|currently\s+)?(?:leads|runs|heads|manages|chairs|governs|coaches)\b",
    re.I,
)
_ON_A_DATE = re.compile(rf"\b(?:{'|'.join(MONTHS)})\b|\b\d{{4}}\b", re.I)
# Telling of someone leaving a post, or of a post held until then: "Voss resigned as mayor", "Rovers sacked manager
# Gavin Prost", "Prost had been in charge since 2023". Not the words that mean something else as often: "sacks"
# (a football statistic), "fired" (a shot), "dismissed" (a claim), "former" (lists name former office-holders as
# who they are: "former President José María Figueres").
LEAVES_POST = re.compile(
    r"\b(?:resign(?:s|ed|ing)?|sacked|sacking|ousted|quit(?:s)?|retire[sd]?|step(?:s|ped|ping)? down"
    r"|left (?:office|the (?:club|company|post|job|role|board))|had been"
    r"|(?:was|were|been|being) (?:fired|dismissed|removed|replaced|impeached|forced out))\b",
    re.I,
)


def asks_who_holds_a_post(question: str, dated: bool = False) -> bool:
    """Whether the question asks who holds (or held on a date) a post, and not who left it. `dated`: the
    question's date was read as its time window and taken out of its text."""
    found = _HOLDER.search(question)
    if found is None or LEAVES_POST.search(question):
        return False
    return not found.group("past") or dated or bool(_ON_A_DATE.search(question))


# "Who is the chief executive of Norvale Energy?" -> "chief executive"; "Who is the UK Foreign Secretary?" ->
# "UK Foreign Secretary". At most four words: a longer phrase is a description, not a post.
_POST = re.compile(
    r"^\s*who\s+(?:is|are|'s|was|were)\s+(?:now\s+|currently\s+|still\s+)?the\s+"
    r"(?P<post>[\w-]+(?:\s+[\w-]+){0,3}?)\s*(?:\b(?:of|at|for|in|on)\b|\?|$)",
    re.I,
)
_STARTS_POST = r"(?:acting|interim|caretaker|new|permanent|deputy|the|its|their)\s+"
# the post of a question that asks who holds one without naming it: "Who is in charge of the club?", "Who runs
# Norvale Energy?"
ANY_POST = "*"
# The posts a sentence can name someone in when the question names none
_POSTS = (
    "manager|coach|head coach|caretaker manager|chief executive|chief executive officer|ceo|chairman|chairwoman"
    "|chair|president|leader|head|boss|director|director general|mayor|governor|prime minister|chancellor"
    "|secretary general|editor|captain|commander|principal"
)


def post_named(question: str) -> str:
    """The post named by a question already known to ask who holds one (asks_who_holds_a_post): "mayor",
    "chief executive", or ANY_POST when it asks who is in charge without naming one."""
    found = _POST.search(question)
    return found.group("post").lower() if found is not None else ANY_POST


def names_holder(text: str, post: str) -> bool:
    """Whether the text names someone in the post: "Mayor Arnold Fenwick", "Chief executive Tomas Brekke",
    "Voss was sworn in as mayor", "Renn became acting mayor", "appointed Stefan Aaltonen as manager",
    "Ilse Marwood, the governor"; for ANY_POST also "Reyes will take charge" and "under Stefan Aaltonen". A post
    named without anyone in it ("the race for mayor") is not."""
    role = _POSTS if post == ANY_POST else r"\s+".join(re.escape(word) for word in post.split())
    name = NAME_RUN.pattern
    patterns: tuple[str, ...] = (
        rf"(?i:\b(?:{role}))\s+{name}",  # the post as a title before the name
        # "Voss was sworn in as mayor", "Renn became acting mayor"
        rf"{name}(?:\s+\w+){{0,4}}?\s+(?i:as|became|becomes|named|appointed|elected)\s+"
        rf"(?i:{_STARTS_POST})*(?i:(?:{role}))\b",
        rf"{name},\s+(?i:{_STARTS_POST})*(?i:(?:{role}))\b",  # the post in apposition
        rf"(?i:appointed|named|elected)\s+{name}\s+(?i:as)\s+(?i:{_STARTS_POST})*(?i:(?:{role}))\b",
    )
    if post == ANY_POST:  # who is in charge, told without a post's name
        patterns += (
            rf"{name}(?:,[^,]{{1,40}},)?\s+(?i:will take|took|takes|has taken|is in|was in) charge\b",
            rf"(?i:\bunder)\s+{name}",  # "19 points from 11 games under Stefan Aaltonen"
        )
    return any(re.search(pattern, text) for pattern in patterns)
