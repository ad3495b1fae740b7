"""Plain-text tables through rich: aligned columns, no colour or box when the output is a file
or a pipe (what scripts read), rich's own styling on a terminal."""

from __future__ import annotations

from collections.abc import Sequence


def print_table(head: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None,
                right: Sequence[int] = (), err: bool = False) -> None:
    """Columns whose index is in `right` are right-aligned (numbers)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=err, soft_wrap=True)
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                  pad_edge=False, highlight=False)
    for i, name in enumerate(head):
        table.add_column(_text(name), justify="right" if i in right else "left",
                         overflow="fold")
    for row in rows:
        table.add_row(*map(_text, row))
    _show(table, console)


def print_sections(sections: dict[str, Sequence[tuple[str, str]]]) -> None:
    """Key / value rows in titled sections, one table so the columns line up across them."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=True)
    table = Table(show_header=False, box=box.SIMPLE, show_edge=False, pad_edge=False,
                  highlight=False)
    table.add_column(overflow="fold")
    table.add_column(overflow="fold")
    for name, rows in sections.items():
        table.add_row(_text(f"{name}:"), "", style="bold")
        for key, value in rows:
            table.add_row(_text(f"  {key}"), _text(value))
        table.add_section()
    _show(table, console)


def _show(table, console) -> None:
    """On a terminal, rich prints it; elsewhere it is rendered wide, uncoloured, with no
    trailing blanks, and written like any other line of output."""
    import io

    import typer
    from rich.console import Console

    if console.is_terminal:
        console.print(table)
        return
    buffer = io.StringIO()
    Console(file=buffer, width=240, no_color=True, color_system=None).print(table)
    text = "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())
    typer.echo(text, err=console.stderr)


def _text(cell):
    """A cell as literal text: "cleverward[gpu]" is not rich markup."""
    from rich.text import Text

    return Text(str(cell))
