"""`mlops`: start and stop the platform, manage tokens, and reach every service from a terminal."""

from __future__ import annotations

import typer

from mlops.cli import datasets, deployments, models, runs, stack, tokens

app = typer.Typer(no_args_is_help=True, help="The MLOps platform's command line.")
stack.register(app)
app.add_typer(tokens.app, name="tokens", help="API tokens and their roles.")
app.add_typer(datasets.app, name="datasets", help="Datasets, samples and versions.")
app.add_typer(runs.app, name="runs", help="Training runs: start, follow, stop, compare, download.")
app.add_typer(runs.algorithms_app, name="algorithms", help="The installed training algorithms.")
app.add_typer(models.app, name="models", help="The model registry: versions, cards, stages, approvals.")
app.add_typer(deployments.app, name="deployments", help="Serving: deploy, scale, update, traffic, rollback.")

if __name__ == "__main__":
    app()
