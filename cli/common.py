"""Small helpers shared by the commands: stderr output, progress bars, exit on user errors."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import typer

DEVICE_HELP = "auto | cpu | cuda | cuda:N (auto: the GPU of LOCAL_RANK, else cpu)"


def err(message: str) -> None:
    typer.echo(message, err=True)


def fail(message: str, code: int = 2) -> None:
    """Report a user error (bad input, missing file) without a traceback and exit."""
    err(f"error: {message}")
    raise typer.Exit(code)


@contextmanager
def progress_bar(total: int, desc: str, quiet: bool = False):
    """A tqdm bar on stderr; silent when stderr is not a TTY or with --quiet. Yields update(n)."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="video", file=sys.stderr,
               disable=quiet or not sys.stderr.isatty(), dynamic_ncols=True)
    try:
        yield bar.update
    finally:
        bar.close()
