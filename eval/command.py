"""`qa eval`: run evaluation sets through the engine, print or write the figures, gate on them."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # the runner pulls in the engine: keep `qa --help` and the other commands fast
    from eval.runner import VariantRun
    from eval.sets import EvalItem
    from qa.retrieval import Mode
    from qa.settings import Settings


def _gate(figure: str, ceiling: bool = False) -> typer.models.OptionInfo:
    """A gate option: exit 1 when the default variant's figure is below it (above it, for a ceiling)."""
    return typer.Option(help=f"Exit 1 if {figure} is {'above' if ceiling else 'below'} this", show_default=False)


def register(app: typer.Typer) -> None:
    """Add the `eval` command to the `qa` app."""
    app.command("eval")(evaluate)


def evaluate(
    files: Annotated[list[Path], typer.Argument(help="Evaluation sets (JSON Lines), see eval/README.md")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write DIR/index.html with plots")] = None,
    compare: Annotated[bool, typer.Option("--compare", help="Run retrieval modes dense, bm25, hybrid")] = False,
    corpus: Annotated[
        list[Path] | None, typer.Option("--corpus", help="Index these articles into a temporary store first")
    ] = None,
    top_k: Annotated[
        int | None, typer.Option("--top-k", min=1, max=50, help="Passages the answer reads (default QA_TOP_K)")
    ] = None,
    min_hit1: Annotated[float | None, _gate("hit@1")] = None,
    min_hit5: Annotated[float | None, _gate("hit@5")] = None,
    min_mrr: Annotated[float | None, _gate("MRR@10")] = None,
    min_accuracy: Annotated[float | None, _gate("accuracy")] = None,
    min_support: Annotated[float | None, _gate("citation support")] = None,
    min_validity: Annotated[float | None, _gate("citation validity")] = None,
    min_abstain_recall: Annotated[float | None, _gate("abstention recall")] = None,
    min_abstain_precision: Annotated[float | None, _gate("abstention precision")] = None,
    max_median_words: Annotated[float | None, _gate("the median answer length in words", ceiling=True)] = None,
) -> None:
    """Measure retrieval, answers, citations, abstention and latency over evaluation sets."""
    from eval.runner import MODES, Gate
    from qa.cli import err, out, run, settings, user_errors

    gates = [
        Gate(field, threshold, at_most)
        for field, threshold, at_most in (
            ("hit_at_1", min_hit1, False),
            ("hit_at_5", min_hit5, False),
            ("mrr_at_10", min_mrr, False),
            ("accuracy", min_accuracy, False),
            ("support", min_support, False),
            ("validity", min_validity, False),
            ("abstain_recall", min_abstain_recall, False),
            ("abstain_precision", min_abstain_precision, False),
            ("median_words", max_median_words, True),
        )
        if threshold is not None
    ]
    config = settings()
    with user_errors():
        from eval.sets import load_sets

        items = load_sets(files)
        with _indexed(config, corpus or []) as run_config:
            modes = list(MODES) if compare else [config.retrieval]
            runs = _run(run_config, items, modes, top_k or config.top_k, compare_backends=compare)
    default = next(run for run in runs if run.name == config.retrieval)

    if as_json:
        out.print(json.dumps(_json(runs, default, compare), ensure_ascii=False), markup=False, soft_wrap=True)
    else:
        from eval.report import print_failures, summary_table

        out.print(summary_table(runs, f"qa eval: {len(items)} questions from {', '.join(map(str, files))}"))
        print_failures(out, default)
    if report is not None:
        from eval.report import write_html

        path = run(lambda: write_html(report, runs, default.name, [str(f) for f in files]))
        err.print(f"report: {path}")
    failures = [message for gate in gates if (message := gate.failure(default.summary))]
    for message in failures:
        err.print(f"[bold red]gate failed:[/] {message}")
    if failures:
        raise typer.Exit(1)


@contextmanager
def _indexed(config: Settings, corpus: Sequence[Path]) -> Iterator[Settings]:
    """The settings to evaluate with; with a corpus, a fresh temporary store holding only it."""
    if not corpus:
        yield config
        return
    # Chroma may still hold its files open when the directory goes: cleanup must not turn into an error.
    with tempfile.TemporaryDirectory(prefix="qa-eval-", ignore_cleanup_errors=True) as tmp:
        fresh = config.model_copy(update={"data_dir": Path(tmp), "chroma_url": None})
        _index_corpus(fresh, corpus)
        yield fresh


def _index_corpus(config: Settings, corpus: Sequence[Path]) -> None:
    """Index the corpus like `qa index` does; files that fail to load are reported, not fatal."""
    from rich.markup import escape

    from qa.cli import err, index_paths
    from qa.errors import LoadError

    report = index_paths(config, corpus, label="indexing corpus")
    for failure in report.failed:
        err.print(f"[yellow]skipped[/] {escape(failure.path)}: {escape(failure.reason)}")
    if not (report.added or report.updated or report.unchanged):
        raise LoadError(f"No article could be loaded from the corpus {', '.join(map(str, corpus))}.")


def _run(
    config: Settings, items: Sequence[EvalItem], modes: Sequence[Mode], top_k: int, compare_backends: bool = False
) -> list[VariantRun]:
    """Every variant over every item, with a progress bar per variant on stderr. With a generative backend
    configured and `compare_backends`, the extractive answerer runs too, on the same retrieval."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from eval.runner import DEPTH, ArticleTexts, Variant, engine_variants, run_variant
    from qa.cli import err
    from qa.wiring import build_engine, build_extractive

    engine = build_engine(config)
    engine.store.require()  # the engine's own NotIndexed error, before any progress bar is drawn
    texts = ArticleTexts(engine)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    runs = []
    # Only on a terminal: redirected to a log, a progress bar is noise.
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        variants = engine_variants(engine, modes, top_k)
        if compare_backends and engine.answerer.name != "extractive":
            extractive = engine.with_answerer(build_extractive(config))
            variants.append(Variant("extractive", lambda q: extractive.ask(q, top_k=top_k, depth=DEPTH)))
        for variant in variants:
            task = bar.add_task(variant.name, total=len(items))
            runs.append(run_variant(variant, items, texts, top_k, on_result=lambda t=task: bar.advance(t)))
    return runs


def _json(runs: Sequence[VariantRun], default: VariantRun, compare: bool) -> dict[str, object]:
    """{"summary", "results"}; with --compare both keyed by variant name, plus the default's name."""
    if not compare:
        return {"summary": default.summary.model_dump(), "results": [r.to_json() for r in default.results]}
    return {
        "default": default.name,
        "summary": {run.name: run.summary.model_dump() for run in runs},
        "results": {run.name: [r.to_json() for r in run.results] for run in runs},
    }
