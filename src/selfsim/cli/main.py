"""The ``selfsim`` command: one typer app; user errors end in one sentence, not a traceback."""

from __future__ import annotations

import sys

import typer

from selfsim.cli import check, classify, cluster, duplicates, evaluate, explain, index, recommend, search
from selfsim.cli import keys as keys_cli
from selfsim.cli import outliers as outliers_cli
from selfsim.cli import serve as serve_cli
from selfsim.cli import train as train_cli
from selfsim.cli.common import errors, reported_warnings, safe
from selfsim.errors import SelfsimError
from selfsim.version import __version__

app = typer.Typer(name="selfsim", no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="Self-supervised representations for search, duplicates, topics, few labels and "
                       "recommendation.")
app.command()(index.index)
app.command()(index.delete)
app.command()(index.reindex)
app.command()(search.search)
app.command()(search.get)
app.command()(search.info)
app.command()(check.check)
app.command()(duplicates.duplicates)
app.command()(outliers_cli.outliers)
app.command()(cluster.cluster)
app.add_typer(classify.app, name="classify")
app.add_typer(classify.labels_app, name="labels")
app.add_typer(evaluate.app, name="eval")
app.command()(train_cli.train)
app.command()(train_cli.adapt)
app.add_typer(recommend.interactions_app, name="interactions")
app.command()(recommend.recommend)
app.command("similar-items")(recommend.similar_items)
app.add_typer(explain.app, name="explain")
app.command()(serve_cli.serve)
app.add_typer(keys_cli.app, name="keys")


@app.command()
def version() -> None:
    """Print selfsim's version."""
    print(__version__)


def main() -> None:
    """Entry point of the console script."""
    try:
        with reported_warnings():
            app()
    except SelfsimError as error:
        # The message quotes what the user gave (ids, paths, filters), so it is escaped, never parsed as markup.
        errors.print(f"[bold red]error:[/] {safe(error)}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
