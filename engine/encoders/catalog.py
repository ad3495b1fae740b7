"""Build an encoder from its spec: the built-in encoders registered, then the registry asked.

The built-in modules are imported on the first build, not at import time: they register
themselves with engine/encoders/registry.py when imported, and load their heavy libraries
(onnxruntime, transformers) only inside their builders.
"""

from __future__ import annotations

from cleverward.engine.encoders.base import TextEncoder, VideoEncoder
from cleverward.engine.encoders.registry import build_from, text_builders, video_builders

_loaded = False


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    from cleverward.engine.encoders import conse, hf_text, hf_video, minilm  # noqa: F401

    _loaded = True


def build_video_encoder(spec: str) -> VideoEncoder:
    _load_builtins()
    return build_from(video_builders(), spec, "video")


def build_text_encoder(spec: str) -> TextEncoder:
    _load_builtins()
    return build_from(text_builders(), spec, "text")


def list_encoders() -> dict[str, list[str]]:
    _load_builtins()
    return {"video": sorted(video_builders()), "text": sorted(text_builders())}
