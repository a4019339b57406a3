"""`mlops`: start and stop the platform, manage tokens, and reach every service from a terminal."""

from __future__ import annotations

import typer

from mlops.cli import datasets, stack, tokens

app = typer.Typer(no_args_is_help=True, help="The MLOps platform's command line.")
stack.register(app)
app.add_typer(tokens.app, name="tokens", help="API tokens and their roles.")
app.add_typer(datasets.app, name="datasets", help="Datasets, samples and versions.")

if __name__ == "__main__":
    app()
