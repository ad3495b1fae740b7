"""Small helpers shared by the commands: stderr output, option choices, progress bars, exit on
user errors, the DeepSpeed op cache."""

from __future__ import annotations

import difflib
import os
import re
import sys
import threading
import time
from collections.abc import Iterable
from contextlib import contextmanager
from enum import Enum

import typer

DEVICE_HELP = "auto | cpu | cuda | cuda:N (auto: the GPU of LOCAL_RANK, else cpu)"


def err(message: str) -> None:
    typer.echo(message, err=True)


def warn(message: str) -> None:
    err(f"warning: {message}")


def fail(message: str, code: int = 2) -> None:
    """Report a user error (bad input, missing file) without a traceback and exit."""
    err(f"error: {message}")
    raise typer.Exit(code)


# -- config errors in the CLI's words ---------------------------------------------------------

_CLASS_PREFIX = re.compile(r"^[A-Z]\w*Config(?:\.|:\s*|\s+)")
_LEADING_FIELD = re.compile(r"^([a-z][a-z0-9_]*)(?=[:= ]|$)")  # not "pairs.jsonl: ..."


def config_error(exc: Exception | str, options: dict[str, str] | None = None,
                 config: type | None = None) -> str:
    """A config's ValueError as the user should read it: "TrainConfig.batch_size: must be >= 1"
    becomes "--batch-size: must be >= 1". The field is renamed by `options` ({field: option}),
    else, when it is one of `config`'s dataclass fields, to --field-with-dashes; messages that
    do not start with a class or field (a file path and line, a file named like a field) pass
    unchanged."""
    import dataclasses

    message = str(exc)
    stripped = _CLASS_PREFIX.sub("", message, count=1)
    names = dict(options or {})
    if config is not None and dataclasses.is_dataclass(config):
        for f in dataclasses.fields(config):
            names.setdefault(f.name, "--" + f.name.replace("_", "-"))
    match = _LEADING_FIELD.match(stripped)
    if match and match.group(1) in names and (stripped != message
                                              or not os.path.exists(match.group(1))):
        stripped = names[match.group(1)] + stripped[match.end():]
    return stripped


def check_file(path, option: str, what: str = "file") -> None:
    """Fail unless `path` is a file: a folder says so, instead of "no such file"."""
    from pathlib import Path

    path = Path(path)
    if path.is_dir():
        fail(f"{option} {path}: is a folder, give a {what}")
    if not path.exists():
        fail(f"{option} {path}: no such file")


# -- option choices -------------------------------------------------------------------------

class Choice(str, Enum):
    """Base of the options' fixed sets: `--help` lists the values, a typo gets a suggestion."""


def choices(name: str, values: Iterable[str]) -> type[Choice]:
    """A str Enum whose values are the CLI spellings (taken from the engine's own tuple, so the
    set is written once)."""
    return Choice(name, {v.replace("-", "_") or "default": v for v in values})


def choice_option(kind: type[Choice], *names: str, **kwargs):
    """typer.Option(*names) that accepts only `kind`'s values and hands the command the plain
    string. Typer's own Enum check says "not one of ..."; this adds the nearest value."""
    allowed = [c.value for c in kind]
    option = names[0] if names else "the option"

    def parse(value):
        if isinstance(value, Enum):
            return value.value
        if value in allowed:
            return value
        close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise typer.BadParameter(
            f"{value!r} is not one of {', '.join(allowed)}{hint}", param_hint=option)

    return typer.Option(*names, parser=parse, **kwargs)


# -- progress -------------------------------------------------------------------------------

def _every_seconds() -> float:
    """How often a non-terminal stderr gets a progress line (CLEVERWARD_PROGRESS_EVERY)."""
    raw = os.environ.get("CLEVERWARD_PROGRESS_EVERY", "10")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return 10.0


def _clock(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "-:--:--"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    """Progress of one long step on stderr, with its total, rate and ETA.

    On a terminal: a rich bar. On anything else (a log file, CI, a pipe) bars would only spray
    carriage returns, so a plain line is written every CLEVERWARD_PROGRESS_EVERY seconds (10 by
    default, the first one after that long, then one at the end), e.g.
    `scoring: 12/40 videos, 3.1 videos/s, elapsed 0:00:04, ETA 0:00:09`.
    Call it with the count just done; `set_total(n)` once the total is known (after planning).
    """

    def __init__(self, desc: str, unit: str = "video", total: int | None = None,
                 quiet: bool = False) -> None:
        self.desc, self.unit, self.total, self.quiet = desc, unit, total, quiet
        self.done, self.note = 0, ""
        self.start = time.monotonic()
        self._every, self._last_line, self._lines = _every_seconds(), self.start, 0
        self._shown = -1  # the count the last plain line showed
        self._lock = threading.Lock()
        self._rich = self._task = None
        if not quiet and sys.stderr.isatty():
            self._start_rich()

    _live = None  # the one rich display, shared by the bars open at once (rich allows one)
    _open = 0

    def _start_rich(self) -> None:
        if Progress._live is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            Progress._live = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
                TimeRemainingColumn(), TextColumn("{task.fields[note]}"),
                console=Console(stderr=True))
            Progress._live.start()
        Progress._open += 1
        self._rich = Progress._live
        self._task = self._rich.add_task(self.desc, total=self.total, rate="", note="")

    def restart(self) -> None:
        """Count the rate from now (work before the first unit, such as a build, is not rate)."""
        self.start = self._last_line = time.monotonic()
        self.done = 0
        if self._rich is not None:
            self._rich.reset(self._task, total=self.total)

    def rate(self) -> float:
        elapsed = time.monotonic() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        rate = self.rate()
        if self.total is None or rate <= 0:
            return None
        return max(0, self.total - self.done) / rate

    def line(self) -> str:
        count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        note = f", {self.note}" if self.note else ""
        return (f"{self.desc}: {count} {self.unit}s, {self.rate():.2f} {self.unit}s/s, "
                f"elapsed {_clock(time.monotonic() - self.start)}, "
                f"ETA {_clock(self.eta())}{note}")

    def set_total(self, total: int) -> None:
        self.total = total
        if self._rich is not None:
            self._rich.update(self._task, total=total)

    def set_note(self, note: str) -> None:
        self.note = note
        if self._rich is not None:
            self._rich.update(self._task, note=note)

    def __call__(self, n: int = 1) -> None:
        with self._lock:  # a thread pool may report (report's keyframe strips)
            self._advance(n)

    def _advance(self, n: int) -> None:
        self.done += n
        if self.quiet:
            return
        if self._rich is not None:
            self._rich.update(self._task, advance=n, rate=f"{self.rate():.2f} {self.unit}s/s")
            return
        now = time.monotonic()
        if now - self._last_line >= self._every:
            self._show(now)

    def close(self) -> None:
        if self._rich is not None:
            self._rich = None
            Progress._open -= 1
            if Progress._open == 0:
                Progress._live.stop()
                Progress._live = None
        elif self._lines and not self.quiet and self._shown != self.done:
            self._show(time.monotonic())

    def _show(self, now: float) -> None:
        self._last_line, self._shown = now, self.done
        self._lines += 1
        err(self.line())


@contextmanager
def progress_bar(total: int | None, desc: str, quiet: bool = False, unit: str = "video"):
    """A Progress on stderr for the block (nothing with --quiet); yields it: call it with the
    count done, `.set_total(n)` when the total is known."""
    progress = Progress(desc, unit, total, quiet)
    try:
        yield progress
    finally:
        progress.close()


# -- DeepSpeed's C++ ops ----------------------------------------------------------------------

def extensions_dir() -> str:
    """Where torch caches JIT-built C++ ops (DeepSpeed's): TORCH_EXTENSIONS_DIR, set to
    <venv>/torch_extensions when unset so the build is done once per environment whichever way
    the CLI starts (console script, python -m, the deepspeed launcher), not in ~/.cache."""
    if not os.environ.get("TORCH_EXTENSIONS_DIR"):
        os.environ["TORCH_EXTENSIONS_DIR"] = os.path.join(sys.prefix, "torch_extensions")
    return os.environ["TORCH_EXTENSIONS_DIR"]


def announce_op_build(op: str, label: str, duration: str) -> bool:
    """Say so before DeepSpeed JIT-compiles `op` (its folder name under TORCH_EXTENSIONS_DIR)
    for the first time: it prints nothing while it builds. -> whether it was announced."""
    root = extensions_dir()
    subs = os.listdir(root) if os.path.isdir(root) else []
    built = any(os.path.isfile(os.path.join(root, *parts, op, f"{op}.so"))  # torch's layout
                for parts in [(), *[(sub,) for sub in subs]])
    if not built:
        err(f"building DeepSpeed's {label} op once ({duration}); cached in {root}")
    return not built


def deprecated(old: str, new: str) -> None:
    warn(f"{old} is deprecated; use {new}")
