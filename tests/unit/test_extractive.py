"""qa/extractive.py: sentence scores, choice, continuations, support, abstention and cited composition."""

from __future__ import annotations

import re

import numpy as np
import pytest

from qa.answering import ABSTAIN_TEXT, ABSTAIN_TEXT_NOTHING_READ, AnswerResult
from qa.chunking import chunk_id
from qa.evidence import QuestionEvidence, SentenceEvidence
from qa.extractive import (
    CONTINUATION_SHARE,
    SECOND_SENTENCE_SHARE,
    W_DENSE,
    W_LEXICAL,
    W_NAMES,
    W_PASSAGE,
    W_TYPE,
    WORD_BUDGET,
    ExtractiveAnswerer,
    ScoredSentence,
    leans_on_before,
)
from qa.retrieval import Hit
from qa.store import StoredChunk
from tests.unit.builders import passage_of

DEMAND = "What did Truss demand?"  # wants a demand: a non-strict type

# One article; its first paragraph belongs to no chunk used here, so chunk offsets are not zero.
C0 = ["Truss demanded a ceasefire.", "She said Russia must withdraw.", "Talks continue."]
C1 = ["Lavrov refused.", "He said troops stay."]
ARTICLE = "Kyiv, 10 February. Opening words of the report.\n\n" + " ".join(C0) + "\n\n" + " ".join(C1) + "\n\nEnd."


def make_chunk(article: str, sentences: list[str], article_id: str = "a1", position: int = 0) -> StoredChunk:
    """The chunk of `article` made of these consecutive sentences, with article offsets."""
    spans, pos = [], 0
    for sentence in sentences:
        at = article.index(sentence, pos)
        spans.append((at, at + len(sentence)))
        pos = at + len(sentence)
    start, end = spans[0][0], spans[-1][1]
    return StoredChunk(
        id=chunk_id(article_id, position),
        article_id=article_id,
        position=position,
        text=article[start:end],
        start=start,
        end=end,
        content_hash="h",
        sentences=spans,
        sentence_vectors=np.zeros((len(sentences), 4), dtype=np.float32),
    )


def make_hit(
    chunk: StoredChunk,
    score: float,
    dense: list[float],
    lexical: list[float],
    coverage: float = 1.0,
    names: float = 1.0,
) -> Hit:
    texts = [chunk.text[s - chunk.start : e - chunk.start] for s, e in chunk.sentences]
    evidence = SentenceEvidence(
        texts, np.array(dense, dtype=np.float32), np.array(lexical, dtype=np.float32), coverage, names
    )
    return Hit(chunk, score, cosine=score, keyword=0.0, evidence=evidence)


def question(text: str) -> QuestionEvidence:
    return QuestionEvidence(text, np.zeros(4, dtype=np.float32), lambda term: 1.0)


def expected_score(dense: float, lexical: float, type_match: float, passage: float, names: float = 1.0) -> float:
    """A sentence's score by the module's definition (`passage` is the hit's score over the best hit's)."""
    return (W_DENSE * dense + W_LEXICAL * lexical + W_TYPE * type_match + W_PASSAGE * passage) * (
        1 - W_NAMES + W_NAMES * names
    )


def scored(chunk: StoredChunk, index: int, score: float, rank: int = 0) -> ScoredSentence:
    start, end = chunk.sentences[index]
    return ScoredSentence(chunk, rank, index, start, end, chunk.text[start - chunk.start : end - chunk.start], score)


def single(text: str, article_id: str) -> StoredChunk:
    """A one-sentence chunk of its own article (no neighbours, so no continuations)."""
    return make_chunk(text, [text], article_id=article_id)


# -- score_sentences ------------------------------------------------------------------------------------------


def test_sentences_are_scored_by_the_weighted_evidence_and_ranked() -> None:
    heading_article = "Remarks of Liz Truss\nTruss resigned after the vote. She left quietly.\nLavrov resigned too."
    first = make_chunk(heading_article, ["Remarks of Liz Truss", "Truss resigned after the vote.", "She left quietly."])
    second = make_chunk(heading_article, ["Lavrov resigned too."], position=1)
    hits = [
        make_hit(first, 0.8, dense=[0.9, 0.5, 0.3], lexical=[1.0, 0.5, 0.0]),
        make_hit(second, 0.4, dense=[0.6], lexical=[0.5], names=0.5),
    ]
    ranked = ExtractiveAnswerer(0.5, 3).score_sentences(question("Why did Truss resign?"), hits)  # no type: 0.5
    # The heading is left out though its evidence is the best: it does not read as a sentence.
    assert [(s.chunk.id, s.index, s.passage_rank) for s in ranked] == [
        ("a1::0", 1, 0),
        ("a1::1", 0, 1),
        ("a1::0", 2, 0),
    ]
    assert [s.score for s in ranked] == pytest.approx(
        [
            expected_score(0.5, 0.5, 0.5, 0.8 / 0.8),
            expected_score(0.6, 0.5, 0.5, 0.4 / 0.8, names=0.5),
            expected_score(0.3, 0.0, 0.5, 0.8 / 0.8),
        ]
    )
    best = ranked[0]
    assert (best.text, best.start, best.end) == ("Truss resigned after the vote.", *first.sentences[1])


def test_a_passage_without_the_question_names_loses_w_names_of_its_score() -> None:
    article = "Truss spoke at length. Lavrov spoke at length."
    about, other = (
        make_chunk(article, ["Truss spoke at length."]),
        make_chunk(article, ["Lavrov spoke at length."], position=1),
    )
    hits = [
        make_hit(about, 0.5, dense=[0.6], lexical=[0.4], names=1.0),
        make_hit(other, 0.5, dense=[0.6], lexical=[0.4], names=0.0),
    ]
    named, unnamed = ExtractiveAnswerer(0.5, 3).score_sentences(question("Why did Truss speak?"), hits)
    assert named.chunk is about
    assert unnamed.score == pytest.approx(named.score * (1 - W_NAMES))


def test_a_sentence_showing_the_wanted_type_gains_w_type() -> None:
    article = "Russia must withdraw now. Russia will withdraw now."
    demand, statement = (
        make_chunk(article, ["Russia must withdraw now."]),
        make_chunk(article, ["Russia will withdraw now."], position=1),
    )
    hits = [make_hit(statement, 0.5, [0.5], [0.5]), make_hit(demand, 0.5, [0.5], [0.5])]
    first, second = ExtractiveAnswerer(0.5, 3).score_sentences(question(DEMAND), hits)
    assert first.chunk is demand
    assert first.score - second.score == pytest.approx(W_TYPE)


# -- choose ---------------------------------------------------------------------------------------------------


def test_a_second_sentence_joins_only_within_the_share_of_the_best() -> None:
    best, close, far = (
        single(t, a) for t, a in [("Truss spoke.", "a"), ("Lavrov spoke.", "b"), ("Blinken spoke.", "c")]
    )
    ranked = [
        scored(best, 0, 1.0),
        scored(close, 0, SECOND_SENTENCE_SHARE + 0.01),
        scored(far, 0, SECOND_SENTENCE_SHARE - 0.01),
    ]
    chosen = ExtractiveAnswerer(0.5, 3).choose(question(DEMAND), ranked)
    assert [s.chunk.id for s in chosen] == ["a::0", "b::0"]


def test_a_second_sentence_joins_only_within_the_word_budget() -> None:
    long_best = " ".join(["word"] * 40) + "."
    too_long = " ".join(["more"] * (WORD_BUDGET - 40 + 1)) + "."
    fits = " ".join(["fits"] * (WORD_BUDGET - 40)) + "."
    chunks = [single(long_best, "a"), single(too_long, "b"), single(fits, "c")]
    ranked = [scored(chunks[0], 0, 1.0), scored(chunks[1], 0, 0.95), scored(chunks[2], 0, 0.9)]
    chosen = ExtractiveAnswerer(0.5, 3).choose(question(DEMAND), ranked)
    assert [s.chunk.id for s in chosen] == ["a::0", "c::0"]  # the long one is passed over, a later short one fits


@pytest.mark.parametrize(("max_sentences", "expected"), [(1, ["a::0"]), (2, ["a::0", "b::0"])])
def test_max_sentences_caps_the_close_sentences(max_sentences: int, expected: list[str]) -> None:
    chunks = [single(f"Sentence {name} here.", name) for name in "abcd"]
    ranked = [scored(c, 0, 1.0 - i / 100) for i, c in enumerate(chunks)]
    assert [s.chunk.id for s in ExtractiveAnswerer(0.5, max_sentences).choose(question(DEMAND), ranked)] == expected


POLL = (
    "Marek Dunleavy leads the race for mayor, a poll showed on Friday. The poll was held in March. "
    "Dunleavy has 38% support. Voss has 34%."
)
SHARE = "What share did Marek Dunleavy have in the poll?"


def poll_ranked(article: str = POLL, article_id: str = "a") -> list[ScoredSentence]:
    """The poll's sentences, best first as listed; the figures rank low."""
    sentences = re.findall(r"[^.]+[.]", article)
    chunk = make_chunk(article, [t.strip() for t in sentences], article_id=article_id)
    return [scored(chunk, i, 1.0 - i / 5) for i in range(len(sentences))]


def test_a_question_wanting_a_number_gets_the_articles_best_sentence_showing_one_about_its_subject() -> None:
    chosen = ExtractiveAnswerer(0.5, 3).choose(question(SHARE), poll_ranked())
    assert [s.text for s in chosen] == ["Marek Dunleavy leads the race for mayor, a poll showed on Friday.",
                                        "Dunleavy has 38% support."]  # fmt: skip
    assert ExtractiveAnswerer.support(question(SHARE), [], chosen[:1]) == 0.0  # without it: unsupported


def test_no_number_is_taken_from_a_sentence_about_something_else_or_from_another_article() -> None:
    about_else = poll_ranked(POLL.replace("Dunleavy has", "The party has").replace("Voss has", "Turnout is"))
    assert len(ExtractiveAnswerer(0.5, 3).choose(question(SHARE), about_else)) == 1
    lead = poll_ranked()[:1]
    other = poll_ranked(POLL.replace("a poll", "a survey"), article_id="b")[2:3]
    assert other[0].text == "Dunleavy has 38% support."
    assert len(ExtractiveAnswerer(0.5, 3).choose(question(SHARE), lead + other)) == 1


def test_a_question_not_wanting_a_number_gets_no_figure_added() -> None:
    chosen = ExtractiveAnswerer(0.5, 3).choose(question("Who leads the race for mayor?"), poll_ranked())
    assert len(chosen) == 1


def test_nothing_to_choose_from() -> None:
    assert ExtractiveAnswerer(0.5, 3).choose(question(DEMAND), []) == []


# -- continuations --------------------------------------------------------------------------------------------

SPEECH = "Truss demanded a ceasefire. She further said that Russia must leave. Talks continue."


def speech_chunk(second: str) -> StoredChunk:
    article = SPEECH.replace("She further said that Russia must leave.", second)
    return make_chunk(article, ["Truss demanded a ceasefire.", second, "Talks continue."])


@pytest.mark.parametrize(
    ("follower", "share", "joins"),
    [
        ("She further said that Russia must leave.", CONTINUATION_SHARE + 0.05, True),
        ("But it must end soon.", CONTINUATION_SHARE + 0.05, True),
        ("She further said that Russia must leave.", CONTINUATION_SHARE - 0.05, False),  # scores too low
        ("Lavrov said that Russia must leave.", CONTINUATION_SHARE + 0.2, False),  # does not carry on
        ("She further said nothing new.", CONTINUATION_SHARE + 0.2, False),  # carries on, but shows no demand
    ],
)
def test_the_sentence_after_a_chosen_one_joins_when_it_carries_on(follower: str, share: float, joins: bool) -> None:
    chunk = speech_chunk(follower)
    ranked = [scored(chunk, 0, 1.0), scored(chunk, 1, share), scored(chunk, 2, 0.1)]
    chosen = ExtractiveAnswerer(0.5, 3).choose(question(DEMAND), ranked)
    assert [s.index for s in chosen] == ([0, 1] if joins else [0])


def test_a_continuation_may_open_the_next_chunk_of_the_article() -> None:
    article = "Truss demanded a ceasefire.\n\nShe said Russia must leave."
    first = make_chunk(article, ["Truss demanded a ceasefire."], position=4)
    following = make_chunk(article, ["She said Russia must leave."], position=5)
    ranked = [scored(first, 0, 1.0), scored(following, 0, 0.7, rank=1)]
    chosen = ExtractiveAnswerer(0.5, 3).choose(question(DEMAND), ranked)
    assert [s.chunk.id for s in chosen] == ["a1::4", "a1::5"]


def test_a_continuation_joins_even_past_max_sentences() -> None:
    chunk = speech_chunk("She further said that Russia must leave.")
    ranked = [scored(chunk, 0, 1.0), scored(chunk, 1, 0.7)]
    assert [s.index for s in ExtractiveAnswerer(0.5, 1).choose(question(DEMAND), ranked)] == [0, 1]


# -- support --------------------------------------------------------------------------------------------------


def troops_hits() -> tuple[Hit, Hit]:
    article = "Troops crossed the border. About 40,000 troops crossed at dawn."
    vague = make_chunk(article, ["Troops crossed the border."])
    counted = make_chunk(article, ["About 40,000 troops crossed at dawn."], position=1)
    return (
        make_hit(vague, 0.9, dense=[0.9], lexical=[1.0], coverage=0.75),
        make_hit(counted, 0.5, dense=[0.7], lexical=[1.0], coverage=0.5),
    )


def test_support_is_zero_when_no_chosen_sentence_shows_a_strict_type() -> None:
    vague, _ = troops_hits()
    chosen = [scored(vague.chunk, 0, 1.0)]
    assert ExtractiveAnswerer.support(question("How many troops crossed?"), [vague], chosen) == 0.0


def test_support_is_the_best_sentence_dense_plus_its_passage_coverage() -> None:
    vague, counted = troops_hits()
    chosen = [scored(counted.chunk, 0, 1.0, rank=1), scored(vague.chunk, 0, 0.9)]
    support = ExtractiveAnswerer.support(question("How many troops crossed?"), [vague, counted], chosen)
    assert support == pytest.approx(0.7 + 0.5)  # from the best sentence's own passage, not the top hit


def test_a_strict_type_shown_by_any_chosen_sentence_is_enough() -> None:
    vague, counted = troops_hits()
    chosen = [scored(vague.chunk, 0, 1.0), scored(counted.chunk, 0, 0.9, rank=1)]
    support = ExtractiveAnswerer.support(question("How many troops crossed?"), [vague, counted], chosen)
    assert support == pytest.approx(0.9 + 0.75)


def test_a_non_strict_type_does_not_zero_the_support() -> None:
    vague, _ = troops_hits()
    chosen = [scored(vague.chunk, 0, 1.0)]
    assert ExtractiveAnswerer.support(question("Who crossed the border?"), [vague], chosen) == pytest.approx(0.9 + 0.75)


def test_support_of_nothing_chosen_is_zero() -> None:
    assert ExtractiveAnswerer.support(question(DEMAND), [], []) == 0.0


# -- answer: abstention and composition -----------------------------------------------------------------------


def speech_hits() -> tuple[Hit, Hit]:
    """Chunk 1 (ranked first) holds the best sentence; two sentences of chunk 0 score close to it."""
    c0, c1 = make_chunk(ARTICLE, C0, position=0), make_chunk(ARTICLE, C1, position=1)
    return (
        make_hit(c1, 1.0, dense=[1.0, 0.0], lexical=[1.0, 0.0], coverage=0.5),
        make_hit(c0, 0.9, dense=[0.8, 0.8, 0.0], lexical=[0.8, 0.8, 0.0], coverage=1.0),
    )


def test_below_the_threshold_the_answerer_abstains_citing_whole_passages() -> None:
    hits = speech_hits()
    passages = [passage_of(h, "Truss in Kyiv", rank) for rank, h in enumerate(hits, start=1)]
    result = ExtractiveAnswerer(threshold=1.6, max_sentences=3).answer(question(DEMAND), hits, passages)
    assert result.abstained
    assert result.answer == ABSTAIN_TEXT
    assert result.support == pytest.approx(1.0 + 0.5)
    assert [(c.n, c.quote, c.start, c.end) for c in result.citations] == [
        (1, hits[0].chunk.text, hits[0].chunk.start, hits[0].chunk.end),
        (2, hits[1].chunk.text, hits[1].chunk.start, hits[1].chunk.end),
    ]
    assert result.backend == "extractive"


def test_an_abstention_cites_at_most_three_passages() -> None:
    hits = speech_hits()
    passages = [passage_of(hits[i % 2], f"T{i}", i + 1) for i in range(5)]
    result = ExtractiveAnswerer(threshold=2.0, max_sentences=3).answer(question(DEMAND), hits, passages)
    assert [c.title for c in result.citations] == ["T0", "T1", "T2"]


def test_answer_reads_in_article_order_and_adjacent_sentences_share_a_citation() -> None:
    hits = speech_hits()
    passages = [passage_of(hits[0], "Lavrov replies", 1), passage_of(hits[1], "Truss in Kyiv", 2)]
    result = ExtractiveAnswerer(threshold=1.5, max_sentences=3).answer(question(DEMAND), hits, passages)
    assert not result.abstained
    assert result.support == pytest.approx(1.5)
    assert result.answer == "Truss demanded a ceasefire. She said Russia must withdraw. [1] Lavrov refused. [2]"
    one, two = result.citations
    assert (one.n, one.chunk_id, one.title, one.quote) == (1, "a1::0", "Truss in Kyiv", " ".join(C0[:2]))
    assert (two.n, two.chunk_id, two.title, two.quote) == (2, "a1::1", "Lavrov replies", C1[0])
    assert one.score == round(expected_score(0.8, 0.8, 1.0, 0.9), 4)
    assert two.score == round(expected_score(1.0, 1.0, 0.0, 1.0), 4)
    assert [(s.text, s.citations, s.supported) for s in result.sentences] == [
        (C0[0], [1], True),
        (C0[1], [1], True),
        (C1[0], [2], True),
    ]


def test_every_quote_is_the_article_text_at_its_offsets_and_markers_match_citations() -> None:
    hits = speech_hits()
    result = ExtractiveAnswerer(threshold=0.0, max_sentences=3).answer(question(DEMAND), hits, [])
    assert len(result.citations) == 2
    for citation in result.citations:
        assert citation.quote == ARTICLE[citation.start : citation.end]
        assert citation.title == "a1"  # no passage given for the chunk: the article id
    assert re.findall(r"\[(\d+)\]", result.answer) == [str(c.n) for c in result.citations]


def test_sentences_of_one_chunk_that_are_not_adjacent_get_separate_citations() -> None:
    chunk = make_chunk(ARTICLE, C0)
    hit = make_hit(chunk, 1.0, dense=[0.9, 0.0, 1.0], lexical=[1.0, 0.0, 1.0])
    result = ExtractiveAnswerer(threshold=0.0, max_sentences=3).answer(question(DEMAND), [hit], [])
    assert result.answer == "Truss demanded a ceasefire. [1] Talks continue. [2]"
    assert [c.quote for c in result.citations] == [C0[0], C0[2]]


def test_articles_read_in_the_order_of_their_best_passage() -> None:
    zulu = "Zulu report. Truss demanded a ceasefire."
    alpha = "Alpha report. Lavrov must reply."
    z_chunk = make_chunk(zulu, ["Truss demanded a ceasefire."], article_id="zulu")
    a_chunk = make_chunk(alpha, ["Lavrov must reply."], article_id="alpha")
    hits = [make_hit(z_chunk, 1.0, dense=[0.7], lexical=[1.0]), make_hit(a_chunk, 0.9, dense=[1.0], lexical=[1.0])]
    result = ExtractiveAnswerer(threshold=0.0, max_sentences=3).answer(question(DEMAND), hits, [])
    # alpha holds the best sentence, but zulu's passage ranks first: it is read first
    assert [c.article_id for c in result.citations] == ["zulu", "alpha"]
    assert result.answer == "Truss demanded a ceasefire. [1] Lavrov must reply. [2]"
    texts = {"zulu": zulu, "alpha": alpha}
    assert all(c.quote == texts[c.article_id][c.start : c.end] for c in result.citations)


# -- readable openings -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "leans"),
    [
        ("She further added that Kremlin needs to follow the agreement.", True),
        ("He said troops stay.", True),
        ("In this regard, Sergey Lavrov emphasized the response.", True),
        ("Accordingly, Sergey Lavrov discussed the law.", True),
        ("However, Russia does not want this.", True),
        ("This is the only way.", True),
        ("“She said no,” the aide recalled.", True),
        ("Truss demanded a ceasefire.", False),
        ("This year the talks failed.", False),  # "this" of a time, not of something said before
        ("It is expected to rain.", False),
        ("Furthermore, the minister pointed out a letter.", False),  # adds; reads on its own
        ("Shell said profits rose.", False),  # "She" inside a word
        ("Heather Knight led the talks.", False),
    ],
)
def test_openings_that_lean_on_the_sentence_before(sentence: str, leans: bool) -> None:
    assert leans_on_before(sentence) is leans


def one_chunk_answer(dense: list[float], sentences: list[str], article: str) -> AnswerResult:
    """The answer when one chunk of these sentences is the only hit, its best sentence the `dense` maximum."""
    chunk = make_chunk(article, sentences)
    hit = make_hit(chunk, 1.0, dense=dense, lexical=dense)
    return ExtractiveAnswerer(threshold=0.0, max_sentences=1).answer(question(DEMAND), [hit], [])


def test_a_leaning_answer_sentence_is_quoted_with_the_sentence_before_it() -> None:
    result = one_chunk_answer([0.1, 1.0, 0.0], C0, ARTICLE)  # the best: "She said Russia must withdraw."
    assert result.answer == "Truss demanded a ceasefire. She said Russia must withdraw. [1]"
    (citation,) = result.citations
    assert citation.quote == ARTICLE[citation.start : citation.end] == " ".join(C0[:2])  # one verbatim quote


def test_a_sentence_that_reads_on_its_own_is_quoted_alone() -> None:
    result = one_chunk_answer([0.0, 0.1, 1.0], C0, ARTICLE)  # "Talks continue."
    assert result.answer == "Talks continue. [1]"


def test_a_leaning_sentence_opening_its_chunk_or_after_a_heading_stays_as_it_is() -> None:
    opening = ["He said troops stay.", "Lavrov refused."]
    first = one_chunk_answer([1.0, 0.0], opening, " ".join(opening))
    assert first.answer == "He said troops stay. [1]"  # nothing before it in its chunk: no text is invented
    headed = "Remarks of Sergey Lavrov\nHe said troops stay."
    after_heading = one_chunk_answer([0.0, 1.0], ["Remarks of Sergey Lavrov", "He said troops stay."], headed)
    assert after_heading.answer == "He said troops stay. [1]"


# -- the report's own date -------------------------------------------------------------------------------------

DATELINED = "LISBURG, March 3 (Pennant Sports) - Rovers appointed a manager. He starts on Monday.\n\nMore words here."


def test_a_question_about_the_reports_date_is_answered_with_its_dateline() -> None:
    first, second = "LISBURG, March 3 (Pennant Sports) - Rovers appointed a manager.", "He starts on Monday."
    opening = make_chunk(DATELINED, [first, second])
    later = make_chunk(DATELINED, ["More words here."], position=1)
    hits = [make_hit(later, 1.0, [0.9], [0.9]), make_hit(opening, 0.5, [0.1, 0.1], [0.0, 0.0])]
    passages = [passage_of(h, "Rovers", rank) for rank, h in enumerate(hits, start=1)]
    result = ExtractiveAnswerer(threshold=1.6, max_sentences=3).answer(
        question("What is the dateline of this report?"), hits, passages
    )
    assert not result.abstained
    assert result.answer == "LISBURG, March 3 (Pennant Sports) - Rovers appointed a manager. [1]"
    assert (result.citations[0].start, result.citations[0].end) == (0, DATELINED.index(" He starts"))
    assert result.signals == {}  # nothing to calibrate: the citation check vouches for a quoted dateline


def test_without_an_opening_dateline_the_reports_date_question_is_answered_as_any_other() -> None:
    chunk = make_chunk(ARTICLE, C0)  # the article opens "Kyiv, 10 February." (no year, no dash): no dateline
    hits = [make_hit(chunk, 1.0, [0.1, 0.1, 0.1], [0.0, 0.0, 0.0], coverage=0.1)]
    passages = [passage_of(hits[0], "Truss", 1)]
    result = ExtractiveAnswerer(threshold=1.6, max_sentences=3).answer(
        question("When was this article published?"), hits, passages
    )
    assert result.abstained and result.answer == ABSTAIN_TEXT


def test_who_holds_a_post_is_not_answered_by_who_left_it() -> None:
    """ "Who is the mayor?" over "Voss resigned as mayor... Renn became acting mayor": the sentence about the
    one who left loses to the one about who took over, though it scores higher on its own."""
    left, took_over = "Helena Voss resigned as mayor of Lisburg on Tuesday.", "Tobias Renn became acting mayor."
    article = f"{left} {took_over}"
    hit = make_hit(make_chunk(article, [left, took_over], "mayor"), 1.0, dense=[0.7, 0.5], lexical=[0.8, 0.5])
    answerer = ExtractiveAnswerer(threshold=0.0, max_sentences=1)

    as_holder = answerer.score_sentences(question("Who is the mayor of Lisburg?"), [hit])
    assert as_holder[0].text == took_over
    # the same sentences for a question that is not about holding the post keep their order
    as_event = answerer.score_sentences(question("Who announced a decision about the mayor of Lisburg?"), [hit])
    assert as_event[0].text == left


def test_with_nothing_to_read_the_abstention_points_to_no_passage() -> None:
    """Filters that let no article through leave nothing to cite: the text must not say "cited below"."""
    result = ExtractiveAnswerer(threshold=1.6, max_sentences=3).answer(question(DEMAND), [], [])
    assert result.abstained and result.citations == []
    assert result.answer == ABSTAIN_TEXT_NOTHING_READ and "below" not in result.answer
