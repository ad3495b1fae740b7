"""The naive reference pipeline: scoring written the way a typical research script does it.

One video at a time: decode EVERY frame to a full-resolution RGB array, stack them, pick N, resize
and normalise each frame in torch, run the frame encoder frame by frame in eager PyTorch, pool,
encode the prompt, score. It computes the same reward as the engine (same weights, same frames,
same geometry up to the resize filter), so the engine's speed-up over it is a like-for-like ratio.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cleverward.engine.decode.resize import scaled_size
from cleverward.engine.decode.sampling import uniform_indices
from cleverward.engine.encoders.conse import _unit, conse_embed, temporal_stats
from cleverward.engine.encoders.mobilenet import IMAGENET_MEAN, IMAGENET_STD
from cleverward.engine.encoders.mobilenet_torch import OnnxMobileNet


def _read_all_frames(path: str) -> np.ndarray:
    import av

    with av.open(path) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack(frames)  # (T, H, W, 3): the whole clip in memory, as read_video() does


def _prep_frame(frame: np.ndarray, size: int = 224) -> torch.Tensor:
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255.0  # (1, 3, H, W)
    sh, sw = scaled_size(x.shape[2], x.shape[3], size, size)
    x = F.interpolate(x, size=(sh, sw), mode="bilinear", align_corners=False)
    top, left = (sh - size) // 2, (sw - size) // 2
    x = x[:, :, top : top + size, left : left + size]
    mean = torch.from_numpy(IMAGENET_MEAN)[None, :, None, None]
    std = torch.from_numpy(IMAGENET_STD)[None, :, None, None]
    return (x - mean) / std


class NaiveScorer:
    def __init__(self, model, frames: int = 8) -> None:
        self.model = model  # a RewardModel (default): its text encoder, head and class texts
        self.frames = frames
        self.net = OnnxMobileNet().eval()
        self.class_emb = model.video_encoder.class_embeddings
        self.top_k = model.video_encoder.top_k

    @torch.inference_mode()
    def score(self, path: str, prompt: str) -> float:
        clip = _read_all_frames(path)
        picked = clip[uniform_indices(len(clip), self.frames)]
        logits, pooled, small = [], [], []
        for frame in picked:  # frame by frame, eager
            x = _prep_frame(frame)
            lo, po = self.net(x)
            logits.append(lo.numpy()[0])
            pooled.append(po.numpy()[0])
            small.append(x[0].permute(1, 2, 0).numpy() * IMAGENET_STD + IMAGENET_MEAN)
        logits, pooled = np.stack(logits), np.stack(pooled)
        frames_u8 = (np.clip(np.stack(small), 0, 1) * 255).astype(np.uint8)
        video = np.concatenate([
            _unit(conse_embed(logits, self.class_emb, self.top_k).mean(0)),
            _unit(pooled.mean(0)),
            temporal_stats(frames_u8, pooled),
        ])[None].astype(np.float32)
        text = self.model.encode_texts([prompt])
        return float(self.model.score(video, text)[0, 0, 0])


def run_naive(model, videos: list[Path], prompts: list[str], frames: int = 8) -> dict:
    """Score each (video, prompt) in turn. The weights load and one clip is scored before the
    clock starts, as the engine is warmed up before its run. -> seconds, videos/s, and each
    video's own seconds and score."""
    scorer = NaiveScorer(model, frames)
    scorer.score(str(videos[0]), prompts[0])  # warm-up, untimed: first-call costs of the convs
    scores, per_video = [], []
    start = time.perf_counter()
    for v, p in zip(videos, prompts, strict=True):
        mark = time.perf_counter()
        scores.append(scorer.score(str(v), p))
        per_video.append(time.perf_counter() - mark)
    seconds = time.perf_counter() - start
    return {"videos": len(videos), "seconds": seconds, "videos_per_s": len(videos) / seconds,
            "per_video_s": per_video, "scores": scores}
