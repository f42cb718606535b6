"""The article library and the conversation list over real HTTP on loopback: `qa serve` on the dated articles
(46 fictional 2025 articles from five outlets): search and filters of GET /api/articles, and the conversation
routes (list, rename, delete, Markdown export), with the client mistakes each refuses."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer

MAYOR = "Who is the mayor of Lisburg?"


@pytest.fixture(scope="module")
def server(dated_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("library") / "data"
    shutil.copytree(dated_dir, data)
    live = LiveServer(data)
    yield live
    live.stop()


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def _all(http: httpx.Client, **params: str | int) -> tuple[list[dict], int]:
    """Every article a query lists, page by page, and the total the first page gave."""
    articles: list[dict] = []
    cursor = None
    total = -1
    while True:
        query = {**params, "limit": 7, **({"cursor": cursor} if cursor else {})}
        response = http.get("/api/articles", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        total = page["total"] if total < 0 else total
        articles += page["articles"]
        cursor = page["next_cursor"]
        if not cursor:
            return articles, total


def test_search_finds_articles_by_a_piece_of_the_title_in_any_case(http: httpx.Client) -> None:
    everything, total = _all(http, order="newest")
    assert total == len(everything) == 46
    found, count = _all(http, q="BANK OF VALDRA", order="newest")
    titled = [a for a in everything if "bank of valdra" in a["title"].lower()]
    assert titled, "the dated set has Bank of Valdra headlines"
    assert {a["id"] for a in titled} <= {a["id"] for a in found}
    assert count == len(found) < total
    for article in found:  # the others hold every word of it in their text
        text = http.get(f"/api/articles/{article['id']}").json()["text"].lower()
        assert "bank of valdra" in article["title"].lower() or ("bank" in text and "valdra" in text), article
    dates = [a["published"] for a in found if a["published"]]
    assert dates == sorted(dates, reverse=True), "newest first, as without a search"


def test_search_finds_an_article_by_its_text_alone(http: httpx.Client) -> None:
    # "refinancing" is in the text of the Bank of Valdra articles, in none of the titles
    everything, _ = _all(http)
    assert not any("refinancing" in a["title"].lower() for a in everything)
    found, count = _all(http, q="refinancing")
    assert count == len(found) > 0
    assert all(http.get(f"/api/articles/{a['id']}").json()["text"].lower().count("refinanc") for a in found)


def test_a_search_matching_nothing_is_an_empty_page(http: httpx.Client) -> None:
    page = http.get("/api/articles", params={"q": "zqxwv flibbertigibbet"}).json()
    assert page == {"articles": [], "total": 0, "next_cursor": None}


def test_outlet_and_dates_filter_the_list(http: httpx.Client) -> None:
    found, count = _all(http, source="Harbor Wire", since="2025-02-01", until="2025-03-31")
    assert count == len(found) > 0
    for article in found:
        assert article["source"] == "Harbor Wire"
        assert "2025-02-01" <= article["published"][:10] <= "2025-03-31", article
    everything, _ = _all(http)
    expected = [
        a
        for a in everything
        if a["source"] == "Harbor Wire" and a["published"] and "2025-02-01" <= a["published"][:10] <= "2025-03-31"
    ]
    assert {a["id"] for a in found} == {a["id"] for a in expected}


def test_search_and_filters_combine(http: httpx.Client) -> None:
    found, _ = _all(http, q="Valdra", source="Harbor Wire")
    assert found
    assert all(a["source"] == "Harbor Wire" for a in found)


def test_title_finds_the_exact_title_only(http: httpx.Client) -> None:
    title = "Bank of Valdra cuts main rate to 4.50% as inflation eases"
    page = http.get("/api/articles", params={"title": title.upper()}).json()
    assert [a["title"] for a in page["articles"]] == [title]
    assert http.get("/api/articles", params={"title": title[:-3]}).json()["total"] == 0


@pytest.mark.parametrize(
    ("params", "phrase"),
    [
        ({"source": "No Such Outlet"}, "No article comes from the source 'No Such Outlet'"),
        ({"since": "2025-06-01", "until": "2025-03-01"}, "The date window is empty"),
        ({"since": "last week"}, "since"),
        ({"q": "x" * 501}, "q"),
        ({"title": ""}, "title"),
        ({"cursor": "not-a-cursor", "q": "Valdra"}, "cursor is not one a listing of these articles gave"),
    ],
)
def test_bad_list_queries_get_a_422_saying_what_is_wrong(http: httpx.Client, params: dict, phrase: str) -> None:
    response = http.get("/api/articles", params=params)
    assert response.status_code == 422, response.text
    assert phrase in response.json()["error"]["message"]


def _conversation(http: httpx.Client, *messages: str) -> str:
    session = None
    for message in messages:
        body = {"message": message, **({"session_id": session} if session else {})}
        response = http.post("/api/chat", json=body)
        assert response.status_code == 200, response.text
        session = response.json()["session_id"]
    assert session
    return session


def test_conversations_are_listed_newest_first_titled_by_their_first_question(http: httpx.Client) -> None:
    older = _conversation(http, MAYOR, "And what did she say about the budget?")
    newer = _conversation(http, "Who is the chief executive of Norvale Energy?")
    listed = http.get("/api/chat").json()
    ids = [c["session_id"] for c in listed]
    assert ids.index(newer) < ids.index(older)
    first = next(c for c in listed if c["session_id"] == older)
    assert first["title"] == MAYOR
    assert first["questions"] == 2
    assert first["named"] is False
    assert http.get("/api/chat", params={"limit": 1}).json()[0]["session_id"] == newer


def test_a_conversation_is_renamed_and_deleted(http: httpx.Client) -> None:
    session = _conversation(http, MAYOR)
    renamed = http.patch(f"/api/chat/{session}", json={"name": "  Lisburg   politics "})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["title"] == "Lisburg politics"
    listed = {c["session_id"]: c for c in http.get("/api/chat").json()}
    assert listed[session]["title"] == "Lisburg politics"
    assert listed[session]["named"] is True

    assert http.delete(f"/api/chat/{session}").json() == {"removed": session}
    assert session not in {c["session_id"] for c in http.get("/api/chat").json()}
    gone = http.get(f"/api/chat/{session}")
    assert gone.status_code == 404
    assert "No chat session" in gone.json()["error"]["message"]


def test_a_conversation_exports_as_markdown_with_footnoted_quotes(http: httpx.Client) -> None:
    session = _conversation(http, MAYOR)
    history = http.get(f"/api/chat/{session}").json()["turns"]
    citations = history[1]["citations"]
    assert citations, "the mayor question is answered with citations"

    response = http.get(f"/api/chat/{session}/export")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/markdown")
    assert re.search(r'attachment; filename="who-is-the-mayor-of-lisburg\.md"', response.headers["content-disposition"])
    markdown = response.text
    assert markdown.startswith(f"# {MAYOR}\n")
    assert f"**Question:** {MAYOR}" in markdown
    # every citation is a footnote with its outlet, title, date and address; the answer refers to them
    for k, citation in enumerate(citations, start=1):
        line = next(li for li in markdown.splitlines() if li.startswith(f"[^{k}]: "))
        assert citation["source"] in line
        assert citation["published"][:10] in line
        assert citation["title"].split()[0] in line
        url = http.get(f"/api/articles/{citation['article_id']}").json()["url"]
        assert url and line.endswith(f", <{url}>)")
    answer_line = _answer_texts(markdown)[0]
    assert "[^1]" in answer_line
    assert not re.search(r"\[\d+\]", answer_line), "the answer's own [n] markers became footnote references"


def _answer_texts(markdown: str) -> list[str]:
    """The text of each answer in an export: the block after its `**Answer...` line."""
    blocks = markdown.split("\n\n")
    return [blocks[i + 1] for i, block in enumerate(blocks[:-1]) if block.startswith("**Answer")]


def test_footnotes_are_numbered_across_the_whole_conversation(http: httpx.Client) -> None:
    session = _conversation(http, MAYOR, "Who is the chief executive of Norvale Energy?")
    turns = http.get(f"/api/chat/{session}").json()["turns"]
    quotes = len(turns[1]["citations"]) + len(turns[3]["citations"])
    markdown = http.get(f"/api/chat/{session}/export").text
    assert len(re.findall(r"^\[\^\d+\]: ", markdown, re.M)) == quotes
    second_answer = _answer_texts(markdown)[1]
    assert f"[^{len(turns[1]['citations']) + 1}]" in second_answer


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "phrase"),
    [
        ("PATCH", "/api/chat/no-such-session", {"name": "x"}, 404, "No chat session 'no-such-session'"),
        ("DELETE", "/api/chat/no-such-session", None, 404, "No chat session 'no-such-session'"),
        ("GET", "/api/chat/no-such-session/export", None, 404, "No chat session 'no-such-session'"),
        ("PATCH", "/api/chat/SESSION", {"name": ""}, 422, "name"),
        ("PATCH", "/api/chat/SESSION", {"name": "   "}, 422, "at least one letter"),
        ("PATCH", "/api/chat/SESSION", {"name": "x" * 201}, 422, "name"),
        ("PATCH", "/api/chat/SESSION", {"title": "x"}, 422, "name"),
        ("GET", "/api/chat?limit=0", None, 422, "limit"),
    ],
)
def test_conversation_mistakes_get_a_4xx_saying_what_is_wrong(
    http: httpx.Client, method: str, path: str, body: dict | None, status: int, phrase: str
) -> None:
    if "SESSION" in path:
        path = path.replace("SESSION", _conversation(http, MAYOR))
    response = http.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert phrase in response.json()["error"]["message"]


def test_a_wrong_method_is_told_the_methods_of_that_path_alone(http: httpx.Client) -> None:
    session = _conversation(http, MAYOR)
    export = http.request("OPTIONS", f"/api/chat/{session}/export")
    assert export.status_code == 405
    assert export.headers["allow"] == "GET"
    conversation = http.request("PUT", f"/api/chat/{session}")
    assert conversation.status_code == 405
    assert conversation.headers["allow"] == "DELETE, GET, PATCH"
    article = http.request("PUT", "/api/articles/nested/id")  # an article id may hold "/"
    assert article.status_code == 405
    assert article.headers["allow"] == "DELETE, GET"
