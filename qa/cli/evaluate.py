"""`qa eval`: run evaluation sets through the service, print or write the figures, gate on them."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from qa.cli.console import err, load_settings, out, progress_bar, run, user_errors

if TYPE_CHECKING:  # the runner pulls in the engine: keep `qa --help` and the other commands fast
    from eval.runner import VariantRun
    from eval.sets import EvalItem
    from qa.domain import RetrievalMode
    from qa.service import NewsService
    from qa.settings import Settings


def _gate(figure: str, ceiling: bool = False) -> Any:
    """A gate option: exit 1 when the default variant's figure is below it (above it, for a ceiling)."""
    return typer.Option(help=f"Exit 1 if {figure} is {'above' if ceiling else 'below'} this", show_default=False)


def evaluate(
    files: Annotated[list[Path], typer.Argument(help="Evaluation sets (JSON Lines), see eval/README.md")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write DIR/index.html with plots")] = None,
    compare: Annotated[
        bool, typer.Option("--compare", help="Run retrieval modes dense, bm25, hybrid (and time-blind, for dated sets)")
    ] = False,
    corpus: Annotated[
        list[Path] | None, typer.Option("--corpus", help="Index these articles into a temporary store first")
    ] = None,
    top_k: Annotated[
        int | None, typer.Option("--top-k", min=1, max=50, help="Passages the answer reads (default QA_TOP_K)")
    ] = None,
    withhold: Annotated[
        bool,
        typer.Option(
            "--withhold",
            help="Also ask each answerable question without the articles that answer it (the indexed articles in "
            "two halves, each question asked of the other): the right reply is to abstain",
        ),
    ] = False,
    min_hit1: Annotated[float | None, _gate("hit@1")] = None,
    min_hit5: Annotated[float | None, _gate("hit@5")] = None,
    min_mrr: Annotated[float | None, _gate("MRR@10")] = None,
    min_accuracy: Annotated[float | None, _gate("accuracy")] = None,
    min_support: Annotated[float | None, _gate("citation support")] = None,
    min_validity: Annotated[float | None, _gate("citation validity")] = None,
    min_abstain_recall: Annotated[float | None, _gate("abstention recall")] = None,
    min_abstain_precision: Annotated[float | None, _gate("abstention precision")] = None,
    max_median_words: Annotated[float | None, _gate("the median answer length in words", ceiling=True)] = None,
    min_strong_accuracy: Annotated[float | None, _gate("the accuracy of the answers labelled strong")] = None,
    min_short_em: Annotated[float | None, _gate("the short answers' exact match")] = None,
    min_short_f1: Annotated[float | None, _gate("the short answers' token F1")] = None,
    min_withheld_abstain: Annotated[
        float | None, _gate("the share of questions asked without their articles that abstain (needs --withhold)")
    ] = None,
) -> None:
    """Measure retrieval, answers, citations, abstention and latency over evaluation sets."""
    from eval.sets import load_sets
    from qa.domain import RETRIEVAL_MODES

    if min_withheld_abstain is not None and not withhold:
        err.print("error: --min-withheld-abstain gates the --withhold run: add --withhold")
        raise typer.Exit(2)
    # The sets first: a wrong path or a bad line is told at once, before the runner's imports (llama-index's
    # metrics import llama_index.core, 2 s here).
    items = run(lambda: load_sets(files))
    from eval.runner import Gate

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
            ("strong_accuracy", min_strong_accuracy, False),
            ("short_em", min_short_em, False),
            ("short_f1", min_short_f1, False),
        )
        if threshold is not None
    ]
    config = load_settings()
    with user_errors(), _service(config, corpus or []) as service:
        _warn_of_unknown_articles(service, items)
        modes = list(RETRIEVAL_MODES) if compare else [config.retrieval]
        runs = _run(config, service, items, modes, top_k or config.top_k, compare_backends=compare)
        withheld = _run_withheld(service, items, top_k or config.top_k) if withhold else None
    default = next(run for run in runs if run.name == config.retrieval)
    if withheld is not None:
        runs.append(withheld)

    if as_json:
        document = _json(runs, default, compare, withheld)
        out.print(json.dumps(document, ensure_ascii=False), markup=False, soft_wrap=True)
    else:
        from eval.report import print_failures, summary_table

        out.print(summary_table(runs, f"qa eval: {len(items)} questions from {', '.join(map(str, files))}"))
        print_failures(out, default)
    if report is not None:
        from eval.report import write_html

        path = run(lambda: write_html(report, runs, default.name, [str(f) for f in files]))
        err.print(f"report: {path}")
    checks = [("", gate, default.summary) for gate in gates]
    if withheld is not None and min_withheld_abstain is not None:
        checks.append(("withheld: ", Gate("abstain_recall", min_withheld_abstain), withheld.summary))
    failures = [run_name + message for run_name, gate, summary in checks if (message := gate.failure(summary))]
    for message in failures:
        err.print(f"[bold red]gate failed:[/] {message}")
    if failures:
        raise typer.Exit(1)


def _warn_of_unknown_articles(service: NewsService, items: Sequence[EvalItem]) -> None:
    """Say which of the set's `article_ids` the index does not hold: a misspelt id would count every question
    naming it as a retrieval miss, without a word."""
    named = sorted({article_id for item in items for article_id in item.article_ids})
    held: set[str] = set()
    for begin in range(0, len(named), 500):  # a lookup of a few hundred ids at a time
        held.update(service.store.article_infos(named[begin : begin + 500]))
    unknown = [article_id for article_id in named if article_id not in held]
    if unknown:
        missing = set(unknown)  # a set: a big set of questions with many unknown ids stays linear
        questions = sum(any(a in missing for a in item.article_ids) for item in items)
        shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        err.print(
            f"[yellow]warning:[/] {questions} question(s) name {len(unknown)} article id(s) the index does not hold "
            f"({escape(shown)}): their retrieval counts as a miss. Check the ids against qa list."
        )


@contextmanager
def _service(config: Settings, corpus: Sequence[Path]) -> Iterator[NewsService]:
    """The service to evaluate; with a corpus, over a fresh temporary store holding only it."""
    from qa.cli.articles import index_with_progress, print_skipped
    from qa.errors import LoadError
    from qa.wiring import open_service

    if not corpus:
        yield open_service(config)
        return
    # Chroma may still hold its files open when the directory goes: cleanup must not turn into an error.
    with tempfile.TemporaryDirectory(prefix="qa-eval-", ignore_cleanup_errors=True) as tmp:
        service = open_service(config.model_copy(update={"data_dir": Path(tmp), "chroma_url": None}))
        indexed = index_with_progress(service, corpus, label="indexing corpus")
        print_skipped(indexed)
        if not indexed.loaded:
            raise LoadError(f"No article could be loaded from the corpus {', '.join(map(str, corpus))}.")
        yield service


def _run(
    config: Settings,
    service: NewsService,
    items: Sequence[EvalItem],
    modes: Sequence[RetrievalMode],
    top_k: int,
    compare_backends: bool = False,
) -> list[VariantRun]:
    """Every variant over every item, with a progress bar per variant. With a generative backend configured and
    `compare_backends`, the extractive answerer runs too, on the same retrieval."""
    from eval.runner import ArticleTexts, run_variant, service_variants
    from qa.wiring import build_extractive

    service.store.require()  # the store's own NotIndexed error, before any progress bar is drawn
    variants = service_variants(service, modes, top_k)
    if compare_backends and service.engine.answerer.name != "extractive":
        variants += service_variants(
            service.with_answerer(build_extractive(config)), [config.retrieval], top_k, "extractive"
        )
    if compare_backends and any(item.as_of is not None for item in items):
        variants += service_variants(service.time_blind(), [config.retrieval], top_k, "time-blind", dated=False)
    texts = ArticleTexts(service)
    runs = []
    with progress_bar("questions") as bar:
        for variant in variants:
            task = bar.add_task(variant.name, total=len(items))
            runs.append(run_variant(variant, items, texts, top_k, on_result=partial(bar.advance, task)))
    return runs


def _run_withheld(service: NewsService, items: Sequence[EvalItem], top_k: int) -> VariantRun:
    """The answerable questions asked without their articles (see eval.withheld), with a progress bar."""
    from eval.runner import ArticleTexts, run_variant
    from eval.withheld import indexed_ids, withheld_items, withheld_variant
    from qa.errors import InvalidInput

    texts = ArticleTexts(service)
    withheld = withheld_items(items, indexed_ids(service), texts.get)
    if not withheld:
        raise InvalidInput(
            "--withhold found no question to ask without its articles. It needs answerable questions with "
            "article_ids over at least two indexed articles (a question is left out when the other half of the "
            "articles holds its answer too)."
        )
    asked = [item for item, _ in withheld]
    with progress_bar("questions") as bar:
        task = bar.add_task("withheld", total=len(asked))
        return run_variant(withheld_variant(service, top_k, withheld), asked, texts, top_k, partial(bar.advance, task))


def _json(
    runs: Sequence[VariantRun], default: VariantRun, compare: bool, withheld: VariantRun | None = None
) -> dict[str, object]:
    """{"summary", "results"} (and "withheld", with --withhold); with --compare both keyed by variant name (the
    withheld run among them), plus the default's name."""
    if not compare:
        document: dict[str, object] = {
            "summary": default.summary.model_dump(),
            "results": [r.to_json() for r in default.results],
        }
        if withheld is not None:
            document["withheld"] = {
                "summary": withheld.summary.model_dump(),
                "results": [r.to_json() for r in withheld.results],
            }
        return document
    return {
        "default": default.name,
        "summary": {run.name: run.summary.model_dump() for run in runs},
        "results": {run.name: [r.to_json() for r in run.results] for run in runs},
    }
