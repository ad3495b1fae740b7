"""The interface the scoring pipeline uses to reuse embeddings between runs.

`NullCache` stores nothing (--no-cache). The persistent FAISS + SQLite cache lives in
cleverward.engine.embedding_cache and implements the same methods.
"""

from __future__ import annotations

import numpy as np


class NullCache:
    location = None

    def get_video(self, path: str) -> np.ndarray | None:
        return None

    def put_video(self, path: str, vector: np.ndarray) -> None:
        pass

    def get_texts(self, texts: list[str]) -> list[np.ndarray | None]:
        return [None] * len(texts)

    def put_texts(self, texts: list[str], vectors: np.ndarray) -> None:
        pass

    def close(self) -> None:
        pass
