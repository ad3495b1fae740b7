"""Hugging Face towers as torch modules, shared by hf_video and hf_text: the dual-encoder
towers of CLIP, SigLIP and X-CLIP, and PooledTextTower (a language model's token states pooled
over the mask: sentence-transformers folders, T5 encoders, decoder LMs).

A spec names the model family and a local folder or hub id: ``clip:/models/clip-vit-b32``. A
folder may hold the whole dual encoder (as published) or one tower only (as a fine-tuned
checkpoint writes it): for CLIP and SigLIP each side loads just its tower class
(CLIPVisionModelWithProjection, SiglipTextModel, ...), whose weight names match the full model's.
X-CLIP's video side needs its cross-frame and prompt modules, so it loads the whole model.

The towers are nn.Modules end to end (uint8 frames or token ids in, unit vectors out), so the
same module serves inference (encode under inference_mode) and fine-tuning (train/unfrozen.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cleverward.engine.encoders.base import hash_files


@dataclass(frozen=True)
class Family:
    vision_class: str  # transformers class loaded for the video side
    text_class: str
    vision_output: str  # attribute of the output holding (N, D) features
    text_output: str
    mean: tuple[float, float, float]  # pixel normalisation when the folder does not say
    std: tuple[float, float, float]
    text_padding: str  # "longest", or "max_length" where the model was trained padded


CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
FAMILIES = {
    "clip": Family("CLIPVisionModelWithProjection", "CLIPTextModelWithProjection",
                   "image_embeds", "text_embeds", CLIP_MEAN, CLIP_STD, "longest"),
    "siglip": Family("SiglipVisionModel", "SiglipTextModel", "pooler_output", "pooler_output",
                     (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "max_length"),
    "xclip": Family("XCLIPModel", "XCLIPModel", "", "", CLIP_MEAN, CLIP_STD, "longest"),
}


def looks_like_path(location: str) -> bool:
    """A location written as a path (absolute, ./, ~, or with a backslash) is never a hub id."""
    return location.startswith(("/", ".", "~")) or "\\" in location or location.count("/") > 1


def local_folder(location: str | None, kind: str) -> Path:
    """A folder, or a hub id resolved to its snapshot in the local Hugging Face cache.

    Never downloads (local_files_only: no network request is made, whatever HF_HUB_OFFLINE
    says): a hub id must have been fetched beforehand, e.g. `hf download <id>`."""
    if not location:
        raise ValueError(f"{kind}: name a folder or hub id, e.g. {kind}:/models/{kind}")
    path = Path(location).expanduser()
    if path.is_dir():
        return path
    if looks_like_path(location):
        raise FileNotFoundError(f"{kind}:{location}: no such folder")
    from cleverward.engine.hub_cache import cached_snapshot

    return cached_snapshot(location, f"{kind}:{location}", [
        "*.json", "*.safetensors", "*.txt", "*.model"])


PICKLED_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")


def weight_files(folder: Path) -> list[Path]:
    """The files from_pretrained(use_safetensors=True) may load weights from: the safetensors
    shards and the index that names them (so the fingerprint covers everything that loads)."""
    return sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.safetensors.index.json"))


def require_safetensors(folder: Path, spec: str) -> None:
    """Towers load safetensors only: a folder holding only pickled weights (pytorch_model.bin)
    is refused by name, before transformers could unpickle it; so is a weights file named
    *.safetensors that is not one (a pickle under that name, garbage, a cut file): one
    CheckpointError naming it, not a SafetensorError traceback from whichever reader met it
    first (the ONNX export, from_pretrained)."""
    shards = sorted(folder.glob("*.safetensors"))
    if shards:
        from cleverward.engine.checkpoint import check_safetensors_header

        for shard in shards:
            check_safetensors_header(shard)
        return
    pickled = sorted({p.name for pattern in PICKLED_WEIGHTS for p in folder.glob(pattern)})
    if pickled:
        raise FileNotFoundError(
            f"{spec}: {folder} holds only pickled weights ({', '.join(pickled)}), which are "
            f"never loaded (a pickle can run code); convert them to model.safetensors")
    raise FileNotFoundError(f"{spec}: no *.safetensors weights in {folder}")


def read_model_config(folder: Path, spec: str):
    """The folder's transformers config (AutoConfig): widths and sizes without the weights."""
    from transformers import AutoConfig
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    try:
        return AutoConfig.from_pretrained(str(folder))
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{spec}: cannot read {folder / 'config.json'} ({first})") from None


def load_tower(kind: str, folder: Path, side: str) -> nn.Module:
    """transformers model for one side ("vision" | "text") from folder, in eval mode."""
    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # a tower from a full checkpoint "ignores" the other side
    hf_logging.disable_progress_bar()
    family = FAMILIES[kind]
    cls = getattr(transformers, family.vision_class if side == "vision" else family.text_class)
    kwargs = {}
    config = json.loads((folder / "config.json").read_text())
    if "projection_dim" in config and kind == "clip":
        kwargs["projection_dim"] = config["projection_dim"]  # the towers' own default is 512
    require_safetensors(folder, f"{kind}:{folder}")
    return cls.from_pretrained(str(folder), use_safetensors=True, **kwargs).eval()


def pixel_stats(kind: str, folder: Path) -> tuple[list[float], list[float]]:
    pre = folder / "preprocessor_config.json"
    if pre.is_file():
        data = json.loads(pre.read_text())
        if "image_mean" in data and "image_std" in data:
            return list(data["image_mean"]), list(data["image_std"])
    return list(FAMILIES[kind].mean), list(FAMILIES[kind].std)


def folder_fingerprint(folder: Path, extra: str, also: tuple[str, ...] = ()) -> str:
    files = weight_files(folder) + [folder / n for n in ("config.json", *also)]
    return hash_files([f for f in files if f.is_file()], extra=extra)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.normalize(x.float(), dim=-1, eps=1e-12)


class VideoTower(nn.Module):
    """uint8 frames (B, T, H, W, 3) -> unit (B, D). CLIP / SigLIP: per-frame features, each
    L2-normalised, averaged over T, normalised again; X-CLIP: its own video features."""

    def __init__(self, model: nn.Module, kind: str, mean, std) -> None:
        super().__init__()
        self.model, self.kind = model, kind
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def frame_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Normalised pixels (N, 3, H, W) -> (N, D) (the export contract of hf_video)."""
        out = self.model(pixel_values=pixel_values)
        return getattr(out, FAMILIES[self.kind].vision_output)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, t, h, w, _ = frames.shape
        x = frames.reshape(b * t, h, w, 3).permute(0, 3, 1, 2).float() / 255.0  # (BT, 3, H, W)
        x = (x - self.mean) / self.std
        if self.kind == "xclip":
            feats = self.model.get_video_features(pixel_values=x.reshape(b, t, 3, h, w))
            return _unit(_pooled(feats))  # (B, D)
        per_frame = _unit(self.frame_features(x)).reshape(b, t, -1)  # (B, T, D)
        return _unit(per_frame.mean(dim=1))  # (B, D)


class TextTower(nn.Module):
    """input_ids, attention_mask (B, S) int64 -> unit (B, D)."""

    def __init__(self, model: nn.Module, kind: str) -> None:
        super().__init__()
        self.model, self.kind = model, kind

    @property
    def config(self):
        """The transformers config (export reads the vocabulary size from it)."""
        return self.model.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.kind == "xclip":
            feats = self.model.get_text_features(input_ids=input_ids,
                                                 attention_mask=attention_mask)
            return _unit(_pooled(feats))
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        return _unit(getattr(out, FAMILIES[self.kind].text_output))


POOLINGS = ("mean", "last", "cls", "max", "mean_sqrt_len")


def pool(hidden: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Token states (B, S, D) and attention mask (B, S) -> (B, D), padding on either side.

    mean: average of the unmasked tokens; mean_sqrt_len: their sum / sqrt(count); max: the
    per-channel max over them; last: the last unmasked token (a decoder LM's summary); cls: the
    first unmasked one. Masked positions are replaced, not multiplied by 0, so a NaN a model may
    leave in a fully masked (padding) row never reaches the result."""
    keep = mask.unsqueeze(-1).bool()  # (B, S, 1)
    if mode in ("last", "cls"):
        pos = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)  # (B, S)
        # last: the largest position holding a token; cls: the first (argmax of 0/1 -> first 1)
        idx = (pos * mask).argmax(dim=1) if mode == "last" else mask.argmax(dim=1)  # (B,)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), idx]  # (B, D)
    if mode == "max":
        return torch.where(keep, hidden, torch.finfo(hidden.dtype).min).amax(dim=1)  # (B, D)
    summed = torch.where(keep, hidden, 0.0).sum(dim=1)  # (B, D)
    count = mask.sum(dim=1, keepdim=True).to(hidden.dtype).clamp(min=1e-9)  # (B, 1)
    if mode == "mean":
        return summed / count
    if mode == "mean_sqrt_len":
        return summed / count.sqrt()
    raise ValueError(f"pooling: {mode!r} is not one of {', '.join(POOLINGS)}")


class PooledTextTower(nn.Module):
    """A transformer encoder (BERT-like, T5 encoder) or decoder LM (Qwen, ...), its token states
    pooled over the mask and L2-normalised: input_ids, attention_mask (B, S) -> unit (B, D).

    decoder: a decoder LM gets position ids counted over the real tokens (mask cumsum), so a
    left-padded text has the positions it has alone (the LM would number them 0..S-1 whatever
    the mask says), and no KV cache. Rotary LMs (Qwen) are shift-invariant and would agree
    anyway; absolute-position ones (GPT-2, OPT) would not. Encoders pad right and need neither.
    """

    def __init__(self, model: nn.Module, pooling: str, decoder: bool = False) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling: {pooling!r} is not one of {', '.join(POOLINGS)}")
        self.model, self.pooling, self.decoder = model, pooling, decoder

    @property
    def config(self):
        return self.model.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        kwargs = {}
        if self.decoder:
            kwargs["position_ids"] = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)  # (B, S)
            kwargs["use_cache"] = False
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask,
                            **kwargs).last_hidden_state  # (B, S, D)
        return _unit(pool(hidden.float(), attention_mask, self.pooling))  # (B, D)


def _pooled(feats) -> torch.Tensor:
    # transformers 5 returns model outputs from get_*_features; 4.x returned the tensor
    return feats if isinstance(feats, torch.Tensor) else feats.pooler_output


def save_tower(model: nn.Module, folder: str | os.PathLike, source: Path,
               extra_files: tuple[str, ...] = ()) -> Path:
    """model.save_pretrained (safetensors) into folder, with the source's tokenizer and
    preprocessing files beside it so the folder loads on its own."""
    import shutil

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    if not (folder / "model.safetensors").is_file() and not any(folder.glob("*.safetensors")):
        raise RuntimeError(f"{folder}: save_pretrained wrote no safetensors file")
    for name in ("preprocessor_config.json", *extra_files):
        if (source / name).is_file() and (source / name).resolve() != (folder / name).resolve():
            shutil.copyfile(source / name, folder / name)
    return folder


def embedding_dim(kind: str, model_config, side_config) -> int:
    """A tower's output width: the projection for CLIP / X-CLIP, the hidden size for SigLIP
    (whose towers have no projection) and for models without one."""
    proj = getattr(model_config, "projection_dim", None)
    return int(proj if proj and kind != "siglip" else side_config.hidden_size)
