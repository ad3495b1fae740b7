"""The `cleverward` command: one typer app, each command in its own module."""

from __future__ import annotations

from typing import Annotated

import typer

from cleverward.cli import (
    bench_cmd,
    bulk_cmd,
    compact_cmd,
    compare_cmd,
    eval_cmd,
    export_cmd,
    index_cmd,
    info_cmd,
    pairs_cmd,
    report_cmd,
    score_cmd,
    serve_cmd,
    synth_cmd,
    train_cmd,
)

app = typer.Typer(
    name="cleverward",
    help="Contrastive video reward model: score, train, export and benchmark.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion: shells complete commands and choices
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"cleverward {version('cleverward')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", "-V", callback=_version, is_eager=True,
        help="Print the installed version and exit.")] = False,
    local_rank: Annotated[int | None, typer.Option(
        "--local_rank", "--local-rank", hidden=True,
        help="Set by the deepspeed launcher, which puts --local_rank=N before the command.")
    ] = None,
) -> None:
    """Contrastive video reward model: score, train, export and benchmark."""
    import os

    from cleverward.cli.common import extensions_dir

    extensions_dir()  # DeepSpeed's JIT-built ops go to <venv>/torch_extensions unless set
    if local_rank is not None:
        os.environ.setdefault("LOCAL_RANK", str(local_rank))


score_cmd.register(app)
info_cmd.register(app)
bench_cmd.register(app)
export_cmd.register(app)
index_cmd.register(app)
pairs_cmd.register(app)
train_cmd.register(app)
eval_cmd.register(app)
synth_cmd.register(app)
bulk_cmd.register(app)
compact_cmd.register(app)
compare_cmd.register(app)
report_cmd.register(app)
serve_cmd.register(app)


def main() -> None:
    app()


if __name__ == "__main__":  # python -m cleverward.cli.app
    main()
