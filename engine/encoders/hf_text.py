"""Text encoders from Hugging Face image-text models: ``clip:``, ``siglip:``, ``xclip:``.

The tokenizer is the folder's own (AutoTokenizer), truncated to the tower's position limit;
SigLIP pads to max_length as it was trained. Output: one unit vector per text.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import torch

from cleverward.engine.encoders.base import TextEncoder
from cleverward.engine.encoders.hf_towers import (
    FAMILIES,
    TextTower,
    folder_fingerprint,
    load_tower,
    local_folder,
    save_tower,
)
from cleverward.engine.encoders.registry import register_text_encoder


class HFTextEncoder(TextEncoder):
    def __init__(self, kind: str, location: str | None, batch_size: int = 64) -> None:
        self.kind = kind
        self.name = f"{kind}-text"
        self.path = local_folder(location, kind)
        self.batch_size = batch_size

    @cached_property
    def tower(self) -> TextTower:
        """The trainable module: input_ids, attention_mask (B, S) -> unit (B, dim)."""
        return TextTower(load_tower(self.kind, self.path, "text"), self.kind).eval()

    @cached_property
    def tokenizer(self):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(self.path))

    @property
    def _config(self):
        cfg = self.tower.model.config
        return getattr(cfg, "text_config", cfg)

    @property
    def dim(self) -> int:  # type: ignore[override]
        cfg = self.tower.model.config
        proj = getattr(cfg, "projection_dim", None)
        return int(proj if proj and self.kind != "siglip" else self._config.hidden_size)

    @property
    def max_length(self) -> int:
        limit = int(self._config.max_position_embeddings)
        return min(limit, int(getattr(self.tokenizer, "model_max_length", limit) or limit))

    @property
    def tokenizer_file(self):
        return self.path / "tokenizer.json"

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> input_ids, attention_mask int64 (B, S)."""
        enc = self.tokenizer(list(texts), padding=FAMILIES[self.kind].text_padding,
                             truncation=True, max_length=self.max_length, return_tensors="pt")
        mask = enc.get("attention_mask", torch.ones_like(enc["input_ids"]))
        return enc["input_ids"].long(), mask.long()

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                out.append(self.tower(*self.tokenize(texts[i : i + self.batch_size])))
        return torch.cat(out).numpy().astype(np.float32)  # (B, dim)

    def torch_module(self):
        """forward(input_ids, attention_mask) -> unit (B, D) (the ONNX export contract)."""
        return self.tower

    def save_tower(self, tower: TextTower, folder) -> None:
        save_tower(tower.model, folder, self.path)
        self.tokenizer.save_pretrained(str(folder))

    @cached_property
    def _fingerprint(self) -> str:
        extra = f"{self.kind}-text;padding={FAMILIES[self.kind].text_padding};l2"
        also = ("tokenizer.json", "tokenizer_config.json")
        return folder_fingerprint(self.path, extra, also=also)

    def fingerprint(self) -> str:
        return self._fingerprint


def _builder(kind: str):
    def build(location: str | None = None, batch_size: str = "64") -> HFTextEncoder:
        return HFTextEncoder(kind, location, batch_size=int(batch_size))

    return build


for _kind in FAMILIES:
    register_text_encoder(_kind)(_builder(_kind))
