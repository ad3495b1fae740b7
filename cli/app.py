"""The `cleverward` command: one typer app, each command in its own module."""

from __future__ import annotations

import typer

from cleverward.cli import (
    bench_cmd,
    eval_cmd,
    export_cmd,
    index_cmd,
    info_cmd,
    pairs_cmd,
    score_cmd,
    serve_cmd,
    synth_cmd,
    train_cmd,
)

app = typer.Typer(
    name="cleverward",
    help="Contrastive video reward model: score, train, export and benchmark.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
score_cmd.register(app)
info_cmd.register(app)
bench_cmd.register(app)
export_cmd.register(app)
index_cmd.register(app)
pairs_cmd.register(app)
train_cmd.register(app)
eval_cmd.register(app)
synth_cmd.register(app)
serve_cmd.register(app)


def main() -> None:
    app()
