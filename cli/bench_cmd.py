"""`cleverward bench`: stage and end-to-end throughput on this machine, with ratios."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cleverward.cli.common import DEVICE_HELP, fail


def bench(
    quick: bool = typer.Option(False, "--quick", help="About a minute: a small corpus."),
    json_out: Path = typer.Option(None, "--json", help="Write every figure here."),
    work_dir: Path = typer.Option(None, "--work-dir", help="Where outputs and caches go."),
    corpus_dir: Path = typer.Option(
        None, "--corpus-dir", help="Where the clips are made and reused (default: under the "
        "cleverward cache folder)."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
) -> None:
    """Measure each stage, the engine end to end, and the naive reference, in one run."""
    from cleverward.benchmarks.suite import format_table, run_suite
    from cleverward.engine.device import resolve_device

    try:
        resolve_device(device)  # a GPU this machine lacks fails before any work
    except ValueError as exc:
        fail(str(exc))
    results = run_suite(quick=quick, work_dir=work_dir, corpus_dir=corpus_dir, device=device)
    typer.echo(format_table(results))
    if json_out:
        json_out.write_text(json.dumps(results, indent=2, default=str) + "\n")


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
