"""Invoke the `cleverward` app in-process, as the CLI tests do."""

from __future__ import annotations

from typer.testing import CliRunner

from cleverward.cli.app import app

runner = CliRunner()


def run_cli(*args):
    """`cleverward ARGS...` with every argument stringified (paths included) -> click Result."""
    return runner.invoke(app, [str(a) for a in args])
