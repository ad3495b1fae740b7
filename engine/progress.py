"""The progress convention of the engine's long loops.

A loop takes `progress`, any callable, and calls `progress(n)` with the count just done. Once its
total is known (after planning) it calls `report_total(progress, total)`, which reaches
`progress.set_total(total)` when the callable has one (the CLI's bars do), so a plain function
keeps working."""

from __future__ import annotations


def report_total(progress, total: int) -> None:
    set_total = getattr(progress, "set_total", None)
    if callable(set_total):
        set_total(int(total))
