"""BM25 over the chunks with tantivy (a Lucene-style engine): changed article by article, filtered inside the query.

The text is our own tokenizer's stems (qa.text.tokenize) joined by spaces and split again on whitespace, so the
terms are exactly those the rest of the core compares with. Each chunk also carries its article's id, outlet and
publication time, so a filter is part of the query rather than a pass over the results. Readers see a commit
after `reload()`; one writer at a time (the replica holds a file lock around every write).

tantivy finds the candidates with its own BM25 (k1 1.2); they are then scored with the BM25 the scoring weights
and the abstention threshold were fitted with (bm25s's Lucene variant, k1 1.5, b 0.75), from the stored terms of
each candidate: the same scores the previous, rebuilt-from-scratch index gave.
"""

from __future__ import annotations

import math
import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy

from qa.domain import SearchFilter
from qa.text import tokenize

_WRITER_HEAP = 15_000_000  # tantivy's floor for one thread: a bigger heap costs time at every commit
_BULK_WRITER_HEAP = 200_000_000  # for a rebuild: fewer, larger segments
_VERSION = "3"  # of the layout below: a directory written with another is rebuilt, but for ...
_READ_IN_PLACE = {"2"}  # ... these, taken as they are (2: before the totals document, which its next commit adds)
_COUNTED_TERMS = 50_000  # document frequencies remembered per commit
K1, B = 1.5, 0.75
CANDIDATE_FACTOR = 2  # candidates tantivy proposes per result wanted, before they are scored again
# BM25's average length needs the sum of every chunk's length. Summed over every chunk at each reload, it cost 9 ms
# at 1,000,000 chunks, paid by the writer and again by every process that reloads after a write. It is kept instead
# in a document of its own, changed in the same commit as the chunks (so it can never disagree with them), and
# read in one small query. (tantivy's commit payload would be its natural place; the Python binding has none.)
# Its id holds no "::", so it is no chunk's (qa.chunking.chunk_id); it has no body, article, outlet or date, so
# no question or filter finds it.
_TOTALS_ID = "#totals"


def _schema() -> Any:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("chunk_id", stored=True, tokenizer_name="raw")
    builder.add_text_field("article_id", stored=False, tokenizer_name="raw")
    builder.add_text_field("source", stored=False, tokenizer_name="raw")
    builder.add_integer_field("published", stored=False, indexed=True, fast=True)
    builder.add_text_field("body", stored=True, tokenizer_name="whitespace")
    builder.add_integer_field("length", stored=False, indexed=False, fast=True)
    return builder.build()


@dataclass(frozen=True)
class KeywordDoc:
    """One chunk as the keyword index holds it."""

    chunk_id: str
    article_id: str
    text: str  # what BM25 reads: the heading and the chunk's text (qa.chunking.keyword_text)
    source: str | None = None
    published: int | None = None  # seconds since the epoch, UTC


class KeywordIndex:
    """BM25 scores for a question, optionally within a filter, by chunk id."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._schema = _schema()
        self._open()

    def _open(self) -> None:
        version = self.directory / "version"
        if self.directory.exists() and (not version.exists() or version.read_text() not in {_VERSION, *_READ_IN_PLACE}):
            shutil.rmtree(self.directory)  # written by another version: the replica builds it again
        self.directory.mkdir(parents=True, exist_ok=True)
        version.write_text(_VERSION)
        self._index = tantivy.Index(self._schema, path=str(self.directory), reuse=True)
        self._see(self._index.searcher())

    def reload(self) -> None:
        """See what was committed since (by this process or another)."""
        self._index.reload()
        self._see(self._index.searcher())

    def _see(self, searcher: Any) -> None:
        # The searcher and the document frequencies counted with it change together (questions run meanwhile).
        self._counted: tuple[Any, dict[str, int]] = (searcher, {})
        total, kept = self._total_length(searcher)
        self._documents = int(searcher.num_docs) - (1 if kept else 0)
        self._average_length = total / self._documents if self._documents and total else 1.0
        self._searcher = searcher

    def _total_length(self, searcher: Any) -> tuple[int, bool]:
        """The sum of every chunk's length, and whether the totals document holds it (an index written before
        there was one is summed over every chunk, until its next commit adds it)."""
        kept = searcher.aggregate(self._term("chunk_id", _TOTALS_ID), {"t": {"stats": {"field": "length"}}})["t"]
        if kept["count"]:
            return int(kept["sum"]), True
        every = searcher.aggregate(tantivy.Query.all_query(), {"t": {"sum": {"field": "length"}}})["t"]
        return int(every["value"] or 0), False

    def _length_of(self, searcher: Any, article_ids: set[str]) -> int:
        """The sum of the lengths of these articles' chunks, as `searcher` sees them."""
        if not article_ids:
            return 0
        query = tantivy.Query.term_set_query(self._schema, "article_id", sorted(article_ids))
        return int(searcher.aggregate(query, {"t": {"sum": {"field": "length"}}})["t"]["value"] or 0)

    @property
    def segments(self) -> int:
        """How many segments the committed index is in (each is searched on its own)."""
        return int(self._searcher.num_segments)

    @property
    def documents(self) -> int:
        """How many chunks are indexed."""
        return self._documents

    def search(self, question: str, n: int, within: SearchFilter | None = None) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) of the best-scoring chunks, best first; chunks that share no term are left out."""
        (terms,) = tokenize([question])
        if not terms or n <= 0:
            return []
        # A term asked twice counts twice, as it weighs twice in the question.
        text = self._query([(tantivy.Occur.Should, self._term("body", t)) for t in terms])
        scope = self._filter(within)
        query = self._query([(tantivy.Occur.Must, text), (tantivy.Occur.Must, scope)]) if scope else text
        searcher = self._searcher
        hits = searcher.search(query, n * CANDIDATE_FACTOR, count=False).hits
        idf = {t: self.idf(t) for t in set(terms)}
        scored = []
        for _, address in hits:
            doc = searcher.doc(address)
            score = self._bm25(terms, doc["body"][0].split(), idf)
            if score > 0:
                scored.append((doc["chunk_id"][0], score))
        scored.sort(key=lambda hit: -hit[1])
        return scored[:n]

    def containing_all(self, text: str, n: int, within: SearchFilter | None = None) -> list[str]:
        """The ids of up to `n` chunks holding every term of `text` (as the tokenizer stems them), best first by
        tantivy's BM25: a search of the article list, where "bank of valdra" must not list every article that
        names Valdra."""
        (terms,) = tokenize([text])
        if not terms or n <= 0:
            return []
        every = self._query([(tantivy.Occur.Must, self._term("body", t)) for t in dict.fromkeys(terms)])
        scope = self._filter(within)
        query = self._query([(tantivy.Occur.Must, every), (tantivy.Occur.Must, scope)]) if scope else every
        searcher = self._searcher
        return [searcher.doc(address)["chunk_id"][0] for _, address in searcher.search(query, n, count=False).hits]

    def _bm25(self, terms: list[str], body: list[str], idf: dict[str, float]) -> float:
        """bm25s's Lucene variant: a term asked twice counts twice. Only the question's terms are counted (a
        Counter of the whole chunk was a fifth of a search)."""
        counts = {term: body.count(term) for term in idf}
        norm = K1 * (1 - B + B * len(body) / self._average_length)
        return sum(idf[t] * counts[t] / (norm + counts[t]) for t in terms if counts[t])

    def document_frequency(self, term: str) -> int:
        """How many chunks hold this (stemmed) term. Counted by a query: tantivy's own doc_freq also counts chunks
        deleted since their segment was last merged, so after an edit a term's idf would drift from that of an
        index built from the same chunks (and could turn negative, dropping its chunks from the results)."""
        searcher, counted = self._counted
        if term not in counted:  # once per term and commit: about 1 ms for a term in 100,000 chunks
            if len(counted) >= _COUNTED_TERMS:
                counted.clear()
            counted[term] = int(searcher.search(self._term("body", term), 1, count=True).count or 0)
        return counted[term]

    def idf(self, term: str) -> float:
        """BM25's idf; a term no chunk holds gets the highest (a question about it is likely not answered here)."""
        df = self.document_frequency(term)
        return math.log(1.0 + (self.documents - df + 0.5) / (df + 0.5))

    @contextmanager
    def writing(self, bulk: bool = False) -> Iterator[KeywordWriter]:
        """Changes, committed together on the way out (rolled back if anything fails), with the total length they
        leave. `bulk` for a rebuild. One writer at a time (the replica's file lock)."""
        self._index.reload()  # the last commit, whoever made it: the total changes from there
        before = self._index.searcher()
        writer = self._index.writer(heap_size=_BULK_WRITER_HEAP if bulk else _WRITER_HEAP, num_threads=1)
        handle = KeywordWriter(writer, self._schema)
        try:
            yield handle
            total = self._total_length(before)[0] - self._length_of(before, handle.removed) + handle.added_length
            writer.delete_documents_by_term("chunk_id", _TOTALS_ID)
            writer.add_document(tantivy.Document(chunk_id=_TOTALS_ID, length=total))
        except BaseException:
            writer.rollback()
            raise
        else:
            writer.commit()
            # tantivy merges small segments only while their writer lives: dropped at once, each commit would
            # leave a segment of its own, and both commits and questions slow down with their number
            writer.wait_merging_threads()
        finally:
            handle.close()
            del writer  # the last reference: tantivy's writer lock is released now, not at garbage collection
        self.reload()

    def clear(self) -> None:
        """Forget everything (before a rebuild)."""
        shutil.rmtree(self.directory, ignore_errors=True)
        self._open()

    def _term(self, field: str, value: str) -> Any:
        return tantivy.Query.term_query(self._schema, field, value)

    @staticmethod
    def _query(clauses: list[tuple[Any, Any]]) -> Any:
        return tantivy.Query.boolean_query(clauses)

    def _filter(self, within: SearchFilter | None) -> Any | None:
        """The filter as a query that every hit must match, or None for no filter."""
        if within is None or within.is_empty:
            return None
        clauses = []
        if within.article_ids is not None:
            clauses.append(tantivy.Query.term_set_query(self._schema, "article_id", list(within.article_ids)))
        if within.sources is not None:
            clauses.append(tantivy.Query.term_set_query(self._schema, "source", list(within.sources)))
        if within.since is not None or within.until is not None:
            clauses.append(
                tantivy.Query.range_query(
                    self._schema,
                    "published",
                    tantivy.FieldType.Integer,
                    within.since_ts,
                    within.until_ts,
                    include_lower=True,
                    include_upper=within.until is None,
                )
            )
        return self._query([(tantivy.Occur.Must, clause) for clause in clauses])


class KeywordWriter:
    """Adds and removes chunks; see `KeywordIndex.writing`."""

    def __init__(self, writer: Any, schema: Any) -> None:
        self._writer = writer
        self._schema = schema
        self.removed: set[str] = set()  # articles whose committed chunks go
        self.added_length = 0  # the lengths of the chunks added, less those removed again in this write
        self._added: Counter[str] = Counter()  # ... by article

    def close(self) -> None:
        """Let go of the writer (its lock goes with the last reference)."""
        self._writer = None

    def remove_article(self, article_id: str) -> None:
        """Drop every chunk of an article."""
        self._writer.delete_documents_by_term("article_id", article_id)
        self.removed.add(article_id)
        self.added_length -= self._added.pop(article_id, 0)  # chunks added before in this write go as well

    def add(self, docs: Sequence[KeywordDoc]) -> None:
        """Index chunks (tokenized here, in one call for all of them)."""
        for doc, terms in zip(docs, tokenize([d.text for d in docs]) if docs else [], strict=True):
            fields: dict[str, Any] = {
                "chunk_id": doc.chunk_id,
                "article_id": doc.article_id,
                "body": " ".join(terms),
                "length": len(terms),
            }
            self._added[doc.article_id] += len(terms)
            self.added_length += len(terms)
            if doc.source is not None:
                fields["source"] = doc.source
            if doc.published is not None:
                fields["published"] = doc.published
            self._writer.add_document(tantivy.Document(**fields))
