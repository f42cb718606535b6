"""Show evaluation runs: a rich table and the failed questions in the terminal, a self-contained HTML page."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from eval.metrics import answer_words
from eval.runner import DEPTH, LABELS, SUPPORT_BANDS, QuestionResult, VariantRun, figure
from qa.errors import InvalidInput

FAILURES_SHOWN = 20
_CLIP = 300  # characters of an answer or a quote shown in the terminal; the HTML report shows them whole
_TEMPLATES = Path(__file__).parent / "templates"
RELIABILITY_BINS = 10


def summary_table(runs: Sequence[VariantRun], title: str) -> Table:
    """One row per figure, one column per variant (side by side with --compare)."""
    table = Table(title=title, title_justify="left")
    table.add_column("figure")
    for run in runs:
        table.add_column(escape(run.name), justify="right")
    for field, label in LABELS.items():
        table.add_row(label, *(figure(field, getattr(run.summary, field)) for run in runs))
    for kind in sorted({k for run in runs for k in run.summary.accuracy_by_kind}):
        table.add_row(
            f"accuracy ({kind})", *(figure("accuracy", run.summary.accuracy_by_kind.get(kind)) for run in runs)
        )
    for band in SUPPORT_BANDS:
        table.add_row(f"{band}: answers (accuracy)", *(band_figure(run, band) for run in runs))
    return table


def band_figure(run: VariantRun, band: str) -> str:
    """'41 (0.976)': how many answers carry a support label and their accuracy."""
    counted = run.summary.support_bands.get(band)
    return "n/a" if counted is None else f"{counted.answers} ({figure('accuracy', counted.accuracy)})"


def print_failures(console: Console, run: VariantRun, limit: int = FAILURES_SHOWN) -> None:
    """The failed questions of a run: question, expected, got and the cited passages; at most `limit`."""
    failed = [r for r in run.results if not r.correct]
    if not failed:
        return
    console.print(f"\n[bold]failed questions ({run.name}): {len(failed)}[/]")
    for result in failed[:limit]:
        console.print(f"\n[bold red]✗[/] [bold]{escape(result.item.id)}[/] {escape(result.item.question)}")
        console.print(f"  expected: {escape(expected(result))}")
        console.print(f"  got: {escape(_clip(result.answer.answer))}  [dim](hit rank {result.hit_rank or '-'})[/]")
        for c in result.answer.citations:
            where = f"{c.article_id} {c.start}-{c.end}"
            console.print(f"  [cyan][{c.n}][/] [dim]{escape(where)}[/] {escape(_clip(c.quote))}")
    if len(failed) > limit:
        console.print(f"\n… and {len(failed) - limit} more failed question(s) (see --json or --report)")


def expected(result: QuestionResult) -> str:
    """What a correct answer looks like, in words."""
    return "abstain" if result.item.unanswerable else " | ".join(result.item.answers)


def write_html(directory: Path, runs: Sequence[VariantRun], default: str, sets: Sequence[str]) -> Path:
    """Write DIR/index.html: figures, plots (embedded PNG) and the per-question tables. Returns its path."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True)
    page = env.get_template("report.html.j2").render(
        title=f"qa eval: {', '.join(sets)}",
        created=datetime.now().isoformat(timespec="seconds"),
        labels=LABELS,
        figure=figure,
        runs=runs,
        default=default,
        plots=_plots(runs),
        expected=expected,
        bands=SUPPORT_BANDS,
    )
    path = directory / "index.html"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"Cannot write the report to {directory}: {exc.strerror or exc}.") from exc
    return path


def _plots(runs: Sequence[VariantRun]) -> dict[str, str]:
    """Plot name -> base64 PNG: hit@k curve, latency and answer-length histograms; one series a run."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render to memory
    import matplotlib.pyplot as plt

    latencies = {run.name: [r.latency_ms for r in run.results] for run in runs}
    words = {run.name: [answer_words(r.answer.answer) for r in run.results if not r.answer.abstained] for run in runs}
    return {
        "hit@k curve": _hit_curve(plt, runs),
        "latency": _histogram(plt, latencies, "ms", "questions", "Latency per question"),
        "answer length": _histogram(plt, words, "words", "answers", "Answer length (answered questions)"),
        "reliability": _reliability(plt, runs),
    }


def _reliability(plt: Any, runs: Sequence[VariantRun], bins: int = RELIABILITY_BINS) -> str:
    """Predicted support (binned) against the share of those answers that were right, one line a run; the
    diagonal is perfect calibration. Abstentions are left out: they predict nothing about an answer."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    for run in runs:
        points = reliability_points(
            [(r.answer.support, r.correct) for r in run.results if not r.answer.abstained], bins
        )
        ax.plot([p for p, _, _ in points], [o for _, o, _ in points], marker="o", label=run.name)
        for predicted, observed, count in points:
            ax.annotate(str(count), (predicted, observed), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set(xlabel="predicted support (bin mean)", ylabel="observed accuracy", xlim=(0, 1), ylim=(0, 1.02))
    ax.set_title("Support reliability (answered questions; n per point)")
    return _finish(fig, ax, plt)


def reliability_points(answers: Sequence[tuple[float, bool]], bins: int) -> list[tuple[float, float, int]]:
    """(mean predicted support, observed accuracy, answers) for each non-empty bin of equal width over 0..1."""
    points = []
    for n in range(bins):
        inside = [(s, ok) for s, ok in answers if n / bins <= s < (n + 1) / bins or (n == bins - 1 and s == 1.0)]
        if inside:
            points.append(
                (sum(s for s, _ in inside) / len(inside), sum(ok for _, ok in inside) / len(inside), len(inside))
            )
    return points


def _hit_curve(plt: Any, runs: Sequence[VariantRun]) -> str:
    """hit@k for k = 1..DEPTH, one line a run."""
    ks = list(range(1, DEPTH + 1))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for run in runs:
        points = [(k, v) for k, v in zip(ks, run.summary.hit_curve, strict=True) if v is not None]
        ax.plot([k for k, _ in points], [v for _, v in points], marker="o", label=run.name)
    ax.set(xlabel="k", ylabel="hit@k", xticks=ks, ylim=(0, 1.02), title="Retrieval: hit@k (answerable questions)")
    return _finish(fig, ax, plt)


def _histogram(plt: Any, series: Mapping[str, Sequence[float]], xlabel: str, ylabel: str, title: str) -> str:
    """Overlaid step histograms on shared bins, so that the variants can be compared bar for bar."""
    import numpy as np

    values = [v for vs in series.values() for v in vs]
    bins = np.histogram_bin_edges(values, bins=30) if values else 10
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, vs in series.items():
        ax.hist(vs, bins=bins, histtype="step", linewidth=1.5, label=name)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    return _finish(fig, ax, plt)


def _finish(fig: Any, ax: Any, plt: Any) -> str:
    """The figure as base64 PNG (closed afterwards: pyplot keeps every open figure alive)."""
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _clip(text: str) -> str:
    """One line of at most _CLIP characters."""
    text = " ".join(text.split())
    return text if len(text) <= _CLIP else text[: _CLIP - 1] + "…"
