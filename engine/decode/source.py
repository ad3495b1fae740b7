"""What may be read as a video: a regular file (a symlink is followed to one) or a folder.

Every reader of video bytes (the decoders, the cache's content hash, the shard probe, the run
record's signature) asks `source_problem` first, so a FIFO named x.mp4, a symlink to /dev/zero or
to a device, a dangling symlink or a symlink loop is an error row at once, never a read that
blocks. `open_regular` is the belt to those braces: it opens without blocking (O_NONBLOCK: a FIFO
swapped in after the check does not wait for a writer) and checks the opened file itself.
"""

from __future__ import annotations

import errno
import os
import stat

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def source_problem(path: str | os.PathLike) -> str | None:
    """None if `path` is a regular file or a folder (after following symlinks), else why not."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return f"dangling symlink (its target {os.readlink(path)!r} does not exist)"
        return "no such file or folder"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop (too many levels of symbolic links)"
        return f"cannot read it ({exc.strerror or exc})"
    if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
        return None
    return f"{_kind(st.st_mode)}, not a regular file: only regular files are read as videos"


def file_problem(path: str | os.PathLike) -> str | None:
    """None if `path` is a regular file (after following symlinks), else a short why ("no such
    file", "a folder", "a FIFO", ...) for an input file's error message."""
    problem = source_problem(path)
    if problem is None:
        return "a folder, not a file" if os.path.isdir(path) else None
    if problem == "no such file or folder":
        return "no such file"
    return problem.split(": only regular files")[0]


class NotRegularFile(OSError):
    """Raised by open_regular; its message says what the path is."""


def open_regular(path: str | os.PathLike):
    """Open a regular file for reading (binary), refusing anything else without blocking."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(f"{os.fspath(path)}: {_kind(mode)}, not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
