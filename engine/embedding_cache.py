"""The persistent embedding cache (FAISS vectors + SQLite metadata). Filled in by issue 5."""

from __future__ import annotations

from cleverward.engine.cache_api import NullCache


def open_cache(cfg, model):
    """The cache a score-dir run should use (NullCache when disabled)."""
    return NullCache()
