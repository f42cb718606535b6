"""Syndicated copies: what the threshold separates, and what recognising them costs at ingest.
Run: .venv/bin/python bench/stories.py

Articles: the dated set's 46 (eval/dated: five evolving stories, three of them republished by a second outlet),
the 48 XQuAD-en contexts (eval/xquad_en) and the seed. Prints
- the Jaccard similarity of the 3-word shingles (exact, and as the MinHash estimates it) of the most alike pairs
  of different articles (the known syndicated pairs listed apart);
- the same for edited copies of every article of 60 words or more, made as outlets make them: a dateline put in
  front, a credit line after, the last sentence trimmed, a few words changed; and the share a catalog finds;
- the time qa.stories takes per article (signature and band keys) and per catalog insert (rows, band keys,
  stories regrouped), at two catalog sizes: adding one article must not cost more in a bigger catalog;
- the time to build a catalog of 10,000 articles at once, stories and all (a replica's rebuild).
"""

from __future__ import annotations

import itertools
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import frontmatter  # type: ignore[import-untyped]  # noqa: E402

from qa import stories  # noqa: E402
from qa.catalog import Catalog  # noqa: E402
from qa.domain import ArticleInfo  # noqa: E402

KNOWN = {("mayor-04", "mayor-05"), ("norvale-04", "norvale-05"), ("orla-04", "orla-05")}


def corpus() -> dict[str, str]:
    """Article id -> text."""
    texts = {p.stem: frontmatter.load(p).content for p in sorted((REPO / "eval/dated/articles").glob("*.md"))}
    for line in (REPO / "eval/xquad_en/corpus.jsonl").open():
        row = json.loads(line)
        texts[row["id"]] = row["text"]
    texts |= {p.stem: frontmatter.load(p).content for p in (REPO / "seeds").glob("*.md")}
    return texts


def jaccard(a: str, b: str) -> float:
    left, right = stories.shingles(a), stories.shingles(b)
    return len(left & right) / len(left | right)


def syndicated(text: str, rng: random.Random, changed: int = 3, trimmed: int = 1) -> str:
    """Another outlet's copy: a dateline, `trimmed` last sentences dropped, `changed` words replaced, a credit."""
    sentences = text.replace("\n", " ").split(". ")
    body = ". ".join(sentences[: max(1, len(sentences) - trimmed)])
    words = body.split()
    for position in rng.sample(range(len(words)), min(changed, len(words))):
        words[position] = rng.choice(["reportedly", "officials", "Tuesday", "said", "nearly"])
    return f"LONDON, March 3 (Wire Service) - {' '.join(words)}. (Reporting by Ann Lee; editing by Tom Fox)"


def per_call_ms(action: object, calls: int) -> float:
    assert callable(action)
    began = time.perf_counter()
    for _ in range(calls):
        action()
    return (time.perf_counter() - began) * 1000 / calls


def catalog_insert_ms(size: int, texts: list[str], rng: random.Random) -> float:
    """ms per article put (with its band keys and the stories regrouped, one transaction each) into a catalog
    already holding `size` articles (made-up ones: a tenth of them copies)."""
    with tempfile.TemporaryDirectory() as folder:
        catalog = Catalog(Path(folder) / "catalog.sqlite3")
        last = [texts[0]]

        vocabulary = sorted({w for t in texts for w in t.split()})

        def put(n: int) -> None:
            info = ArticleInfo(id=f"a{n:07d}", title="t", chunks=1, content_hash="h", indexed_at=float(n))
            # a new story of 300 random words, and every tenth article another outlet's copy of the one before
            text = " ".join(rng.choices(vocabulary, k=300)) if n % 10 else syndicated(last[0], rng)
            last[0] = text
            signature = stories.signature(text)
            with catalog.transaction() as writer:
                writer.put(info, None, signature)

        for n in range(size):
            put(n)
        began = time.perf_counter()
        for n in range(size, size + 200):
            put(n)
        elapsed = (time.perf_counter() - began) * 1000 / 200
        catalog.close()
        return elapsed


def rebuild_seconds(size: int, texts: list[str], rng: random.Random) -> float:
    """Seconds to build a catalog of `size` articles in one transaction, stories and all (a replica's rebuild:
    qa doctor --fix, or a catalog from an older release), signatures made beforehand (they come with the records)."""
    vocabulary = sorted({w for t in texts for w in t.split()})
    made = [" ".join(rng.choices(vocabulary, k=300)) for _ in range(size // 2)]
    signatures = [stories.signature(t) for t in made] + [stories.signature(syndicated(t, rng)) for t in made]
    with tempfile.TemporaryDirectory() as folder:
        catalog = Catalog(Path(folder) / "catalog.sqlite3")
        began = time.perf_counter()
        with catalog.transaction() as writer:
            for n, signature in enumerate(signatures):
                info = ArticleInfo(id=f"a{n:07d}", title="t", chunks=1, content_hash="h", indexed_at=float(n))
                writer.put(info, None, signature)
        elapsed = time.perf_counter() - began
        grouped = sum(1 for page in catalog.all_infos() for info in page if info.story_id)
        catalog.close()
    print(f"catalog rebuilt with {size:,} articles (half of them copies): {elapsed:.1f} s, {grouped:,} in stories")
    return elapsed


def main() -> None:
    rng = random.Random(7)
    texts = corpus()
    signatures = {i: stories.signature(t) for i, t in texts.items()}
    print(f"{len(texts)} articles; bands x rows = {(stories.BANDS, stories.ROWS)}; threshold {stories.THRESHOLD}")
    pairs = sorted(
        ((jaccard(texts[a], texts[b]), a, b) for a, b in itertools.combinations(sorted(texts), 2)), reverse=True
    )
    for label, chosen in (
        ("known copies", [p for p in pairs if p[1:] in KNOWN]),
        ("others", [p for p in pairs if p[1:] not in KNOWN][:3]),
    ):
        for exact, a, b in chosen:
            estimated = stories.similarity(signatures[a], signatures[b])
            print(f"  {label:12} {a} ~ {b}: jaccard {exact:.3f}, estimated {estimated:.3f}")
    for changed, trimmed in ((3, 1), (8, 2)):
        found, exacts, estimates = 0, [], []
        long_enough = [i for i, t in texts.items() if len(t.split()) >= 60]
        for article_id in long_enough:
            copy = syndicated(texts[article_id], rng, changed, trimmed)
            exacts.append(jaccard(texts[article_id], copy))
            estimate = stories.similarity(signatures[article_id], stories.signature(copy))
            estimates.append(estimate)
            shared = set(stories.band_keys(signatures[article_id])) & set(stories.band_keys(stories.signature(copy)))
            found += bool(shared) and estimate >= stories.THRESHOLD
        print(
            f"edited copies ({changed} words changed, {trimmed} sentence(s) trimmed, dateline, credit) of "
            f"{len(long_enough)} articles: jaccard min {min(exacts):.3f} median {statistics.median(exacts):.3f}; "
            f"estimated min {min(estimates):.3f}; found {found}/{len(long_enough)}"
        )
    sample = list(texts.values())
    words = statistics.mean(len(t.split()) for t in sample)
    cost = per_call_ms(lambda: [stories.band_keys(stories.signature(t)) for t in sample], 5) / len(sample)
    print(f"signature + band keys: {cost:.2f} ms per article ({words:.0f} words on average)")
    for size in (1_000, 10_000):
        print(f"catalog put + regroup, catalog of {size:,}: {catalog_insert_ms(size, sample, rng):.2f} ms per article")
    rebuild_seconds(10_000, sample, rng)


if __name__ == "__main__":
    main()
