"""The typer application: one module per group of commands, each a few lines over the service."""

from __future__ import annotations

import typer

from qa.cli import articles, doctor, evaluate, keys, questions, server, watch

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts mention "[n]" markers literally
    help="Ask questions of news articles; answers quote the articles and cite them.",
)
app.command()(articles.index)
app.command()(questions.ask)
app.command("list")(articles.list_articles)
app.command()(articles.remove)
app.command()(watch.watch)
app.command()(server.serve)
app.command()(questions.chat)
app.command()(questions.timeline)
app.command("eval")(evaluate.evaluate)
app.add_typer(keys.app, name="keys")
app.command()(doctor.doctor)


def main() -> None:
    """Console-script entry point."""
    app()
