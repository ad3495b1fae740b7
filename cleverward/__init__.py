"""cleverward: a contrastive video reward model and its scoring engine.

    from cleverward import RewardModel
    model = RewardModel.from_pretrained("default", device="cpu")
    scores = model.score_frames(frames, prompts)      # README "Python API"

The names below import lazily (PEP 562): `import cleverward` stays cheap for the CLI.
The code lives in the subpackages cleverward.engine, .kernels, .train, .cli (mapped from the
repository's top-level folders, pyproject.toml) and the client in cleverward.client.
"""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("cleverward")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["FileScores", "RewardClient", "RewardModel", "RewardServerError", "__version__"]

_LAZY = {
    "RewardModel": ("cleverward.engine.model", "RewardModel"),
    "FileScores": ("cleverward.engine.frames_api", "FileScores"),
    "RewardClient": ("cleverward.client", "RewardClient"),
    "RewardServerError": ("cleverward.client", "RewardServerError"),
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'cleverward' has no attribute {name!r}")
    import importlib

    module, attr = _LAZY[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
