"""qa/conversation.py: offline follow-up resolution, OpenAI-style message histories and the SQLite session store."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.conversation import CarryOverResolver, SessionStore, history_from_messages
from qa.domain import Turn
from qa.errors import UNKNOWN_SESSION, InvalidInput, NotFound

TRUSS = [Turn(role="user", content="What did Truss demand?"), Turn(role="assistant", content="A ceasefire [1].")]


def resolve(history: list[Turn], message: str) -> str:
    return CarryOverResolver().resolve(history, message)


# -- follow-ups -----------------------------------------------------------------------------------------------


def test_what_about_puts_the_new_subject_in_the_previous_question() -> None:
    assert resolve(TRUSS, "What about Lavrov?") == "What did Lavrov demand?"


def test_and_how_about_also_swaps_the_subject() -> None:
    assert resolve(TRUSS, "And how about the Kremlin") == "What did the Kremlin demand?"


def test_a_pronoun_question_without_a_name_gets_the_previous_names() -> None:
    assert resolve(TRUSS, "Why did she say that?") == "Why did she say that? (Truss)"


def test_a_leading_and_is_stripped_and_the_question_recapitalised() -> None:
    assert resolve(TRUSS, "  and what did she demand next?") == "What did she demand next? (Truss)"


def test_previous_names_are_carried_once_each() -> None:
    history = [Turn(role="user", content="Did Truss meet Lavrov, and did Truss warn Lavrov?")]
    assert resolve(history, "What did they agree?") == "What did they agree? (Truss Lavrov)"


def test_a_question_naming_its_own_subject_stands() -> None:
    assert resolve(TRUSS, "And how did Lavrov respond?") == "And how did Lavrov respond?"


def test_a_question_without_pronoun_or_conjunction_stands() -> None:
    assert resolve(TRUSS, "How many troops crossed the border?") == "How many troops crossed the border?"


def test_a_lower_case_question_without_pronoun_or_conjunction_stands() -> None:
    assert resolve(TRUSS, "how many troops crossed the border?") == "how many troops crossed the border?"


def test_without_history_the_message_is_only_stripped() -> None:
    assert resolve([], "  What did she demand? ") == "What did she demand?"


def test_without_a_previous_user_turn_the_message_stands() -> None:
    assert resolve([Turn(role="assistant", content="Hello Truss.")], "What did she say?") == "What did she say?"


def test_the_previous_question_is_read_as_retrieval_saw_it() -> None:
    history = [Turn(role="user", content="And what did she say?", query="And what did Truss say?")]
    assert resolve(history, "What about Lavrov?") == "And what did Lavrov say?"


def test_the_latest_user_turn_is_the_previous_question() -> None:
    history = [*TRUSS, Turn(role="user", content="What did Blinken want?"), Turn(role="assistant", content="Talks.")]
    assert resolve(history, "Why did he want it?") == "Why did he want it? (Blinken)"


def test_a_pronoun_question_about_a_topic_still_gets_the_previous_subject() -> None:
    assert "Truss" in resolve(TRUSS, "And what did she say about NATO?")


def test_what_about_keeps_the_words_between_two_previous_names() -> None:
    history = [Turn(role="user", content="What did Truss tell Lavrov?")]
    assert "tell" in resolve(history, "What about Blinken?")


def test_what_about_keeps_an_opening_auxiliary_verb() -> None:
    history = [Turn(role="user", content="Will Truss resign?")]
    assert resolve(history, "What about Blinken?") == "Will Blinken resign?"


# -- OpenAI-style messages ------------------------------------------------------------------------------------


def test_history_from_messages_drops_system_messages_and_splits_off_the_question() -> None:
    messages = [
        ("system", "Be brief."),
        ("user", "What did Truss demand?"),
        ("assistant", "A ceasefire."),
        ("system", "Still brief."),
        ("user", "What about Lavrov?"),
    ]
    history, question = history_from_messages(messages)
    assert [(t.role, t.content) for t in history] == [("user", "What did Truss demand?"), ("assistant", "A ceasefire.")]
    assert question == "What about Lavrov?"


def test_a_single_user_message_has_no_history() -> None:
    assert history_from_messages([("user", "Hi?")]) == ([], "Hi?")


def test_a_trailing_system_message_is_dropped_before_the_check() -> None:
    assert history_from_messages([("user", "Q?"), ("system", "Rules.")]) == ([], "Q?")


@pytest.mark.parametrize(
    "messages",
    [[], [("system", "Be brief.")], [("user", "Q?"), ("assistant", "A.")], [("assistant", "Hello.")]],
)
def test_the_last_message_must_come_from_the_user(messages: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidInput) as caught:
        history_from_messages(messages)
    assert caught.value.code == "invalid_input"


# -- sessions -------------------------------------------------------------------------------------------------


@pytest.fixture
def sessions(tmp_path: Path):
    store = SessionStore(tmp_path / "nested" / "sessions.sqlite3")
    yield store
    store.close()


def test_a_new_session_is_empty(sessions: SessionStore) -> None:
    assert sessions.history(sessions.create()) == []


def test_sessions_have_distinct_ids(sessions: SessionStore) -> None:
    assert sessions.create() != sessions.create()


def test_appended_turns_come_back_oldest_first(sessions: SessionStore) -> None:
    session = sessions.create()
    other = sessions.create()
    sessions.append(session, TRUSS)
    sessions.append(other, [Turn(role="user", content="Elsewhere?")])
    sessions.append(session, [Turn(role="user", content="What about Lavrov?", query="What did Lavrov demand?")])
    turns = sessions.history(session)
    assert [(t.role, t.content) for t in turns] == [
        ("user", "What did Truss demand?"),
        ("assistant", "A ceasefire [1]."),
        ("user", "What about Lavrov?"),
    ]
    assert turns[2].query == "What did Lavrov demand?"
    assert turns == [*TRUSS, turns[2]]
    assert [t.content for t in sessions.history(other)] == ["Elsewhere?"]


def test_sessions_survive_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    first = SessionStore(path)
    session = first.create()
    first.append(session, TRUSS)
    first.close()
    again = SessionStore(path)
    try:
        assert again.history(session) == TRUSS
    finally:
        again.close()


def test_an_unknown_session_is_not_found(sessions: SessionStore) -> None:
    with pytest.raises(NotFound) as caught:
        sessions.history("no-such-session")
    assert caught.value.code == UNKNOWN_SESSION
    assert "no-such-session" in str(caught.value)


# -- the conversation list ---------------------------------------------------------------------------------------


def test_a_session_database_from_before_names_is_migrated(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "sessions.sqlite3"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY, created_at TEXT NOT NULL)")
    old.execute("CREATE TABLE turns (session_id TEXT NOT NULL, position INTEGER NOT NULL, turn TEXT NOT NULL)")
    old.execute("INSERT INTO sessions VALUES ('old', '2025-01-01T00:00:00+00:00')")
    old.execute("INSERT INTO turns VALUES ('old', 0, ?)", (TRUSS[0].model_dump_json(),))
    old.commit()
    old.close()
    store = SessionStore(path)
    assert [c.title for c in store.conversations(10)] == ["What did Truss demand?"]
    store.rename("old", "Truss")
    assert store.info("old").title == "Truss"
    assert store.create()  # a new session still goes in beside the migrated one
    store.close()


def test_a_long_first_question_is_cut_at_a_word_for_the_title(sessions: SessionStore) -> None:
    session = sessions.create()
    question = "What did " + "the foreign secretary say " * 10 + "?"
    sessions.append(session, [Turn(role="user", content=question)])
    (listed,) = sessions.conversations(10)
    assert listed.title.endswith("…")
    assert len(listed.title) <= 81
    assert question.startswith(listed.title[:-1])


def test_an_empty_session_is_not_listed_and_deleting_it_twice_is_not_found(sessions: SessionStore) -> None:
    session = sessions.create()
    assert sessions.conversations(10) == []
    sessions.delete(session)
    with pytest.raises(NotFound):
        sessions.delete(session)


def test_conversations_are_listed_by_their_latest_turn_even_within_a_second(sessions: SessionStore) -> None:
    # turn times are to the second: the order must not rest on them
    first, second = sessions.create(), sessions.create()
    sessions.append(first, TRUSS)
    sessions.append(second, TRUSS)
    assert [c.session_id for c in sessions.conversations(10)] == [second, first]
    sessions.append(first, TRUSS)
    assert [c.session_id for c in sessions.conversations(10)] == [first, second]
    assert sessions.conversations(10)[0].questions == 2
