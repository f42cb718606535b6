"""qa/text.py: the tokenizer, names, slugs, sentence and paragraph spans, headings and normalisation."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qa.text import (
    HEADING_MAX_WORDS,
    MAX_SENTENCE_CHARS,
    NAME_RUN,
    QUESTION_WORDS,
    fold,
    is_heading,
    names_in,
    normalise_article_text,
    paragraph_spans,
    reads_as_sentence,
    sentence_spans,
    slug,
    terms_held,
    tokenize,
)


def spans_of(text: str, pieces: list[str]) -> list[tuple[int, int]]:
    """The (start, end) of each piece, found in order in `text`."""
    spans, pos = [], 0
    for piece in pieces:
        start = text.index(piece, pos)
        spans.append((start, start + len(piece)))
        pos = start + len(piece)
    return spans


# -- tokenize -------------------------------------------------------------------------------------------------


def test_tokenize_lower_cases_stems_and_drops_stop_words() -> None:
    assert tokenize(["The Ministers were running quickly"]) == [["minist", "run", "quick"]]


def test_tokenize_drops_question_words_as_stop_words() -> None:
    assert tokenize(["What did Truss demand?"]) == [["truss", "demand"]]


def test_tokenize_gives_inflections_one_stem() -> None:
    assert tokenize(["demanded", "demands", "Demanding"]) == [["demand"], ["demand"], ["demand"]]


def test_tokenize_keeps_one_list_per_text_even_when_empty() -> None:
    assert tokenize(["", "the of and", "Lavrov"]) == [[], [], ["lavrov"]]


def test_tokenize_gives_bm25s_tokens_for_every_shipped_text_and_question() -> None:
    """qa.text.tokenize is bm25s.tokenize without its cost per call: the same tokens, one text at a time and all
    at once, for every article and question the product ships (and text bm25s's pattern splits oddly)."""
    import bm25s
    from bm25s.stopwords import STOPWORDS_EN_PLUS
    from Stemmer import Stemmer

    repo = Path(__file__).resolve().parents[2]
    xquad, dated = repo / "eval" / "xquad_en", repo / "eval" / "dated"
    texts = [json.loads(line)["text"] for line in (xquad / "corpus.jsonl").read_text().splitlines()]
    texts += [json.loads(line)["question"] for line in (xquad / "qa.jsonl").read_text().splitlines()]
    texts += [json.loads(line)["question"] for line in (dated / "questions.jsonl").read_text().splitlines()]
    texts += [
        path.read_text() for path in [*sorted((repo / "seeds").iterdir()), *sorted((dated / "articles").iterdir())]
    ]
    texts += ["", "a I", "don't won’t U.S. e-mail", "Café naïve ÉCOLE 2022's", "Москва 北京 ΑΘΗΝΑ", "x_y __init__ 3.14"]
    expected = bm25s.tokenize(
        texts, stopwords=list(STOPWORDS_EN_PLUS), stemmer=Stemmer("english"), return_ids=False, show_progress=False
    )
    assert tokenize(texts) == expected
    assert [tokenize([text])[0] for text in texts[-300:]] == expected[-300:]


def _shipped_texts_and_questions() -> tuple[list[str], list[str]]:
    repo = Path(__file__).resolve().parents[2]
    xquad, dated = repo / "eval" / "xquad_en", repo / "eval" / "dated"
    texts = [json.loads(line)["text"] for line in (xquad / "corpus.jsonl").read_text().splitlines()]
    texts += [
        path.read_text() for path in [*sorted((repo / "seeds").iterdir()), *sorted((dated / "articles").iterdir())]
    ]
    questions = [json.loads(line)["question"] for line in (xquad / "qa.jsonl").read_text().splitlines()]
    questions += [json.loads(line)["question"] for line in (dated / "questions.jsonl").read_text().splitlines()]
    return texts, questions


def test_the_stemmer_keeps_every_shipped_words_first_letter() -> None:
    """What terms_held stands on: a word can only stem to a stem with its own first letter."""
    from Stemmer import Stemmer

    texts, questions = _shipped_texts_and_questions()
    # and, for many more English words, those of the standard library's modules (their docstrings and comments)
    texts += [
        path.read_text(encoding="utf-8", errors="replace") for path in Path(json.__file__).parents[1].glob("*.py")
    ]
    words = sorted({word for text in texts + questions for word in re.findall(r"\w\w+", text.lower())})
    stems = Stemmer("english").stemWords(words)
    assert len(words) > 25_000
    assert [(w, s) for w, s in zip(words, stems, strict=True) if not s or s[0] != w[0]] == []


def test_terms_held_are_the_tokens_a_text_holds_among_those_wanted() -> None:
    """The same sets as tokenizing every word, for every shipped question's terms and names against every
    sentence of the shipped sets (and odd text: accents, other scripts, digits, underscores, apostrophes)."""
    from qa.question import QuestionProfile

    texts, questions = _shipped_texts_and_questions()
    sentences = [text[s:e] for text in texts for s, e in sentence_spans(text)]
    sentences += ["", "don't won’t U.S. e-mail", "Café naïve ÉCOLE 2022's", "Москва 北京 ΑΘΗΝΑ", "x_y __init__ 3.14"]
    tokens = [set(t) for t in tokenize(sentences)]
    checked = 0
    for question in questions[::7]:
        profile = QuestionProfile.of(question)
        wanted = frozenset(profile.terms) | profile.names
        assert terms_held(sentences, wanted) == [t & wanted for t in tokens]
        checked += sum(bool(t & wanted) for t in tokens)
    assert checked > 1_000  # the sets compared are not all empty
    odd = frozenset({"cafe", "café", "москва", "3", "x_y", "__init__", "2022", "don", "u"})
    assert terms_held(sentences[-5:], odd) == [t & odd for t in tokens[-5:]]
    assert terms_held(["Truss demanded a ceasefire"], frozenset()) == [set()]


# -- names ----------------------------------------------------------------------------------------------------


def test_names_in_leaves_out_question_words() -> None:
    assert names_in("Who did Truss meet? And where did Lavrov go?") == ["Truss", "Lavrov"]


def test_names_in_ends_a_name_at_a_hyphen() -> None:
    assert names_in("Which Russian-linked groups attacked Britain?") == ["Russian", "Britain"]


def test_names_in_keeps_sentence_starts_by_default() -> None:
    assert names_in("Truss met Lavrov. Later Blinken came!") == ["Truss", "Lavrov", "Later", "Blinken"]


def test_names_in_can_skip_words_that_open_a_sentence() -> None:
    text = 'Truss met Lavrov. Later Blinken came! Nobody said "Stop." Officials from Kyiv left.'
    assert names_in(text, skip_sentence_starts=True) == ["Lavrov", "Blinken", "Stop", "Kyiv"]


def test_names_in_does_not_take_a_name_after_an_abbreviation_for_a_sentence_start() -> None:
    assert "Putin" in names_in("Truss met Mr. Putin in Moscow.", skip_sentence_starts=True)


def test_name_run_joins_capitalised_words_and_particles() -> None:
    text = "She met Ursula von der Leyen and the Bank of England in Russian-linked talks."
    assert [m.group() for m in NAME_RUN.finditer(text)] == ["She", "Ursula von der Leyen", "Bank of England", "Russian"]


def test_question_words_are_lower_case_glue_not_names() -> None:
    assert {"what", "who", "when", "how", "did", "and", "according"} <= QUESTION_WORDS
    assert all(word == word.lower() for word in QUESTION_WORDS)
    assert "truss" not in QUESTION_WORDS


# -- slug -----------------------------------------------------------------------------------------------------


def test_slug_turns_runs_of_other_characters_into_one_hyphen() -> None:
    assert slug("  Liz Truss: Remarks (2022)!  ") == "liz-truss-remarks-2022"


def test_slug_of_punctuation_only_is_empty() -> None:
    assert slug("--- ?! ---") == ""


def test_slug_keeps_another_scripts_letters_only_when_asked_and_only_without_latin_ones() -> None:
    assert slug("Путин и Лавров") == ""  # ASCII ids elsewhere (a file name, a download's name)
    assert slug("Путин и Лавров", any_script=True) == "путин-и-лавров"
    assert slug("普京会见拉夫罗夫", any_script=True) == "普京会见拉夫罗夫"
    assert slug("Café: Путин", any_script=True) == "cafe"  # Latin letters still make the id as before
    assert slug("--- ?! ---", any_script=True) == ""


def test_slug_is_cut_at_max_length_without_a_trailing_hyphen() -> None:
    assert slug("abc def ghi", max_length=4) == "abc"
    assert slug("abc def ghi", max_length=5) == "abc-d"


# -- sentence and paragraph spans -----------------------------------------------------------------------------


def test_sentence_spans_give_exact_offsets() -> None:
    sentences = ["Truss spoke first.", "Lavrov replied at once!", "Was that wise?"]
    text = "  " + "  ".join(sentences) + " "
    spans = sentence_spans(text)
    assert spans == spans_of(text, sentences)
    assert [text[s:e] for s, e in spans] == sentences


def test_sentence_spans_do_not_split_after_abbreviations() -> None:
    sentences = ["Leaders met, e.g. in Paris and in Rome.", "He cited No. 10 and Gen. Smith in a note.", "Done."]
    text = " ".join(sentences)
    assert [text[s:e] for s, e in sentence_spans(text)] == sentences


def test_sentence_spans_never_cross_a_line_break() -> None:
    text = "Remarks of Liz Truss\nA sentence without its stop\ncontinues here. Then ends.\n\nNew paragraph."
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == [
        "Remarks of Liz Truss",
        "A sentence without its stop",
        "continues here.",
        "Then ends.",
        "New paragraph.",
    ]
    assert all("\n" not in text[s:e] for s, e in spans)


@pytest.mark.parametrize(
    "text",
    [
        "word " * 2_000,  # no full stop at all
        "The bridge cost 12 million crowns, " * 100,  # a list of clauses run together
        "桥花了多少钱。" * 300,  # Chinese: the English splitter does not know 。
        "x" * 2_000,  # not even a space
    ],
)
def test_no_sentence_is_longer_than_the_limit_and_every_character_is_kept(text: str) -> None:
    spans = sentence_spans(text)
    assert all(end - start <= MAX_SENTENCE_CHARS for start, end in spans)
    # the pieces follow each other: only the spaces between them are left out
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))
    assert "".join("".join(text[start:end].split()) for start, end in spans) == "".join(text.split())


def test_a_long_sentence_is_cut_at_a_clause_break_when_there_is_one() -> None:
    text = "The bridge cost 12 million crowns, " * 100
    first_start, first_end = sentence_spans(text)[0]
    assert text[first_start:first_end].endswith("crowns,")


def test_sentence_spans_of_blank_text_are_empty() -> None:
    assert sentence_spans(" \n\n \t") == []


def test_paragraph_spans_split_lines_and_strip_them() -> None:
    text = "Title\n\n  Para one.\nLine two  \n \n\nPara three."
    spans = paragraph_spans(text)
    assert [text[s:e] for s, e in spans] == ["Title", "Para one.", "Line two", "Para three."]
    assert spans == [(0, 5), (9, 18), (19, 27), (33, 44)]


# -- headings and sentences -----------------------------------------------------------------------------------


@pytest.mark.parametrize("block", ["Remarks of Liz Truss", "# Background.", "  Reaction in Moscow  "])
def test_is_heading_for_short_lines_without_closing_punctuation(block: str) -> None:
    assert is_heading(block)


@pytest.mark.parametrize(
    "block",
    [
        "Truss spoke.",
        "Lavrov said:",
        'He said "no."',
        "",
        " ".join(["word"] * (HEADING_MAX_WORDS + 1)),
    ],
)
def test_is_heading_not_for_sentences_clauses_long_or_empty_lines(block: str) -> None:
    assert not is_heading(block)


@pytest.mark.parametrize(
    "text",
    ["Truss spoke.", "Did he?", "Stop!", '"We will win."', "He left (quietly).", " ".join(["w"] * 13)],
)
def test_reads_as_sentence(text: str) -> None:
    assert reads_as_sentence(text)


@pytest.mark.parametrize("text", ["Remarks of Liz Truss", "She said:", "First; second;", " ".join(["w"] * 12)])
def test_does_not_read_as_sentence(text: str) -> None:
    assert not reads_as_sentence(text)


# -- folding and normalisation --------------------------------------------------------------------------------


def test_fold_lowers_unifies_quotes_and_collapses_whitespace() -> None:
    assert fold("  Truss’s  “Big”\n\t‘Day’ ") == "truss's \"big\" 'day'"


def test_fold_applies_compatibility_normalisation() -> None:
    assert fold("ﬁnal ＡＢＣ") == "final abc"


def test_normalise_article_text_unifies_line_endings_and_blank_lines() -> None:
    raw = "  \nLine one  \r\nLine two\r\rLine three\n \n\t\n\n\nEnd  \n\n"
    assert normalise_article_text(raw) == "Line one\nLine two\n\nLine three\n\nEnd"


def test_normalise_article_text_composes_unicode() -> None:
    assert normalise_article_text("Cafe\u0301") == "Caf\u00e9"


def test_the_sentence_splitter_and_the_word_tokenizer_load_without_scipy_and_leave_it_importable() -> None:
    """nltk imports scipy.stats and scipy.sparse (most of its 0.9 s import), bm25s scipy.sparse, for parts this
    program never uses; both are loaded without scipy, in a fresh process, and a later import of scipy works."""
    code = (
        "import sys; from qa.text import sentence_spans, tokenize; "
        "spans = sentence_spans('Mr. Putin met Dr. Smith on Monday. They talked.'); "
        "words = tokenize(['Truss demanded troops withdraw']); "
        "hidden = not any(m.split('.')[0] == 'scipy' for m in sys.modules); import scipy.stats, scipy.sparse; "
        "print(spans, words, hidden, callable(scipy.stats.fisher_exact), callable(scipy.sparse.csr_matrix))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[(0, 34), (35, 47)] [['truss', 'demand', 'troop', 'withdraw']] True True True"
