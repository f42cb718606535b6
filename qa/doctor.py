"""`qa doctor`: what a data directory's store and replica disagree on, and the repairs.

A write killed part way is finished by the next write or start (see qa/store.py); this looks for anything else:
chunks no article record names (left by releases before the journal, or by hand), chunks whose text is not the
article's text at their offsets, chunks a record names that are missing, writes left in the journal, and a
catalog or keyword index that lags or differs from the store. It reads the whole store, a page at a time, holding
the writers' turn (on local files, writers wait until it is done).

The fixes: finish the journal's writes; delete the chunks no record names; write a damaged article again from
its stored record (text and metadata: the record is the truth); rebuild the replica when it differs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from qa.domain import ArticleInfo
from qa.replica import Replica
from qa.store import ChromaStore, StoredChunk, current_chunk_ids

Rewrite = Callable[[Sequence[tuple[ArticleInfo, str]]], object]  # writes articles again from their records

Kind = Literal[
    "unfinished write",
    "write in progress",
    "orphan chunks",
    "offsets disagree",
    "missing chunks",
    "replica behind",
    "catalog differs",
    "keyword index differs",
]
_NOT_A_PROBLEM: set[Kind] = {"write in progress"}  # another machine's write, through a Chroma server


@dataclass(frozen=True)
class Finding:
    """One inconsistency: what, which article ("" for the whole index), the details, the chunks concerned."""

    kind: Kind
    article_id: str
    detail: str
    chunk_ids: tuple[str, ...] = ()

    @property
    def is_problem(self) -> bool:
        """Whether it needs a repair (a write in progress does not)."""
        return self.kind not in _NOT_A_PROBLEM


@dataclass
class Checkup:
    """What an examination read and found."""

    articles: int = 0
    chunks: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        """The findings that need a repair."""
        return [f for f in self.findings if f.is_problem]


class Doctor:
    """Examines and repairs one store and its replica."""

    def __init__(self, store: ChromaStore, replica: Replica, rewrite: Rewrite) -> None:
        self.store = store
        self.replica = replica
        self.rewrite = rewrite

    def examine(self) -> Checkup:
        """Every inconsistency, changing nothing in the store (the replica follows the change log first, as any
        process's next read would: see `_examine_replica`). On local files no write lands meanwhile: one between
        the replica's catch-up and its count of the log was a replica reported behind."""
        with self.store.writers_turn():
            checkup, _, _ = self._examine_store()
            checkup.findings += self._examine_replica()
        return checkup

    def fix(self) -> Checkup:
        """Repair what `examine` finds; what an examination finds afterwards."""
        with self.store.batch():  # which first finishes the writes left in the journal
            _, damaged, orphans = self._examine_store()
            for finding in orphans:
                self.store.delete_chunks(finding.chunk_ids, [finding.article_id])
        if damaged:
            self.rewrite(damaged)
        self.replica.sync()
        if any(f.kind in ("catalog differs", "keyword index differs") for f in self._examine_replica()):
            self.replica.rebuild()
        return self.examine()

    # -- the store -----------------------------------------------------------------------------------------

    def _examine_store(self) -> tuple[Checkup, list[tuple[ArticleInfo, str]], list[Finding]]:
        """Findings about the store; the damaged articles (with their stored text) to write again; the orphans."""
        checkup = Checkup()
        in_progress: set[str] = set()
        intents = self.store.journal()
        abandoned = {i.id for i in self.store.abandoned(intents)}
        for intent in intents:
            ids = ", ".join(a.article_id for a in intent.articles)
            if intent.id in abandoned:
                checkup.findings.append(Finding("unfinished write", ids, "a writer was killed part way"))
            else:
                checkup.findings.append(Finding("write in progress", ids, "another writer is at work"))
                in_progress.update(i for a in intent.articles for i in a.chunk_ids())
        records: dict[str, ArticleInfo] = {}
        damaged: list[tuple[ArticleInfo, str]] = []
        for page in self.store.all_articles():
            # the page's chunks in a few calls of many ids, not a call per article (50,000 calls at 1M chunks)
            found = {c.id: c for part in self.store.current_chunks(info for info, _ in page) for c in part}
            for info, text in page:
                records[info.id] = info
                findings = self._check_article(info, text, found)
                checkup.findings += findings
                if findings:
                    damaged.append((info, text))
        checkup.articles = len(records)
        named = {i for info in records.values() for i in current_chunk_ids(info)}
        unnamed: list[str] = []
        for chunk_ids in self.store.all_chunk_ids():  # ids alone: `_check_article` read the named chunks
            checkup.chunks += len(chunk_ids)
            unnamed += [i for i in chunk_ids if i not in named and i not in in_progress]
        stray: dict[str, list[str]] = {}
        for c in self.store.get_chunks(unnamed, vectors=False).values():  # their articles, to report by
            stray.setdefault(c.article_id, []).append(c.id)
        orphans = [
            Finding("orphan chunks", article_id, f"{len(ids)} chunk(s) no record names", tuple(sorted(ids)))
            for article_id, ids in sorted(stray.items())
        ]
        checkup.findings += orphans
        return checkup, damaged, orphans

    @staticmethod
    def _check_article(info: ArticleInfo, text: str, found: dict[str, StoredChunk]) -> list[Finding]:
        """An article's chunks (among those `found` by id) against its record: all there, each the record's text
        at its offsets."""
        expected = current_chunk_ids(info)
        findings = []
        missing = [i for i in expected if i not in found]
        if missing:
            findings.append(Finding("missing chunks", info.id, f"{len(missing)} of {info.chunks}", tuple(missing)))
        mine = [found[i] for i in expected if i in found]
        wrong = sorted(c.id for c in mine if c.article_id != info.id or text[c.start : c.end] != c.text)
        if wrong:
            detail = f"{len(wrong)} chunk(s) whose text is not the article's at their offsets"
            findings.append(Finding("offsets disagree", info.id, detail, tuple(wrong)))
        return findings

    # -- the replica ---------------------------------------------------------------------------------------

    def _examine_replica(self) -> list[Finding]:
        """The catalog and keyword index against the store's records. A replica built from this store first
        follows the change log, as any process's next question would (at the cost of what changed): another
        process's write it has not read yet is no problem, and what the write changed is compared too. One still
        behind after that (new, built from another store, or a log it cannot follow) is reported, not compared."""
        if not self.replica.built_from_store():
            detail = "not built from this store yet (the next question builds it, or qa doctor --fix)"
            return [Finding("replica behind", "", detail)]
        self.replica.sync()
        behind = self.replica.behind()
        if behind:
            return [Finding("replica behind", "", f"{behind} change-log record(s) not applied yet")]
        records = {info.id: info for page in self.store.all_article_infos() for info in page}
        rows = {info.id: info for page in self.replica.catalog.all_infos() for info in page}
        findings = []
        for article_id in sorted(set(records) | set(rows)):
            record, row = records.get(article_id), rows.get(article_id)
            if record is None or row is None or _listed(record) != _listed(row):
                detail = "not in the catalog" if row is None else "not in the store" if record is None else "differs"
                findings.append(Finding("catalog differs", article_id, detail))
        lost = self.replica.catalog.vectors_lost()
        if lost:
            findings.append(Finding("catalog differs", "", f"its vector file lacks {lost} article(s)' vectors"))
        indexed, expected = self.replica.keyword.documents, sum(r.chunks for r in records.values())
        if indexed != expected:
            detail = f"it holds {indexed} chunk(s), the records name {expected}"
            findings.append(Finding("keyword index differs", "", detail))
        return findings


def _listed(info: ArticleInfo) -> tuple[object, ...]:
    return (
        info.title,
        info.published,
        info.published_inferred,
        info.source,
        info.url,
        info.chunks,
        info.content_hash,
        info.version,
    )
