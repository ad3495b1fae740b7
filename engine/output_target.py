"""Where a score-dir run writes, and its ownership of that place.

An output is written through: a symlinked --out is resolved to its target, which is rewritten
(the link stays a link); an output that exists and is not a regular file (a device, a FIFO, a
folder) is refused before any work, except stdout (`-`, /dev/stdout), which streams JSONL rows and
has no run record and no resume.

An output is owned by one run at a time: an advisory lock (`filelock`, flock on Unix) on
`<target>.cwlock` is held from the resume read to the last row, and the holder writes its pid
into the lock file so that a second run can say who holds it. flock is released by the kernel
when the holder dies (kill -9 included), so a stale lock never blocks a later run.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cleverward.engine.output import OutputError

STDOUT_NAMES = frozenset({"-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"})
LOCK_SUFFIX = ".cwlock"


class OutputBusy(OutputError):
    """Another run holds the output."""


@dataclass(frozen=True)
class OutputTarget:
    given: str  # what the user wrote
    path: Path | None  # the regular file rows go to (links resolved); None: stdout

    @property
    def is_stdout(self) -> bool:
        return self.path is None


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def resolve_output(out: str | os.PathLike) -> OutputTarget:
    """The target of `out`; OutputError if it exists and is not a regular file."""
    given = os.fspath(out)
    if given in STDOUT_NAMES:
        return OutputTarget(given, None)
    real = Path(os.path.realpath(given))
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        _check_sidecars(real)
        return OutputTarget(given, real)  # a new file (or a dangling link's target) is made
    except OSError as exc:
        raise OutputError(f"{given}: cannot use it ({exc.strerror or exc})") from None
    if stat.S_ISREG(mode):
        _check_sidecars(real)
        return OutputTarget(given, real)
    hint = "give a file path" + (", or - to stream JSONL to stdout" if not stat.S_ISDIR(mode)
                                 else "")
    shown = given if real == Path(os.path.abspath(given)) else f"{given} (-> {real})"
    raise OutputError(f"{shown}: is {_kind(mode)}, not a regular file; {hint}")


SIDECARS = (".cwrun.json", LOCK_SUFFIX)  # the run record (engine/run_record.py), the lock


def _check_sidecars(real: Path) -> None:
    """The files score-dir keeps beside its output must be regular files too (or absent): a
    run record that is a FIFO or a link to /dev/zero hung the resume read, a folder there made
    the run's last step a traceback. Refused before any work, naming the file."""
    for suffix in SIDECARS:
        side = real.with_name(real.name + suffix)
        try:
            mode = os.stat(side).st_mode
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise OutputError(f"{side}: cannot use it ({exc.strerror or exc}); remove it") \
                from None
        if not stat.S_ISREG(mode):
            raise OutputError(f"{side}: is {_kind(mode)}, not a regular file; score-dir keeps "
                              f"its {'lock' if suffix == LOCK_SUFFIX else 'run record'} there: "
                              "remove it")


def _holder(lock_path: Path) -> str:
    try:
        pid = lock_path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        pid = ""
    return f"pid {pid}" if pid.isdigit() else "a process that has not written its pid yet"


@contextmanager
def owning(target: OutputTarget,
           hint: str = "wait for it to finish or use another --out") -> Iterator[None]:
    """Hold `target` for this run (score-dir, compact); OutputBusy (naming the holder's pid and
    ending with `hint`: what the user can do) if another run does."""
    if target.is_stdout:
        yield
        return
    from filelock import FileLock, Timeout

    lock_path = target.path.with_name(target.path.name + LOCK_SUFFIX)
    try:
        target.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(lock_path), timeout=0)
        lock.acquire()
    except Timeout:
        raise OutputBusy(f"{target.given}: in use by another score-dir or compact run "
                         f"({_holder(lock_path)}); {hint}") from None
    except OSError as exc:
        raise OutputError(f"{target.given}: cannot lock it ({exc.strerror or exc})") from None
    try:
        with open(lock_path, "w", encoding="ascii") as f:  # same inode: the flock stays
            f.write(f"{os.getpid()}\n")
        yield
    finally:
        lock.release()
