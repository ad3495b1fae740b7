"""Scoring frames in memory: the pipeline behind RewardModel.score_frames / score_files.

    frames (tensor | array, any device) -> prepare_frames (sample, scale, crop; on the device)
      -> video embedding (the encoder's torch module on the device; or ONNX Runtime on the
         host for the default's exact score-dir path) -> reward head with the prompts' text
         embeddings (host, cached) -> {name: scores} on the frames' device

Clips go through in chunks sized to a memory budget. The same functions serve the reward
server's batches (engine/serve/), which is why a served score equals score_frames.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cleverward.engine.dimensions import SCORE_NAMES
from cleverward.engine.frames_encode import (
    DEFAULT_TEMPERATURE,
    check_precision,
    device_video_module,
    frozen_call,
    runs_ort_frames,
)
from cleverward.engine.frames_input import FrameSpec, as_frames_tensor, prepare_frames

# Bytes of activations per input byte of a prepared frame, for the memory budget: MobileNetV2's
# widest activation (112x112x96 fp32) is ~7x a 224x224x3 fp32 frame, and a few are alive at once.
ACTIVATION_FACTOR = 16
TEXT_CACHE_SIZE = 8192


@dataclass(frozen=True)
class ScoreOptions:
    """How score_frames runs. memory_budget_mb bounds one chunk's frames and activations."""

    all_pairs: bool = False
    differentiable: bool = False
    temperature: float = DEFAULT_TEMPERATURE  # smooth ConSE (differentiable only)
    num_frames: int | None = None  # frames sampled per clip; None: the model's (config.json)
    memory_budget_mb: float = 1024.0

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError(f"temperature: must be > 0, got {self.temperature}")
        if self.num_frames is not None and not 1 <= self.num_frames <= 512:
            raise ValueError(f"num_frames: must be in 1..512, got {self.num_frames}")
        if self.memory_budget_mb <= 0:
            raise ValueError(f"memory_budget_mb: must be > 0, got {self.memory_budget_mb}")


def check_prompts(prompts, batch: int, all_pairs: bool) -> list[str]:
    if isinstance(prompts, str):
        raise TypeError("prompts: give a list of strings, not one string")
    prompts = list(prompts)
    bad = [i for i, p in enumerate(prompts) if not isinstance(p, str)]
    if bad:
        raise TypeError(f"prompts: item {bad[0]} is {type(prompts[bad[0]]).__name__}, not str")
    for i, p in enumerate(prompts):
        try:
            p.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"prompts: item {i} is not valid text (a lone surrogate at "
                             f"character {exc.start})") from None
    if not prompts:
        raise ValueError("prompts: empty; give one string per clip (or any number with "
                         "all_pairs=True)")
    if not all_pairs and len(prompts) != batch:
        raise ValueError(f"prompts: {len(prompts)} strings for {batch} clips; give one per clip "
                         f"(row-aligned), or pass all_pairs=True to score every clip x prompt")
    return prompts


class _Method(nn.Module):
    """Calls one method of a module as forward (so frozen_call can detach its weights)."""

    def __init__(self, module: nn.Module, method: str) -> None:
        super().__init__()
        self.module, self.method = module, method

    def forward(self, *args):
        return getattr(self.module, self.method)(*args)


@dataclass
class StagedClips:
    """Decoded clips on their way to the device (FramesScorer.stage_clips): the clips as given
    (iterating yields them, for a clip-by-clip retry) and one staged batch per shape."""

    clips: list
    groups: list  # [(row indices, device_feed.Staged (b, N, H, W, 3))]

    def __len__(self) -> int:
        return len(self.clips)

    def __iter__(self):
        return iter(self.clips)


class FramesScorer:
    """Per model: its head and video module on each device used, and a text-embedding cache.
    Thread-safe for the caches; the modules are only read."""

    def __init__(self, model) -> None:
        self.model = model
        self._lock = threading.Lock()
        self._heads: dict[str, nn.Module] = {}
        self._video: dict[str, nn.Module | None] = {}
        self._text: OrderedDict[str, np.ndarray] = OrderedDict()

    def spec(self, frames: int | None = None) -> FrameSpec:
        h, w = self.model.video_encoder.frame_size
        return FrameSpec(frames or self.model.cfg.frames, h, w)

    def parts(self, device: torch.device, ort: bool = False
              ) -> tuple[nn.Module, nn.Module | None]:
        """(head, video module or None) on `device`. ort: the module whose frame network runs
        on ONNX Runtime (engine/frames_encode.runs_ort_frames)."""
        return self.head(device), self.video_module(device, ort)

    def head(self, device: torch.device) -> nn.Module:
        """The reward head on `device`: the model's own on CPU, a copy elsewhere."""
        key = str(device)
        with self._lock:
            if key not in self._heads:
                head = self.model.head
                self._heads[key] = head if device.type == "cpu" else copy.deepcopy(head).to(device)
            return self._heads[key]

    def video_module(self, device: torch.device, ort: bool = False) -> nn.Module | None:
        """The video encoder's module on `device`. A half-precision frame network (the
        encoder spec's precision=fp16 / bf16) on a device that is not CUDA is refused here,
        so RewardModel.to says so before any clip is decoded."""
        encoder = self.model.video_encoder
        check_precision(getattr(encoder, "precision", "fp32"), device, self.model.cfg.video_encoder)
        key = f"{device}{':ort' if ort else ''}"
        with self._lock:
            if key not in self._video:
                video = device_video_module(self.model.video_encoder, ort=ort)
                if video is not None and device.type != "cpu":
                    video = copy.deepcopy(video).to(device)
                self._video[key] = video
            return self._video[key]

    def text_embeddings(self, prompts: list[str], device, dtype) -> torch.Tensor:
        """Unique prompts -> (P, Dt) on device; embedded once each (RL loops repeat prompts)."""
        with self._lock:
            missing = [p for p in dict.fromkeys(prompts) if p not in self._text]
        if missing:
            fresh = self.model.encode_texts(missing)  # (M, Dt), host
            with self._lock:
                for p, v in zip(missing, fresh, strict=True):
                    self._text[p] = v
                while len(self._text) > TEXT_CACHE_SIZE:
                    self._text.popitem(last=False)
        with self._lock:
            rows = np.stack([self._text[p] for p in prompts])  # (P, Dt)
        return torch.from_numpy(rows).to(device=device, dtype=dtype)

    # -- the pipeline, in steps the server reuses ------------------------------------------

    def prepare(self, frames, opts: ScoreOptions, name: str = "frames") -> torch.Tensor:
        return prepare_frames(frames, self.spec(opts.num_frames), name)

    def embed(self, prepared: torch.Tensor, opts: ScoreOptions) -> torch.Tensor:
        """(B, N, H, W, 3) 0..255 -> (B, Dv) on the same device."""
        if opts.differentiable:
            video = self.video_module(prepared.device)
            if video is None:
                spec = self.model.cfg.video_encoder
                raise ValueError(f"differentiable=True: video encoder {spec} has no torch "
                                 "module (the default's and clip:/siglip:/xclip: do)")
            return video(prepared, soft=True, temperature=opts.temperature)
        eight_bit = not prepared.is_floating_point() or bool(
            torch.equal(prepared, prepared.round()))
        return self.embed_batch(prepared, eight_bit)

    def embed_batch(self, frames: torch.Tensor, eight_bit: bool = True) -> torch.Tensor:
        """Inference: (B, N, H, W, 3) 0..255 frames (uint8 or float) -> (B, Dv) on their device.
        eight_bit: the frames hold whole levels (decoded pixels), so the encoder's ONNX Runtime
        frame network may take them on CPU as score-dir's does."""
        ort = eight_bit and runs_ort_frames(self.model.video_encoder, frames.device)
        video = self.video_module(frames.device, ort=ort)
        with torch.no_grad():
            if video is None:
                return self._embed_on_host(frames)
            return video(frames)

    def stage_clips(self, clips: Sequence, device: torch.device) -> StagedClips:
        """Start moving decoded clips to `device`, one batch per shape: on CUDA the copies run
        on the feed's side stream (engine/device_feed), so they overlap work queued before
        embed_clips takes them; on CPU nothing is copied."""
        groups: dict[tuple, list[int]] = {}
        for i, clip in enumerate(clips):
            groups.setdefault(tuple(clip.shape), []).append(i)
        return StagedClips(list(clips), [(rows, _stage([clips[i] for i in rows], device))
                                         for rows in groups.values()])

    def embed_clips(self, clips: Sequence, device: torch.device) -> torch.Tensor:
        """Decoded clips, uint8 (N, H, W, 3) each (host arrays, or tensors on a GPU from DALI),
        or StagedClips, -> (B, Dv) on `device`. Clips of one shape (the usual case: the
        decoder samples N frames at the encoder's size) go through the encoder in one batch;
        host frames reach the device through pinned memory (engine/device_feed)."""
        if not len(clips):
            return torch.zeros((0, self.model.video_encoder.dim), device=device)
        # Every group's copy is queued first (on CUDA on the feed's side stream), so the copy
        # of group g+1 runs while group g encodes; on CPU staging is the identity.
        staged = clips if isinstance(clips, StagedClips) else self.stage_clips(clips, device)
        out: list = [None] * len(clips)
        for rows, batch in staged.groups:
            vectors = self.embed_batch(batch.ready())  # (b, Dv)
            for i, vec in zip(rows, vectors, strict=True):
                out[i] = vec
        return torch.stack(out)  # (B, Dv)

    def _embed_on_host(self, prepared: torch.Tensor) -> torch.Tensor:
        """An encoder with no torch module: its own encode on host uint8 clips."""
        clips = prepared.detach().round().clamp(0, 255).to("cpu", torch.uint8).numpy()
        vec = self.model.video_encoder.encode(list(clips))  # (B, Dv)
        return torch.from_numpy(vec).to(prepared.device)

    def head_scores(self, video: torch.Tensor, prompts: list[str], all_pairs: bool,
                    differentiable: bool) -> torch.Tensor:
        """video (B, Dv) -> (B, P, K) with all_pairs, else (B, K) row-aligned."""
        head = self.head(video.device)
        unique = list(dict.fromkeys(prompts))
        text = self.text_embeddings(unique, video.device, torch.float32)  # (U, Dt)
        if differentiable:
            matrix = frozen_call(_Method(head, "forward"), video, text)  # (B, U, K)
        else:
            matrix = head.score_matrix(video.float(), text).clone()  # (B, U, K); as score-dir
        if all_pairs:
            return matrix[:, [unique.index(p) for p in prompts]]  # (B, P, K)
        col = torch.tensor([unique.index(p) for p in prompts], device=video.device)
        return matrix[torch.arange(len(prompts), device=video.device), col]  # (B, K)

    def chunk_size(self, opts: ScoreOptions, dtype_bytes: int = 4) -> int:
        spec = self.spec(opts.num_frames)
        per_clip = spec.frames * spec.height * spec.width * 3 * dtype_bytes * ACTIVATION_FACTOR
        return max(1, int(opts.memory_budget_mb * 2**20 // per_clip))

    def score_frames(self, frames, prompts: Sequence[str], opts: ScoreOptions,
                     device: torch.device | None = None) -> dict[str, torch.Tensor]:
        x = as_frames_tensor(frames)
        if device is not None and isinstance(frames, np.ndarray):
            x = x.to(device)  # arrays go to the model's device; tensors stay where they are
        prompts = check_prompts(prompts, x.shape[0], opts.all_pairs)
        step = self.chunk_size(opts)
        out = []
        for start in range(0, x.shape[0], step):
            prepared = self.prepare(x[start : start + step], opts)
            video = self.embed(prepared, opts)  # (b, Dv)
            rows = prompts if opts.all_pairs else prompts[start : start + step]
            out.append(self.head_scores(video, rows, opts.all_pairs, opts.differentiable))
        return named_scores(torch.cat(out))


def _stack(clips: list, device: torch.device) -> torch.Tensor:
    """Clips of one shape -> (b, N, H, W, 3) on `device`: host arrays stacked on the host and
    copied once (pinned on a GPU), tensors already on a GPU (DALI) stacked there."""
    from cleverward.engine.device import to_device

    if all(isinstance(c, np.ndarray) for c in clips):
        return to_device(np.stack(clips), device)
    return torch.stack([to_device(c, device) for c in clips])


def _stage(clips: list, device: torch.device):
    """Clips of one shape -> a Staged (b, N, H, W, 3) batch on its way to `device`: host arrays
    stacked on the host and copied once, on CUDA through pinned memory on the side stream of
    engine/device_feed; tensors already on a GPU (DALI) stacked there."""
    from cleverward.engine.device_feed import Staged, device_feed

    if all(isinstance(c, np.ndarray) for c in clips):
        return device_feed(device).stage(np.stack(clips))
    return Staged(_stack(clips, device))


def named_scores(scores: torch.Tensor) -> dict[str, torch.Tensor]:
    """(..., K) -> {"overall": (...), "dynamism": (...), ...} in SCORE_NAMES order."""
    return {name: scores[..., k] for k, name in enumerate(SCORE_NAMES[: scores.shape[-1]])}


@dataclass(frozen=True)
class FileScores:
    """score_files' result: scores as score_frames (NaN rows for files that failed) and, for
    each failed file, why (score-dir's row error)."""

    scores: dict[str, torch.Tensor]
    errors: dict[str, str]


def score_files(scorer: FramesScorer, paths: Sequence[str], prompts: Sequence[str],
                opts: ScoreOptions, device: torch.device, workers: int = 2) -> FileScores:
    """Decode each file as score-dir does (the decode pool, the model's decode settings), then
    score the frames; a file that cannot be decoded gets NaN scores and an error, the rest go on."""
    from cleverward.engine.decode_pool import decode_stream

    if isinstance(paths, str) or not paths:
        raise ValueError("paths: give a non-empty list of video files or frame folders")
    paths = [str(p) for p in paths]
    prompts = check_prompts(prompts, len(paths), opts.all_pairs)
    cfg = scorer.model.decode_config(frames=opts.num_frames)
    k = len(SCORE_NAMES)
    shape = (len(paths), len(prompts), k) if opts.all_pairs else (len(paths), k)
    out = torch.full(shape, float("nan"), device=device)
    errors: dict[str, str] = {}
    step, held = scorer.chunk_size(opts), []  # (row, frames) decoded, not scored yet

    def flush() -> None:
        rows = [i for i, _ in held]
        clips = _stack([f for _, f in held], device)  # (b, N, H, W, 3), pinned copy to a GPU
        texts = prompts if opts.all_pairs else [prompts[i] for i in rows]
        got = scorer.score_frames(clips, texts, opts)
        out[rows] = torch.stack(list(got.values()), dim=-1)
        held.clear()

    items = ((str(i), p) for i, p in enumerate(paths))
    for item in decode_stream(items, cfg, workers=workers):
        if item.frames is None:
            errors[item.path] = item.error or "could not be decoded"
        else:
            held.append((int(item.key), item.frames))
        if len(held) >= step:
            flush()
    if held:
        flush()
    return FileScores(named_scores(out), errors)
