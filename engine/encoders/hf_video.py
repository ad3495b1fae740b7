"""Video encoders from Hugging Face image-text models: ``clip:``, ``siglip:``, ``xclip:``.

    build_video_encoder("clip:/models/clip-vit-b32")     # or a hub id

Frames arrive decoded at the tower's image size (the decoder scales and centre-crops), uint8
(N, H, W, 3); each clip becomes one unit vector (engine/encoders/hf_towers.py VideoTower). The
whole vector is aligned with the same family's text tower (aligned_dim == dim).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import torch

from cleverward.engine.encoders.base import VideoEncoder
from cleverward.engine.encoders.hf_towers import (
    FAMILIES,
    VideoTower,
    embedding_dim,
    folder_fingerprint,
    load_tower,
    local_folder,
    pixel_stats,
    read_model_config,
    require_safetensors,
    save_tower,
)
from cleverward.engine.encoders.registry import register_video_encoder


class HFVideoEncoder(VideoEncoder):
    def __init__(self, kind: str, location: str | None, batch_size: int = 8) -> None:
        self.kind = kind
        self.name = f"{kind}-video"
        self.path = local_folder(location, kind)
        self.batch_size = batch_size
        require_safetensors(self.path, f"{kind}:{location}")
        self.mean, self.std = pixel_stats(kind, self.path)

    @cached_property
    def tower(self) -> VideoTower:
        """The trainable module: uint8 (B, T, H, W, 3) -> unit (B, dim)."""
        model = load_tower(self.kind, self.path, "vision")
        return VideoTower(model, self.kind, self.mean, self.std).eval()

    @cached_property
    def _model_config(self):
        """The folder's config, read without the weights (the width is checked at load)."""
        return read_model_config(self.path, f"{self.kind}:{self.path}")

    @cached_property
    def _config(self):
        cfg = self._model_config
        return getattr(cfg, "vision_config", cfg)  # a whole model's config: its vision side

    @property
    def dim(self) -> int:  # type: ignore[override]
        return embedding_dim(self.kind, self._model_config, self._config)

    @property
    def aligned_dim(self) -> int:  # type: ignore[override]
        return self.dim

    @property
    def frame_size(self) -> tuple[int, int]:  # type: ignore[override]
        size = int(self._config.image_size)
        return size, size

    def encode(self, clips: list[np.ndarray]) -> np.ndarray:
        if not clips:
            return np.zeros((0, self.dim), np.float32)
        out = np.zeros((len(clips), self.dim), np.float32)
        groups: dict[tuple, list[int]] = {}
        for i, clip in enumerate(clips):  # clips of one shape share a tower call
            groups.setdefault(tuple(clip.shape), []).append(i)
        device = next(self.tower.parameters()).device
        with torch.inference_mode():
            for rows in groups.values():
                batch = torch.from_numpy(np.stack([clips[i] for i in rows])).to(device)
                out[rows] = self.tower(batch).float().cpu().numpy()  # (b, dim)
        return out  # (B, dim)

    def torch_module(self):
        """pixel_values (N, 3, H, W), normalised -> (N, D) (the ONNX export contract)."""
        if self.kind == "xclip":
            raise NotImplementedError("xclip: frames are encoded jointly, not one by one")
        tower = self.tower

        class _Frames(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.tower = tower

            def forward(self, pixel_values):
                return self.tower.frame_features(pixel_values)

        return _Frames().eval()

    def save_tower(self, tower: VideoTower, folder) -> None:
        """Write a (fine-tuned) tower as a folder this family's spec loads."""
        save_tower(tower.model, folder, self.path)

    @cached_property
    def _fingerprint(self) -> str:
        extra = f"{self.kind}-video;mean={self.mean};std={self.std};frames=mean-l2"
        return folder_fingerprint(self.path, extra)

    def fingerprint(self) -> str:
        return self._fingerprint


def _builder(kind: str):
    def build(location: str | None = None, batch_size: str = "8") -> HFVideoEncoder:
        return HFVideoEncoder(kind, location, batch_size=int(batch_size))

    return build


for _kind in FAMILIES:
    register_video_encoder(_kind)(_builder(_kind))
