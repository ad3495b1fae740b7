"""`cleverward bench`: stage and end-to-end throughput on this machine, with ratios."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cleverward.cli.common import DEVICE_HELP, deprecated, fail, progress_bar


def bench(
    quick: bool = typer.Option(False, "--quick", help="About a minute: a small corpus."),
    out: Path = typer.Option(None, "--out", help="Write every figure here (JSON)."),
    json_out: Path = typer.Option(None, "--json", hidden=True,
                                  help="Deprecated spelling of --out (--json is a flag "
                                  "that prints JSON elsewhere)."),
    work_dir: Path = typer.Option(None, "--work-dir", help="Where outputs and caches go."),
    corpus_dir: Path = typer.Option(
        None, "--corpus-dir", help="Where the clips are made and reused (default: under the "
        "cleverward cache folder)."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Measure each stage, the engine end to end, and the naive reference, in one run."""
    from cleverward.benchmarks.suite import format_table, run_suite
    from cleverward.engine.device import resolve_device

    try:
        resolve_device(device)  # a GPU this machine lacks fails before any work
    except ValueError as exc:
        fail(str(exc))
    if json_out is not None:
        deprecated("bench --json FILE", "--out FILE")
        out = out or json_out

    with progress_bar(None, "bench", quiet, unit="step") as bar:
        results = run_suite(quick=quick, work_dir=work_dir, corpus_dir=corpus_dir,
                            device=device, progress=_Steps(bar))
    typer.echo(format_table(results))
    if out:
        out.write_text(json.dumps(results, indent=2, default=str) + "\n")


class _Steps:
    """The suite's steps on a bar: each done step advances it and names itself."""

    def __init__(self, bar) -> None:
        self.bar = bar

    def set_total(self, total: int) -> None:
        self.bar.set_total(total)

    def __call__(self, name: str) -> None:
        self.bar.set_note(f"{name} done")
        self.bar(1)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
