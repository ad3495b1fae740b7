"""Text encoders through transformers: the text towers of image-text models (``clip:``,
``siglip:``, ``xclip:``) and pooled language models (``st:``, ``t5:``, ``lm:``, below).

The tokenizer is the folder's own (AutoTokenizer), truncated to the tower's position limit;
SigLIP pads to max_length as it was trained. Output: one unit vector per text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from cleverward.engine.encoders.base import TextEncoder, hash_files
from cleverward.engine.encoders.hf_towers import (
    FAMILIES,
    POOLINGS,
    PooledTextTower,
    TextTower,
    embedding_dim,
    folder_fingerprint,
    load_tower,
    local_folder,
    read_model_config,
    require_safetensors,
    save_tower,
    weight_files,
)
from cleverward.engine.encoders.registry import register_text_encoder


def _device_of(module: torch.nn.Module) -> torch.device:
    """Where a tower's weights are: encode runs there (training may have moved it)."""
    return next(module.parameters()).device


class HFTextEncoder(TextEncoder):
    def __init__(self, kind: str, location: str | None, batch_size: int = 64) -> None:
        self.kind = kind
        self.name = f"{kind}-text"
        self.path = local_folder(location, kind)
        self.batch_size = batch_size
        require_safetensors(self.path, f"{kind}:{location}")

    @cached_property
    def tower(self) -> TextTower:
        """The trainable module: input_ids, attention_mask (B, S) -> unit (B, dim)."""
        tower = TextTower(load_tower(self.kind, self.path, "text"), self.kind).eval()
        return tower.to(self.device)

    def to(self, device) -> HFTextEncoder:
        """Run on `device`: the tower moves now if loaded, else it loads there."""
        self.device = str(device)
        if "tower" in self.__dict__:
            self.tower.to(self.device)
        return self

    @cached_property
    def tokenizer(self):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(self.path))

    @cached_property
    def _model_config(self):
        """The folder's config, read without the weights (the width is checked at load)."""
        return read_model_config(self.path, f"{self.kind}:{self.path}")

    @property
    def _config(self):
        cfg = self._model_config
        return getattr(cfg, "text_config", cfg)

    @property
    def dim(self) -> int:  # type: ignore[override]
        return embedding_dim(self.kind, self._model_config, self._config)

    @property
    def max_length(self) -> int:
        limit = int(self._config.max_position_embeddings)
        return min(limit, int(getattr(self.tokenizer, "model_max_length", limit) or limit))

    @property
    def tokenizer_file(self):
        return self.path / "tokenizer.json"

    @property
    def padding(self) -> str:
        """"longest", or "max_length" where the tower was trained padded (the ONNX path too)."""
        return FAMILIES[self.kind].text_padding

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> input_ids, attention_mask int64 (B, S)."""
        enc = self.tokenizer(list(texts), padding=self.padding,
                             truncation=True, max_length=self.max_length, return_tensors="pt")
        mask = enc.get("attention_mask", torch.ones_like(enc["input_ids"]))
        return enc["input_ids"].long(), mask.long()

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        out = []
        tower, device = self.tower, _device_of(self.tower)
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                ids, mask = self.tokenize(texts[i : i + self.batch_size])
                out.append(tower(ids.to(device), mask.to(device)))
        return torch.cat(out).float().cpu().numpy()  # (B, dim): the host keeps text vectors

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


# --- pooled transformers: sentence-transformers folders, T5 encoders, decoder LMs -----------
#
#   st:/models/all-MiniLM-L6-v2          a sentence-transformers folder: its pooling, its length
#   t5:google/t5-v1_1-base               T5EncoderModel, mean over the mask
#   lm:Qwen/Qwen3-0.6B?pooling=last      a decoder LM (AutoModel): last real token, or mean
#
# All three are PooledTextTower (hf_towers.py): token states pooled over the mask, then L2
# normalised, so they train (train/unfrozen.py) and export (engine/export/onnx_export.py) like
# the CLIP text tower. An ST folder is read here (modules.json, 1_Pooling/config.json,
# sentence_bert_config.json), not through the sentence-transformers package; only Transformer,
# Pooling and Normalize modules are supported. The output is normalised even when an ST folder
# has no Normalize module (its cosines are unchanged; its raw norms are not kept).

DEFAULT_POOLING = {"t5": "mean", "lm": "last"}
DEFAULT_MAX_LENGTH = 512  # tokens, when neither the config nor the tokenizer sets a limit
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "vocab.txt", "vocab.json", "merges.txt", "spiece.model", "tokenizer.model")
ST_POOLING_KEYS = {"cls": "pooling_mode_cls_token", "mean": "pooling_mode_mean_tokens",
                   "max": "pooling_mode_max_tokens",
                   "mean_sqrt_len": "pooling_mode_mean_sqrt_len_tokens",
                   "last": "pooling_mode_lasttoken"}
ST_MODULES = ("Transformer", "Pooling", "Normalize")


@dataclass(frozen=True)
class STFolder:
    """What a sentence-transformers folder says about its pipeline."""

    transformer: Path  # the folder holding config.json, the weights and the tokenizer
    pooling: str
    max_length: int | None  # sentence_bert_config.json max_seq_length
    lower_case: bool
    files: tuple[Path, ...]  # the pipeline's own config files (fingerprinted)


def _read_json(path: Path, what: str) -> dict | list:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{what}: cannot read {path} ({exc})") from exc


def read_st_folder(folder: Path, spec: str) -> STFolder:
    modules = _read_json(folder / "modules.json", spec)
    by_type: dict[str, Path] = {}
    for module in modules:
        short = str(module.get("type", "")).rsplit(".", 1)[-1]
        if short not in ST_MODULES:
            raise ValueError(f"{spec}: module {module.get('type')!r} in modules.json is not "
                             f"supported (only {', '.join(ST_MODULES)})")
        by_type[short] = folder / module.get("path", "")
    if "Transformer" not in by_type or "Pooling" not in by_type:
        raise ValueError(f"{spec}: modules.json needs a Transformer and a Pooling module")
    pool_cfg = by_type["Pooling"] / "config.json"
    modes = [m for m, key in ST_POOLING_KEYS.items() if _read_json(pool_cfg, spec).get(key)]
    if len(modes) != 1:
        raise ValueError(f"{spec}: {pool_cfg} selects pooling {modes or 'none'}; exactly one of "
                         f"{', '.join(ST_POOLING_KEYS.values())} is supported")
    bert_cfg = by_type["Transformer"] / "sentence_bert_config.json"
    st_cfg = _read_json(bert_cfg, spec) if bert_cfg.is_file() else {}
    files = (folder / "modules.json", pool_cfg) + ((bert_cfg,) if bert_cfg.is_file() else ())
    max_length = st_cfg.get("max_seq_length")
    return STFolder(by_type["Transformer"], modes[0], int(max_length) if max_length else None,
                    bool(st_cfg.get("do_lower_case", False)), files)


class PooledTextEncoder(TextEncoder):
    """``st:``, ``t5:``, ``lm:`` text encoders: a PooledTextTower and the folder's tokenizer.

    Options: pooling (st: the folder's, which this overrides; t5: mean; lm: last), max_length
    (tokens; st: its max_seq_length, else the model's limits capped at DEFAULT_MAX_LENGTH),
    batch_size."""

    def __init__(self, kind: str, location: str | None, pooling: str | None = None,
                 batch_size: int = 64, max_length: int | None = None) -> None:
        self.kind, self.name, self.batch_size = kind, f"{kind}-text", batch_size
        self.path = local_folder(location, kind)
        spec = f"{kind}:{location}"
        self.st = read_st_folder(self.path, spec) if kind == "st" else None
        self.model_path = self.st.transformer if self.st else self.path
        self.pooling = pooling or (self.st.pooling if self.st else DEFAULT_POOLING[kind])
        if self.pooling not in POOLINGS:
            raise ValueError(f"{spec}: pooling {self.pooling!r} is not one of "
                             f"{', '.join(POOLINGS)}")
        if not (self.model_path / "config.json").is_file():
            raise FileNotFoundError(f"{spec}: no config.json in {self.model_path}")
        require_safetensors(self.model_path, spec)
        self.max_length = max_length or self._default_max_length()

    def _default_max_length(self) -> int:
        """ST: its max_seq_length; else the tokenizer's and the positions' limits, capped."""
        config = _read_json(self.model_path / "config.json", self.name)
        tok_cfg = self.model_path / "tokenizer_config.json"
        limits = [int(config.get("max_position_embeddings") or 10**9)]
        if tok_cfg.is_file():
            limits.append(int(_read_json(tok_cfg, self.name).get("model_max_length") or 10**9))
        if self.st and self.st.max_length:
            return min(self.st.max_length, *limits)
        return min(DEFAULT_MAX_LENGTH, *limits)

    @cached_property
    def tower(self) -> PooledTextTower:
        """The trainable module: input_ids, attention_mask (B, S) -> unit (B, dim)."""
        import transformers
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # an LM's head / a T5 decoder is "not used": expected
        hf_logging.disable_progress_bar()
        cls = transformers.T5EncoderModel if self.kind == "t5" else transformers.AutoModel
        model = cls.from_pretrained(str(self.model_path), dtype=torch.float32,
                                    use_safetensors=True)
        tower = PooledTextTower(model, self.pooling, decoder=self.kind == "lm").eval()
        return tower.to(self.device)

    def to(self, device) -> PooledTextEncoder:
        """Run on `device`: the tower moves now if loaded, else it loads there."""
        self.device = str(device)
        if "tower" in self.__dict__:
            self.tower.to(self.device)
        return self

    @cached_property
    def tokenizer(self):
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(self.model_path))
        if tok.pad_token is None:  # decoder LMs often have none; padded positions are masked
            if tok.eos_token is None:
                raise ValueError(f"{self.kind}:{self.path}: the tokenizer has neither a pad "
                                 f"nor an eos token to pad with")
            tok.pad_token = tok.eos_token
        return tok

    @cached_property
    def dim(self) -> int:  # type: ignore[override]
        config = _read_json(self.model_path / "config.json", self.name)
        return int(config.get("hidden_size") or config["d_model"])  # T5: d_model

    @property
    def tokenizer_file(self) -> Path:
        return self.model_path / "tokenizer.json"

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> input_ids, attention_mask int64 (B, S), padded to the longest text (on the
        tokenizer's side: pooling is correct with either)."""
        if self.st:  # sentence-transformers strips, and lower-cases when its config says so
            texts = [t.strip().lower() if self.st.lower_case else t.strip() for t in texts]
        enc = self.tokenizer(list(texts), padding="longest", truncation=True,
                             max_length=self.max_length, return_tensors="pt")
        mask = enc.get("attention_mask", torch.ones_like(enc["input_ids"]))
        return enc["input_ids"].long(), mask.long()

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # less padding
        out = np.zeros((len(texts), self.dim), np.float32)
        tower, device = self.tower, _device_of(self.tower)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                ids, mask = self.tokenize([texts[i] for i in idx])
                out[idx] = tower(ids.to(device), mask.to(device)).float().cpu().numpy()
        return out  # (B, dim)

    def torch_module(self):
        """forward(input_ids, attention_mask) -> unit (B, D) (the ONNX export contract)."""
        return self.tower

    def save_tower(self, tower: PooledTextTower, folder) -> None:
        """Write a (fine-tuned) tower as a folder this kind's spec loads (an ST folder for st:
        transformer at its root, then Pooling and Normalize)."""
        folder = Path(folder)
        save_tower(tower.model, folder, self.model_path)
        self.tokenizer.save_pretrained(str(folder))
        if self.st:
            _write_st_modules(folder, self.pooling, self.dim, self.max_length, self.st.lower_case)

    @cached_property
    def _fingerprint(self) -> str:
        names = ("config.json", *TOKENIZER_FILES)
        files = weight_files(self.model_path) + [
            f for f in (self.model_path / n for n in names) if f.is_file()]
        files += list(self.st.files) if self.st else []
        lower = bool(self.st and self.st.lower_case)
        extra = (f"{self.kind}-text;pooling={self.pooling};max_length={self.max_length};"
                 f"lower={lower};positions={'mask' if self.kind == 'lm' else 'model'};l2")
        return hash_files(files, extra=extra)

    def fingerprint(self) -> str:
        return self._fingerprint


def _write_st_modules(folder: Path, pooling: str, dim: int, max_length: int,
                      lower_case: bool) -> None:
    types = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    modules = [{"idx": i, "name": str(i), "path": path,
                "type": f"sentence_transformers.models.{kind}"}
               for i, (path, kind) in enumerate(types)]
    (folder / "modules.json").write_text(json.dumps(modules, indent=2) + "\n")
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "2_Normalize").mkdir(exist_ok=True)
    pool = {"word_embedding_dimension": dim} | {
        key: mode == pooling for mode, key in ST_POOLING_KEYS.items()}
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pool, indent=2) + "\n")
    bert = {"max_seq_length": max_length, "do_lower_case": lower_case}
    (folder / "sentence_bert_config.json").write_text(json.dumps(bert, indent=2) + "\n")


def _pooled_builder(kind: str):
    def build(location: str | None = None, pooling: str | None = None, batch_size: str = "64",
              max_length: str | None = None) -> PooledTextEncoder:
        return PooledTextEncoder(kind, location, pooling=pooling, batch_size=int(batch_size),
                                 max_length=int(max_length) if max_length else None)

    return build


for _kind in ("st", "t5", "lm"):
    register_text_encoder(_kind)(_pooled_builder(_kind))
