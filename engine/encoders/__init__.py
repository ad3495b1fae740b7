"""Video and text encoders: the interface, the registry, and the builders registered in it."""

from cleverward.engine.encoders.base import TextEncoder, VideoEncoder
from cleverward.engine.encoders.catalog import (
    build_text_encoder,
    build_video_encoder,
    list_encoders,
)

__all__ = [
    "TextEncoder",
    "VideoEncoder",
    "build_text_encoder",
    "build_video_encoder",
    "list_encoders",
]
