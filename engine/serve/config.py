"""The reward server's settings: a typed, frozen config validated on construction."""

from __future__ import annotations

from dataclasses import dataclass


def _check(cond: bool, field: str, message: str) -> None:
    if not cond:
        raise ValueError(f"{field}: {message}")


@dataclass(frozen=True)
class ServeConfig:
    """`cleverward serve`. Limits bound one request; max_queue bounds how many wait, so memory
    is bounded by about (max_queue + max_batch + max_uploads) x max_body_mb."""

    model: str = "default"
    host: str = "127.0.0.1"  # loopback unless told otherwise
    port: int = 8000
    token_file: str | None = None  # bearer token; then every route but /healthz needs it
    device: str = "auto"  # auto | cpu | cuda | cuda:N (engine/device.resolve_device)
    max_batch: int = 16  # clips per model call, across requests
    max_wait_ms: float = 10.0  # how long the first request of a batch waits for company
    max_queue: int = 64  # requests waiting for the model; beyond: 503 + Retry-After
    max_uploads: int = 64  # connections at once (uvicorn limit_concurrency); beyond: 503
    max_body_mb: float = 64.0
    max_clips: int = 16  # clips per request
    max_frames: int = 512  # frames per clip
    max_side: int = 4096  # pixels, height and width
    max_prompts: int = 64
    max_prompt_chars: int = 2000
    read_timeout_s: float = 10.0  # a body that stops arriving for this long: 408
    body_timeout_s: float = 120.0  # the whole body must arrive within this
    retry_after_s: int = 1

    def __post_init__(self) -> None:
        _check(0 <= self.port <= 65535, "port", f"must be in 0..65535, got {self.port}")
        _check(bool(self.host), "host", "must not be empty")
        for name in ("max_batch", "max_queue", "max_uploads", "max_clips", "max_frames",
                     "max_side", "max_prompts", "max_prompt_chars", "retry_after_s"):
            _check(getattr(self, name) >= 1, name, f"must be >= 1, got {getattr(self, name)}")
        for name in ("max_body_mb", "read_timeout_s", "body_timeout_s"):
            _check(getattr(self, name) > 0, name, f"must be > 0, got {getattr(self, name)}")
        _check(self.max_wait_ms >= 0, "max_wait_ms", f"must be >= 0, got {self.max_wait_ms}")

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 2**20)


def read_token(path: str) -> str:
    """The bearer token: the file's content without surrounding whitespace; never empty."""
    try:
        token = open(path, encoding="utf-8").read().strip()
    except OSError as exc:
        raise ValueError(f"token_file: cannot read {path} ({exc.strerror})") from exc
    if not token:
        raise ValueError(f"token_file: {path} is empty")
    return token
