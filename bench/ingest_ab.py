"""A/B of ingestion: `qa index` of one JSON Lines file by two checkouts, alternating, against the bare model.

Each repetition indexes the same file in a fresh process with checkout A's and checkout B's Python (order
alternating, fresh data directories), then times the bare model embedding the same texts in this process.
Prints each repetition and the medians: wall time, share of the bare model's throughput, and B's time over A's.
Run: .venv/bin/python bench/ingest_ab.py --a /work/main/.venv/bin/python --articles 300 --runs 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import ingest  # noqa: E402  (the single-checkout benchmark: same feed, same runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="checkout A's Python (B is this one's)")
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--keep", type=Path, help="a folder to keep the feed and data directories in")
    args = parser.parse_args()
    pythons = {"A": args.a, "B": sys.executable}
    walls: dict[str, list[float]] = {"A": [], "B": []}
    cpus: dict[str, list[float]] = {"A": [], "B": []}
    bares: list[float] = []
    bare_cpus: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        feed = Path(tmp) / "feed.jsonl"
        ingest.write_feed(feed, args.articles)
        for run in range(args.runs):
            order = ["A", "B"] if run % 2 == 0 else ["B", "A"]
            row: dict[str, float] = {}
            for side in order:
                result = ingest.index_run(feed, Path(tmp) / f"data-{side}-{run}", pythons[side])
                walls[side].append(result["wall_s"])
                cpus[side].append(result["cpu_s"])
                row[f"{side}_wall_s"], row[f"{side}_cpu_s"], row["chunks"] = (
                    result["wall_s"],
                    result["cpu_s"],
                    result["chunks"],
                )
            bare_wall, bare_cpu = ingest.bare_model_times(feed)
            bares.append(bare_wall)
            bare_cpus.append(bare_cpu)
            row["bare_s"], row["bare_cpu_s"] = bare_wall, bare_cpu
            print(json.dumps({run: row}), flush=True)
    bare = statistics.median(bares)
    summary = {
        side: {"median_wall_s": statistics.median(w), "share_of_bare": bare / statistics.median(w)}
        for side, w in walls.items()
    }
    bare_cpu = statistics.median(bare_cpus)
    for side, times in cpus.items():
        summary[side]["median_cpu_s"] = statistics.median(times)
        summary[side]["cpu_share_of_bare"] = bare_cpu / statistics.median(times)
    summary["bare_median_s"] = bare  # type: ignore[assignment]
    summary["bare_median_cpu_s"] = bare_cpu  # type: ignore[assignment]
    summary["B_over_A_median_of_pairs"] = statistics.median(b / a for a, b in zip(walls["A"], walls["B"], strict=True))  # type: ignore[assignment]
    summary["B_over_A_cpu_median_of_pairs"] = statistics.median(
        b / a for a, b in zip(cpus["A"], cpus["B"], strict=True)
    )  # type: ignore[assignment]
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
