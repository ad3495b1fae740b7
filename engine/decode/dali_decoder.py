"""DALI decoding (GPU NVDEC via the mixed backend; CPU for VP8/VP9/MJPEG). Filled in by issue 4."""

from __future__ import annotations


def get_decoder():
    """The DALI decoder, or None where nvidia-dali is not importable."""
    return None
