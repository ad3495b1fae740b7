"""Checkpoints: a folder holding `config.json` + `model.safetensors`. Never pickle.

config.json records the encoders (registry spec strings), the head's shape, the decode settings
the model was trained with, and free-form provenance (datasets, pair counts, steps, trainer).
Named models (`default`) are folders shipped inside the package. A checkpoint trained with
unfrozen encoders also holds their fine-tuned weights, each tower in a sub-folder written by
save_pretrained (safetensors), named in config.json as e.g. "clip:./video_encoder" (resolved
against the checkpoint folder on load).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

FORMAT = "cleverward-reward/1"
ASSETS = Path(__file__).resolve().parent / "assets"
NAMED_MODELS = {"default": ASSETS / "default"}


@dataclass(frozen=True)
class CheckpointConfig:
    video_encoder: str
    text_encoder: str
    head: dict
    frames: int = 8
    provenance: dict = field(default_factory=dict)
    format: str = FORMAT

    def __post_init__(self) -> None:
        if self.format != FORMAT:
            raise ValueError(f"format: expected {FORMAT!r}, got {self.format!r}")
        for key in ("video_dim", "text_dim"):
            if key not in self.head:
                raise ValueError(f"head: missing {key!r}")

    @classmethod
    def from_dict(cls, data: dict, source: str = "config.json") -> CheckpointConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{source}: unknown keys {sorted(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(f"{source}: {exc}") from exc

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def resolve(name_or_path: str | os.PathLike) -> Path:
    """A named model or a checkpoint folder -> the folder; clear error otherwise."""
    text = str(name_or_path)
    if text in NAMED_MODELS:
        return NAMED_MODELS[text]
    path = Path(text).expanduser()
    if not path.is_dir():
        named = ", ".join(NAMED_MODELS)
        raise FileNotFoundError(f"model {text!r}: not a named model ({named}) nor a folder")
    for required in ("config.json", "model.safetensors"):
        if not (path / required).is_file():
            raise FileNotFoundError(f"model {text!r}: {path / required} is missing")
    return path


def resolve_encoder_specs(cfg: CheckpointConfig, folder: Path) -> CheckpointConfig:
    """Encoder locations written as "./sub" (fine-tuned towers saved inside the checkpoint)
    -> absolute paths under the checkpoint folder, so the folder can be moved whole."""
    from cleverward.engine.encoders.registry import EncoderSpec

    def fix(text: str) -> str:
        spec = EncoderSpec.parse(text)
        if spec.location is None or not spec.location.startswith("./"):
            return text
        inside = (folder / spec.location).resolve()
        return str(EncoderSpec(spec.kind, str(inside), spec.options))

    return replace(cfg, video_encoder=fix(cfg.video_encoder), text_encoder=fix(cfg.text_encoder))


def load_checkpoint(name_or_path: str | os.PathLike) -> tuple[CheckpointConfig, dict]:
    from safetensors.torch import load_file

    folder = resolve(name_or_path)
    config_file = folder / "config.json"
    try:
        data = json.loads(config_file.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{config_file}: not valid JSON ({exc})") from exc
    return CheckpointConfig.from_dict(data, str(config_file)), load_file(
        str(folder / "model.safetensors")
    )


def save_checkpoint(folder: str | os.PathLike, cfg: CheckpointConfig, state: dict) -> Path:
    """Write both files via temp names + rename, so a crash never leaves a half checkpoint."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()}
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".tmp", delete=False) as tmp:
        pass
    save_file(tensors, tmp.name, metadata={"format": FORMAT})
    os.chmod(tmp.name, 0o666 & ~_umask())  # mkstemp makes 0600; others must read it as config
    os.replace(tmp.name, folder / "model.safetensors")
    tmp_cfg = folder / "config.json.tmp"
    tmp_cfg.write_text(json.dumps(cfg.to_dict(), indent=2, sort_keys=True) + "\n")
    os.replace(tmp_cfg, folder / "config.json")
    return folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
