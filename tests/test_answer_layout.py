"""How a model's Markdown layout is kept when some of its sentences are left out (qa.generative.laid_out)."""

from __future__ import annotations

from qa.generative import laid_out, split_claims

REPLY = (
    "Two demands were made:\n\n"
    "1. Russia must respect Ukraine [1].\n"
    "2. A ban on gas [2].\n"
    "3. Troops must withdraw [1].\n\n"
    "An invented paragraph [3].\n\n"
    "> - A quoted item [1]."
)


def keep_all_but(*left_out: str) -> str:
    claims = split_claims(REPLY)
    return laid_out(REPLY, claims, [None if c.text in left_out else c.text for c in claims])


def test_a_numbered_marker_is_layout_not_a_sentence() -> None:
    texts = [c.text for c in split_claims(REPLY)]
    assert texts == [
        "Two demands were made:",
        "Russia must respect Ukraine.",
        "A ban on gas.",
        "Troops must withdraw.",
        "An invented paragraph.",
        "A quoted item.",
    ]


def test_an_emptied_list_item_and_paragraph_go_without_a_gap() -> None:
    assert keep_all_but("Two demands were made:", "A ban on gas.", "An invented paragraph.") == (
        "1. Russia must respect Ukraine.\n3. Troops must withdraw.\n\n> - A quoted item."
    )
