"""Syndicated copies: the same story republished by several outlets, recognised by near-duplicate text.

An article's text is cut into overlapping runs of SHINGLE_WORDS words; a MinHash signature of that set (datasketch's
values, computed here: see `signature`) estimates the Jaccard similarity of two articles from NUM_PERM numbers each.
Locality-sensitive hashing finds the candidates without comparing an article with every other: the signature is cut
into bands, and two articles whose signatures agree on a whole band are candidates (datasketch chooses the bands and
rows for the threshold). The catalog keeps the band keys in a table (qa/catalog.py), so that adding an article costs
a few indexed look-ups, whatever the size of the archive; candidates are then confirmed by their estimated
similarity. Not datasketch's MinHashLSH storage: it persists only in Redis or Cassandra (servers this product does
not run), and in memory it would be filled from every article at each start. In the catalog, the band keys and story
ids change in the same SQLite transaction as the article's row, and are built again with it from the store's
records, which carry the signatures (computed once, when the article is written: qa/store.py).

Passages and quotes of copies are compared word by word (difflib): a wire story's sentences survive syndication
with a dateline, a credit or a word changed.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import re
from collections.abc import Sequence
from functools import cache

import numpy as np

from qa.text import NUMBER_WORDS

NUM_PERM = 128  # the estimate's standard error at Jaccard 0.8 is sqrt(0.8 * 0.2 / 128) = 0.035
SEED = 1  # seed and scheme fixed for good: signatures written to the index must stay comparable with later ones
SCHEME = "affine32"  # datasketch 2's default, named: values of another scheme cannot be compared with these
SHINGLE_WORDS = 3
# Two articles are one story from this estimated Jaccard similarity of their 3-word shingles on (bench/stories.py
# measures it): another outlet's copy with a dateline, a credit line, its last sentence trimmed and 3 words changed
# keeps a median 0.85 over 95 articles, but short ones (a 90-word wire brief loses a quarter of its shingles to a
# trimmed sentence) fall to 0.51; the dated set's syndicated pairs are at 0.92-0.98. Different articles, even
# reports of one evolving story by several outlets, stay below 0.1 there. At 0.7 only 57 of those 95 copies were
# found (higher, the usual 0.8, finds fewer still); 0.5 keeps a wide margin over different articles and finds 93.
THRESHOLD = 0.5
CANDIDATES = 0.3  # the similarity LSH is tuned to find; candidates are then held to THRESHOLD
# (bands, rows per band): datasketch's choice for CANDIDATES with NUM_PERM values, written down because choosing
# them integrates with scipy, whose import alone is 0.35 s of every process that opens a catalog (a cold `qa ask`);
# tests/test_stories.py checks that datasketch still chooses these. Chosen below THRESHOLD on purpose: a pair at
# Jaccard 0.5 becomes a candidate with probability 0.993 (0.55 with bands chosen for 0.5 itself), and a candidate
# that is not a copy costs one comparison of two signatures.
BANDS, ROWS = 37, 3
MIN_SHINGLES = 10  # shorter texts (a one-line brief, a caption) coincide without being the same story
NEAR_EQUAL = 0.8  # word-level similarity (difflib ratio) from which two passages or sentences are the same text
_WORDS = re.compile(r"\w+")
SIGNATURE = f"minhash-w{SHINGLE_WORDS}-p{NUM_PERM}-s{SEED}-{SCHEME}"  # signatures made otherwise are made again


def grouping() -> str:
    """How stories are found: a catalog grouped otherwise is built again (qa/catalog.py)."""
    return f"{SIGNATURE}-b{BANDS}x{ROWS}-t{THRESHOLD}"


def words(text: str) -> list[str]:
    """The text's words, case-folded (punctuation and spacing differ between outlets' copies)."""
    return _WORDS.findall(text.casefold())


def shingles(text: str) -> set[bytes]:
    """The runs of SHINGLE_WORDS consecutive words."""
    found = words(text)
    return {" ".join(found[i : i + SHINGLE_WORDS]).encode() for i in range(len(found) - SHINGLE_WORDS + 1)}


# MurmurHash3's 32-bit finalizer: datasketch's affine32 scheme mixes each shingle's hash with it once
_FMIX = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))


@cache
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """The affine32 permutations (odd a, b) as datasketch 2 draws them for SEED."""
    draw = np.random.RandomState(SEED)
    a = draw.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = draw.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


def signature(text: str) -> bytes:
    """The text's MinHash signature (NUM_PERM 32-bit values); empty for a text too short to be compared.

    The values are datasketch's MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME) of the shingles, computed
    here in a few numpy steps because importing datasketch imports scipy: 0.4-0.9 s of every process that writes
    an article, taken from the model while it indexes. tests/test_stories.py checks that the values are datasketch's.
    """
    found = shingles(text)
    if len(found) < MIN_SHINGLES:
        return b""
    # datasketch's default hash of a value: the first 4 bytes of its SHA-1, little-endian
    hashed = np.frombuffer(b"".join(hashlib.sha1(shingle).digest()[:4] for shingle in found), dtype="<u4")
    mixed = hashed.astype(np.uint32).reshape(-1, 1)
    shift1, times1, shift2, times2, shift3 = _FMIX
    mixed ^= mixed >> shift1
    mixed *= times1
    mixed ^= mixed >> shift2
    mixed *= times2
    mixed ^= mixed >> shift3
    a, b = _permutations()
    values = (mixed * a + b).min(axis=0)  # uint32 arithmetic wraps: a * h + b mod 2**32, a bijection for odd a
    return np.asarray(values, dtype="<u4").tobytes()


def encode(sig: bytes) -> str:
    """A signature as text (Chroma keeps it in an article record's metadata), tagged with how it was made."""
    return f"{SIGNATURE}:{base64.b64encode(sig).decode('ascii')}"


def decode(text: str | None) -> bytes | None:
    """Inverse of `encode`; None for a record without one, or one made otherwise (its text must be read again)."""
    tag, _, encoded = (text or "").partition(":")
    if tag != SIGNATURE:
        return None
    try:
        sig = base64.b64decode(encoded, validate=True)
    except ValueError:
        return None
    return sig if len(sig) in (0, 4 * NUM_PERM) else None


def similarity(a: bytes, b: bytes) -> float:
    """The estimated Jaccard similarity of the two articles' shingles (0 when either has no signature)."""
    if not a or not b:
        return 0.0
    return float(np.mean(np.frombuffer(a, dtype="<u4") == np.frombuffer(b, dtype="<u4")))


def band_keys(sig: bytes) -> list[tuple[int, int]]:
    """(band, key) pairs: articles that share any pair are candidates. A key is a 63-bit hash of the band's values
    (an SQLite integer); a collision only adds a candidate, which `similarity` then turns away."""
    if not sig:
        return []
    width = 4 * ROWS
    return [
        (band, int.from_bytes(hashlib.blake2b(sig[band * width : (band + 1) * width], digest_size=8).digest()) >> 1)
        for band in range(BANDS)
    ]


def near_equal(a: str, b: str, at_least: float = NEAR_EQUAL) -> bool:
    """Whether two texts are the same but for a few words (a dateline, a credit, a word changed)."""
    return word_ratio(a, b) >= at_least


def word_ratio(a: str, b: str) -> float:
    """difflib's similarity of the two texts' word sequences (1.0: the same words in the same order); 0 when
    one says a number the other does not and the other one says one the first does not: "the toll rose to 27"
    and "the toll rose to 41" are an update, not a copy (while a dateline only adds numbers); so are "two people
    remained missing" and "five people were missing"."""
    left, right = words(a), words(b)
    if not left or not right:
        return 1.0 if left == right else 0.0
    numbers = [{w for w in side if w in NUMBER_WORDS or any(c.isdigit() for c in w)} for side in (left, right)]
    if not (numbers[0] <= numbers[1] or numbers[1] <= numbers[0]):
        return 0.0
    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    if matcher.real_quick_ratio() < NEAR_EQUAL or matcher.quick_ratio() < NEAR_EQUAL:
        return matcher.quick_ratio()  # an upper bound below the bar: no need for the exact figure
    return matcher.ratio()


def best_match(quote: str, text: str, spans: Sequence[tuple[int, int]], offset: int) -> tuple[int, int] | None:
    """The span (offsets as given) of the run of sentences of `text` most like `quote`, when near-equal; `text`
    starts at `offset` in the article the spans point into. A quote may hold several sentences."""
    best, found = NEAR_EQUAL, None
    for first, (start, _) in enumerate(spans):
        for end in (end for _, end in spans[first:]):
            if end - start > 1.5 * len(quote) + 40:
                break  # longer runs only get less alike
            ratio = word_ratio(quote, text[start - offset : end - offset])
            if ratio >= best:
                best, found = ratio, (start, end)
    return found
