"""The one error type decoders raise: it names the file and says what is wrong."""

from __future__ import annotations


class DecodeError(RuntimeError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
