"""`cleverward info`: versions, which backends and decoders run here and why not."""

from __future__ import annotations

import json

import typer


def info(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Report versions, devices, available backends/decoders and the cache location."""
    from cleverward.engine.machine_report import describe

    report = describe()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    for section, items in report.items():
        typer.echo(f"{section}:")
        if isinstance(items, dict):
            for key, value in items.items():
                typer.echo(f"  {key:<22} {value}")
        else:
            typer.echo(f"  {items}")


def register(app: typer.Typer) -> None:
    app.command("info")(info)
