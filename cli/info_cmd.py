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
    from cleverward.cli.tables import print_sections

    print_sections({section: [(str(k), str(v)) for k, v in (
        items.items() if isinstance(items, dict) else [("", items)])]
        for section, items in report.items()})


def register(app: typer.Typer) -> None:
    app.command("info")(info)
