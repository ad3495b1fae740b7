"""RewardModel: the two encoders, the reward head, and the decode settings, as one object.

    model = RewardModel.from_pretrained("default")      # or a folder, org/name, clip:DIR
    video = model.encode_videos([clip])                 # uint8 (N, H, W, 3) clips -> (B, Dv)
    text = model.encode_texts(["a corgi surfing"])      # -> (P, Dt)
    scores = model.score(video, text)                   # -> (B, P, K), K = len(SCORE_NAMES)
    fast = model.with_backend("onnx")                   # same API; text + head on ONNX Runtime
    r = model.score_frames(frames, prompts)             # tensors in memory, any device (README)
"""

from __future__ import annotations

import os
from functools import cached_property

import numpy as np
import torch

from cleverward.engine.checkpoint import (
    NAMED_MODELS,
    CheckpointConfig,
    CheckpointError,
    check_encoder_widths,
    load_checkpoint,
    model_identity_text,
    resolve,
    resolve_encoder_specs,
    save_checkpoint,
)
from cleverward.engine.config import DecodeConfig
from cleverward.engine.encoders.catalog import build_text_encoder, build_video_encoder
from cleverward.engine.reward_head import RewardHead, RewardHeadConfig


class RewardModel:
    backend = "torch"  # where encode_texts / score run; see with_backend

    def __init__(self, cfg: CheckpointConfig, head: RewardHead, name: str = "") -> None:
        self.cfg = cfg
        self.head = head.eval()
        self.name = name or "unsaved"

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, device=None) -> RewardModel:
        """Load and validate (engine/checkpoint.py): every failure, the encoders' widths
        against the head's included, is one CheckpointError before any video is decoded.

        name_or_path: a named model ("default"), a checkpoint folder, a hub id ("org/name")
        in the local Hugging Face cache, or an aligned family's towers ("clip:DIR",
        "siglip:DIR", "xclip:DIR", or a cached hub id after the colon): the zero-shot model,
        its untrained head the towers' own cosine (engine/zero_shot.py)."""
        from cleverward.engine.zero_shot import from_spec, is_encoder_spec

        text = str(name_or_path)
        if is_encoder_spec(text):
            cfg, head = from_spec(text)
            model = cls(cfg, head, name=cfg.video_encoder)
            return model.to(device) if device is not None else model
        folder = resolve(name_or_path)  # named, folder, or cached hub snapshot
        cfg, state = load_checkpoint(folder)  # names and shapes checked, all finite
        cfg = resolve_encoder_specs(cfg, folder)  # "clip:./video_encoder"
        head = RewardHead(RewardHeadConfig(**cfg.head))
        head.load_state_dict(state, strict=True)
        overflow = head.overflow_problem()  # finite weights that still overflow: no score
        if overflow is not None:
            raise CheckpointError(folder / "model.safetensors", overflow)
        name = text if text in NAMED_MODELS else str(folder.resolve())
        model = cls(cfg, head, name=name)
        check_encoder_widths(cfg, folder, *model._encoder_widths(folder))
        return model.to(device) if device is not None else model

    @property
    def identity(self) -> str:
        """How output rows name this model: its resolved location (a named model by name)
        and its head's weights digest, so `runs/r1`, `./runs/r1` and the absolute path are
        one model, and a checkpoint retrained in place is another."""
        return model_identity_text(self.name, self.head.state_dict())

    def _encoder_widths(self, folder) -> tuple[int, int]:
        """(video dim, text dim) of the named encoders: building one reads its config only."""
        widths = []
        for side in ("video", "text"):
            try:
                widths.append(int(getattr(self, f"{side}_encoder").dim))
            except (FileNotFoundError, ValueError, KeyError) as exc:
                spec = getattr(self.cfg, f"{side}_encoder")
                raise CheckpointError(folder / "config.json",
                                      f"{side}_encoder {spec!r}: {exc}") from None
        return widths[0], widths[1]

    def with_backend(self, backend: str, device=None) -> RewardModel:
        """This model with encode_texts / score on `backend`: "torch" (itself), "onnx" (ONNX
        Runtime) or "tensorrt". Exports are built on first use and cached (engine/runtime.py).
        device: the run's, where ORT sessions ask for execution providers (default: the
        model's)."""
        if backend == self.backend:
            return self
        return compile_model(self, backend, device=device)

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        save_checkpoint(folder, self.cfg, self.head.state_dict())

    @cached_property
    def video_encoder(self):
        return build_video_encoder(self.cfg.video_encoder)

    @cached_property
    def text_encoder(self):
        return build_text_encoder(self.cfg.text_encoder)

    def decode_config(self, frames: int | None = None, decoder: str = "auto") -> DecodeConfig:
        h, w = self.video_encoder.frame_size
        return DecodeConfig(frames=frames or self.cfg.frames, height=h, width=w, decoder=decoder)

    def fingerprint(self) -> str:
        """Identifies what produces video embeddings (keys the cache; the head is not part)."""
        return self.video_encoder.fingerprint()

    def encode_videos(self, clips: list) -> np.ndarray:
        """Decoded clips, uint8 (N, H, W, 3) each -> float32 (B, Dv) on the host."""
        return self.embed_clips(clips).float().cpu().numpy()

    def embed_clips(self, clips: list) -> torch.Tensor:
        """Decoded clips (host arrays, or tensors on the GPU from DALI) -> (B, Dv) on the model's
        device: every stage of the video encoder runs there (engine/frames_api.embed_clips)."""
        return self.frames_scorer.embed_clips(clips, self.device)

    def stage_clips(self, clips: list):
        """Start copying decoded clips to the model's device (a side CUDA stream; nothing on
        CPU); embed_clips takes the result (engine/frames_api.StagedClips)."""
        return self.frames_scorer.stage_clips(clips, self.device)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """-> float32 (P, Dt) on the host (the cache keeps them); encoded on the model's device."""
        return self.text_encoder.encode(texts)

    def score(self, video, text) -> np.ndarray:
        """video (B, Dv), text (P, Dt), arrays or tensors -> float32 (B, P, K) on the host. The
        head runs on the model's device: the fused Triton kernel on CUDA."""
        from cleverward.engine.device import to_device

        head = self.frames_scorer.head(self.device)
        v = to_device(np.ascontiguousarray(video, np.float32) if isinstance(video, np.ndarray)
                      else video.float(), self.device)
        t = to_device(np.ascontiguousarray(text, np.float32) if isinstance(text, np.ndarray)
                      else text.float(), self.device)
        return head.score_matrix(v, t).cpu().numpy()

    # -- the Python API on frames in memory (engine/frames_api.py; README "Python API") --------

    device = torch.device("cpu")  # where every stage after decode runs; see to()

    def to(self, device) -> RewardModel:
        """Run every stage after decode on `device` ("auto", "cpu", "cuda", "cuda:N" or a
        torch.device): the head, the video encoder's module and the text encoder move there now
        (the encoders load first where they have not yet). Tensors given to score_frames are
        scored on the device they are on."""
        from cleverward.engine.device import resolve_device
        from cleverward.engine.frames_encode import runs_ort_frames

        self.device = resolve_device(device, option="device")
        self.text_encoder.to(self.device)
        self.frames_scorer.parts(self.device, ort=runs_ort_frames(self.video_encoder,
                                                                  self.device))
        return self

    @cached_property
    def frames_scorer(self):
        """The frames pipeline in steps (prepare, embed, head_scores): the server batches them."""
        from cleverward.engine.frames_api import FramesScorer

        return FramesScorer(self)

    def score_frames(self, frames, prompts, all_pairs: bool = False,
                     differentiable: bool = False, **options) -> dict[str, torch.Tensor]:
        """Clips in memory -> {"overall": scores, <dimension>: scores, ...} on their device.

        frames: uint8 (0..255) or float ([0, 1]) tensor or array, (B, T, H, W, 3) or
        (B, T, 3, H, W), any T, H, W; sampled, scaled and cropped on its device as score-dir's
        decoders do. prompts: B strings (row-aligned -> scores (B,)) or, with all_pairs, P
        strings (-> (B, P)). differentiable: gradients reach float frames (smooth ConSE for
        the default). options: temperature, num_frames, memory_budget_mb (frames_api.ScoreOptions).
        """
        from cleverward.engine.frames_api import ScoreOptions

        opts = ScoreOptions(all_pairs=all_pairs, differentiable=differentiable, **options)
        return self.frames_scorer.score_frames(frames, prompts, opts, device=self.device)

    def score_files(self, paths, prompts, all_pairs: bool = False, **options):
        """Video files (or frame folders) -> FileScores(scores, errors), decoded as score-dir
        does; a file that fails gets NaN scores and its error, the others are scored."""
        from cleverward.engine.frames_api import ScoreOptions, score_files

        opts = ScoreOptions(all_pairs=all_pairs, **options)
        return score_files(self.frames_scorer, paths, prompts, opts, self.device)


class CompiledRewardModel(RewardModel):
    """A RewardModel whose text encoder and head run on another runtime; same API."""

    def __init__(self, base: RewardModel, parts) -> None:
        super().__init__(base.cfg, base.head, base.name)
        self.base, self.backend, self.export_dir = base, parts.backend, parts.export_dir
        self._text, self._head_fn, self._video = parts.text_encoder, parts.head_fn, \
            parts.video_encoder
        self.device = base.device  # the video encoder runs where the base model's did

    @property
    def video_encoder(self):
        return self._video

    @property
    def text_encoder(self):
        return self._text

    def score(self, video, text) -> np.ndarray:
        """video (B, Dv), text (P, Dt), arrays or tensors -> float32 (B, P, K) on the host."""
        if len(video) == 0 or len(text) == 0:
            return np.zeros((len(video), len(text), self.head.cfg.num_scores), np.float32)
        return self._head_fn(_host(video), _host(text))

    def to(self, device) -> RewardModel:
        """The video encoder moves to `device`; the compiled text encoder and head stay on
        their runtime (ONNX Runtime: the host; TensorRT: its engine's GPU)."""
        from cleverward.engine.device import resolve_device
        from cleverward.engine.frames_encode import runs_ort_frames

        self.device = resolve_device(device, option="device")
        self.frames_scorer.parts(self.device, ort=runs_ort_frames(self.video_encoder,
                                                                  self.device))
        return self

    def with_backend(self, backend: str, device=None) -> RewardModel:
        return self.base.with_backend(backend, device=device)


def load_for_run(name_or_path: str | os.PathLike, backend: str = "auto",
                 device: str | torch.device | None = "auto") -> RewardModel:
    """The model a command runs: loaded, its backend chosen for the run's device, every stage
    after decode placed there. DeviceError (a bad --device) and BackendUnavailable come before
    any encoder loads."""
    from cleverward.engine.backends import choose_backend
    from cleverward.engine.device import resolve_device
    from cleverward.engine.frames_encode import check_precision

    where = resolve_device(device)
    model = RewardModel.from_pretrained(name_or_path)
    # a half-precision frame network on a CPU run: refused before any export or encoder load
    check_precision(getattr(model.video_encoder, "precision", "fp32"), where,
                    model.cfg.video_encoder)
    chosen, _ = choose_backend(backend, model, where)
    return model.with_backend(chosen, device=where).to(where)


def _host(x) -> np.ndarray:
    """A (B, D) array or tensor as a float32 host array (the compiled runtimes take numpy)."""
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.ascontiguousarray(x, np.float32)


def compile_model(model: RewardModel, backend: str, cache_root: str | os.PathLike | None = None,
                  device=None) -> RewardModel:
    """`model` with encode_texts / score on `backend` ("torch" returns it unchanged); the
    exports and engines are built by engine/runtime.py."""
    if backend == "torch":
        return model
    from cleverward.engine.runtime import compile_parts

    return CompiledRewardModel(model, compile_parts(model, backend, cache_root, device))
