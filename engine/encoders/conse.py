"""The offline default video encoder: MobileNetV2 frames made text-aligned with ConSE.

ConSE (Norouzi et al., 2014) embeds an image as the posterior-weighted mean of the text
embeddings of its top-k classes. Here each frame's top-k ImageNet posteriors (renormalised) weight
the MiniLM embeddings of those class texts; frame vectors are averaged over the clip. The result
lives in MiniLM's space, so cosine with a MiniLM prompt embedding is a zero-shot reward.

Output per clip, float32 (1668,):
    [0:384]      ConSE embedding, unit norm               (aligned with the text encoder)
    [384:1664]   mean pooled MobileNetV2 feature, unit norm  (appearance, for training)
    [1664:1668]  temporal statistics: motion, flicker, jerk, feature drift (for training)
The extra components start with zero weight in the default reward head, so they change nothing
until a model is trained to use them.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from cleverward.engine.encoders.base import VideoEncoder, hash_files
from cleverward.engine.encoders.class_texts import ASSET, RECIPE, load_class_embeddings
from cleverward.engine.encoders.mobilenet import mobilenet_onnx_path, run_mobilenet
from cleverward.engine.encoders.registry import register_video_encoder

SEMANTIC_DIM = 384
POOLED_DIM = 1280
TEMPORAL_DIM = 4
TORCH_CHUNK = 4  # frames per eager torch call (see frame_features)


def _unit(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), 1e-12)


def conse_embed(logits: np.ndarray, class_emb: np.ndarray, top_k: int) -> np.ndarray:
    """logits (F, C), class_emb (C, D) -> unit (F, D): top-k renormalised posterior mean."""
    z = logits - logits.max(axis=1, keepdims=True)
    prob = np.exp(z)
    prob /= prob.sum(axis=1, keepdims=True)  # (F, C)
    top = np.argpartition(-prob, top_k - 1, axis=1)[:, :top_k]  # (F, k)
    w = np.take_along_axis(prob, top, axis=1)
    w /= w.sum(axis=1, keepdims=True)  # (F, k)
    return _unit(np.einsum("fk,fkd->fd", w, class_emb[top]))  # (F, D)


def temporal_stats(frames: np.ndarray, pooled: np.ndarray) -> np.ndarray:
    """frames uint8 (N, H, W, 3), pooled (N, 1280) -> (4,): how the clip changes over time.

    motion: mean |frame difference|; flicker: std of mean brightness; jerk: mean |second
    difference| (shake); drift: 1 - mean cosine of consecutive pooled features. All in ~[0, 1].
    """
    if len(frames) < 2:
        return np.zeros(TEMPORAL_DIM, np.float32)
    gray = frames[:, ::4, ::4].astype(np.float32).mean(axis=-1) / 255.0  # (N, H/4, W/4)
    d1 = np.diff(gray, axis=0)
    motion = np.abs(d1).mean()
    flicker = gray.mean(axis=(1, 2)).std()
    jerk = np.abs(np.diff(d1, axis=0)).mean() if len(frames) > 2 else 0.0
    p = _unit(pooled)
    drift = 1.0 - float((p[1:] * p[:-1]).sum(axis=1).mean())
    return np.array([motion, flicker, jerk, drift], np.float32)


PRECISIONS = ("fp32", "fp16", "bf16")  # the spec's ?precision=; fp16 / bf16 on CUDA only


class ConSEVideoEncoder(VideoEncoder):
    name = "conse-mobilenetv2"
    dim = SEMANTIC_DIM + POOLED_DIM + TEMPORAL_DIM
    aligned_dim = SEMANTIC_DIM
    frame_size = (224, 224)

    def __init__(self, top_k: int = 10, threads: int = 0, runtime: str = "ort",
                 precision: str = "fp32") -> None:
        if not 1 <= top_k <= 1000:
            raise ValueError(f"top_k: must be in 1..1000, got {top_k}")
        if runtime not in ("ort", "torch"):
            raise ValueError(f"runtime: must be 'ort' or 'torch', got {runtime!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision: must be one of {', '.join(PRECISIONS)}, "
                             f"got {precision!r}")
        self.top_k = top_k
        self.threads = threads
        self.runtime = runtime
        # fp16 / bf16: the frame network on a CUDA device in half precision, channels_last
        # (engine/frames_encode.ConSEFrames); refused on CPU (engine/frames_api.video_module).
        self.precision = precision

    @cached_property
    def _torch_net(self):
        from cleverward.engine.encoders.mobilenet_torch import OnnxMobileNet

        return OnnxMobileNet().eval()

    def frame_features(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (F, 224, 224, 3) -> (logits (F, 1000), pooled (F, 1280)) on the chosen runtime.
        The torch twin matches ONNX Runtime to ~1e-5, so both share cache entries."""
        if self.precision != "fp32":
            raise ValueError(f"precision={self.precision}: the frame network runs in "
                             f"{self.precision} on a CUDA device only; this is the host path")
        if self.runtime == "ort":
            return run_mobilenet(frames, threads=self.threads)
        import torch

        from cleverward.engine.encoders.mobilenet import preprocess

        x = torch.from_numpy(preprocess(frames))  # (F, 3, 224, 224)
        if len(x) == 0:
            return np.zeros((0, 1000), np.float32), np.zeros((0, POOLED_DIM), np.float32)
        outs = []
        with torch.inference_mode():
            # Small chunks, channels-last: eager CPU convolutions run slower per frame as the
            # batch grows past a few frames (the activations leave the caches; 32 frames took
            # 4x the time per frame of 4 here), and oneDNN's depthwise kernels prefer NHWC.
            for i in range(0, len(x), TORCH_CHUNK):
                chunk = x[i : i + TORCH_CHUNK].contiguous(memory_format=torch.channels_last)
                outs.append(self._torch_net(chunk))
        return (torch.cat([o[0] for o in outs]).numpy(),  # (F, 1000)
                torch.cat([o[1] for o in outs]).numpy())  # (F, 1280)

    @cached_property
    def class_embeddings(self) -> np.ndarray:
        return load_class_embeddings()  # (1000, 384)

    def encode(self, clips: list[np.ndarray]) -> np.ndarray:
        if not clips:
            return np.zeros((0, self.dim), np.float32)
        frames = np.concatenate(clips)  # (sum N, 224, 224, 3): one session call for the batch
        logits, pooled = self.frame_features(frames)
        per_frame = conse_embed(logits, self.class_embeddings, self.top_k)  # (F, 384)
        out, start = [], 0
        for clip in clips:
            sl = slice(start, start + len(clip))
            start += len(clip)
            out.append(np.concatenate([
                _unit(per_frame[sl].mean(axis=0)),
                _unit(pooled[sl].mean(axis=0)),
                temporal_stats(clip, pooled[sl]),
            ]))
        return np.stack(out).astype(np.float32)  # (B, 1668)

    @cached_property
    def _fingerprint(self) -> str:
        extra = f"conse;top_k={self.top_k};recipe={RECIPE};dims=384+1280+4"
        if self.precision != "fp32":  # half-precision vectors differ: their own cache entries
            extra += f";precision={self.precision}"
        return hash_files([mobilenet_onnx_path(), ASSET], extra=extra)

    def fingerprint(self) -> str:
        return self._fingerprint


@register_video_encoder("conse-mobilenetv2")
def build_conse(
    location: str | None = None, top_k: str = "10", runtime: str = "ort",
    precision: str = "fp32",
) -> ConSEVideoEncoder:
    if location:
        raise ValueError("conse-mobilenetv2 takes no location (its weights ship in a package)")
    return ConSEVideoEncoder(top_k=int(top_k), runtime=runtime, precision=precision)
