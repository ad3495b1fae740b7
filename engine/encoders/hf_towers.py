"""Hugging Face dual-encoder towers (CLIP, SigLIP, X-CLIP) as torch modules, shared by hf_video
and hf_text.

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


def local_folder(location: str | None, kind: str) -> Path:
    """A folder, or a hub id resolved to its local snapshot (downloaded unless offline)."""
    if not location:
        raise ValueError(f"{kind}: name a folder or hub id, e.g. {kind}:/models/{kind}")
    path = Path(location).expanduser()
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(location, allow_patterns=[
            "*.json", "*.safetensors", "*.txt", "*.model"]))
    except Exception as exc:  # noqa: BLE001 - the hub's errors are many; say what was asked
        raise FileNotFoundError(f"{kind}:{location}: not a folder, and the hub id cannot be "
                                f"resolved here ({type(exc).__name__})") from exc


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
    return cls.from_pretrained(str(folder), **kwargs).eval()


def pixel_stats(kind: str, folder: Path) -> tuple[list[float], list[float]]:
    pre = folder / "preprocessor_config.json"
    if pre.is_file():
        data = json.loads(pre.read_text())
        if "image_mean" in data and "image_std" in data:
            return list(data["image_mean"]), list(data["image_std"])
    return list(FAMILIES[kind].mean), list(FAMILIES[kind].std)


def folder_fingerprint(folder: Path, extra: str, also: tuple[str, ...] = ()) -> str:
    files = sorted(folder.glob("*.safetensors")) + [folder / n for n in ("config.json", *also)]
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

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.kind == "xclip":
            feats = self.model.get_text_features(input_ids=input_ids,
                                                 attention_mask=attention_mask)
            return _unit(_pooled(feats))
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        return _unit(getattr(out, FAMILIES[self.kind].text_output))


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
