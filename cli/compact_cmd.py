"""`cleverward compact OUT`: rewrite a score-dir output as the rows its readers return."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cleverward.cli.choices import ScoreFormat
from cleverward.cli.common import choice_option, fail


def compact_command(
    out: Annotated[Path, typer.Argument(help="A score-dir output (JSONL, CSV or Parquet).")],
    fmt: Annotated[ScoreFormat | None, choice_option(
        ScoreFormat, "--format", help="The output's format (default: from OUT's suffix).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Count what would go; write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Keep only the last valid row per (video, prompt, model); drop superseded rows,
    withdrawals and torn or invalid lines. Atomic (a temporary file, then one rename); refused
    while a score-dir run holds OUT. Every reader returns the same rows before and after."""
    from cleverward.engine.output import OutputError
    from cleverward.engine.output_compact import compact_output
    from cleverward.engine.output_target import owning, resolve_output

    fmt = fmt or {".csv": "csv", ".parquet": "parquet"}.get(out.suffix.lower(), "jsonl")
    try:
        target = resolve_output(out)
        if target.is_stdout:
            fail(f"OUT {out}: give the output file to compact, not stdout")
        if not target.path.is_file():
            fail(f"OUT {out}: no such file")
        with owning(target, hint="compact it once that run has finished"):
            done = compact_output(target.path, fmt, dry_run=dry_run)
    except OutputError as exc:
        fail(str(exc))
    if as_json:
        import dataclasses
        import json

        typer.echo(json.dumps(dataclasses.asdict(done), indent=1))
        return
    size = (f"{done.bytes_before:,} bytes" if done.bytes_after is None
            else f"{done.bytes_before:,} -> {done.bytes_after:,} bytes")
    verb = "would keep" if dry_run else "kept"
    typer.echo(f"{out}: {done.rows_before} valid rows, {verb} {done.rows_after} "
        f"({done.superseded} superseded, {done.tombstones} withdrawn, {done.dropped} torn or "
        f"invalid lines dropped); {size}")


def register(app: typer.Typer) -> None:
    app.command("compact")(compact_command)
