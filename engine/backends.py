"""Which backend runs the text encoder and the reward head: torch | onnx | tensorrt.

`choose_backend` is the one place that decides; it fails at once, with what is missing and what
to use instead, when a requested backend cannot run here.
"""

from __future__ import annotations

from cleverward.engine.environment import backend_status


class BackendUnavailable(RuntimeError):
    pass


def choose_backend(requested: str) -> tuple[str, str]:
    """-> (backend, reason). `auto` prefers tensorrt > torch (CPU: the head is tiny, torch BLAS)."""
    status = backend_status()
    if requested == "auto":
        if status["tensorrt"][0]:
            return "tensorrt", "auto: TensorRT engines on the GPU"
        return "torch", "auto: torch (" + status["torch"][1] + ")"
    if requested not in status:
        raise BackendUnavailable(f"unknown backend {requested!r}; choose from {sorted(status)}")
    ok, why = status[requested]
    if not ok:
        raise BackendUnavailable(f"--backend {requested} cannot run here: {why}")
    return requested, why
