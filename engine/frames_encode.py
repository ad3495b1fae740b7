"""Video encoders on prepared frame tensors, on the frames' device, optionally differentiable.

The encoders' own `encode` takes uint8 numpy clips on the host (score-dir's path). Here the same
math runs in torch on float (B, N, H, W, 3) frames in 0..255 units (engine/frames_input.py):

- ConSE (the default): ImageNet normalisation as mobilenet.preprocess, the MobileNetV2 torch
  twin (engine/encoders/mobilenet_torch.py), ConSE, pooled feature and temporal statistics as
  conse.py. Its hard top-k has no useful gradient; `soft=True` replaces it by a smooth
  relaxation (`soft_conse_embed`). Where the encoder runs MobileNetV2 on ONNX Runtime (CPU,
  8-bit frames: score-dir's default there) only the frame network runs on ORT; ConSE, the
  pooling and the temporal statistics are the same torch ops on every device.
- HF towers (clip:, siglip:, xclip:): the tower's normalisation, per-frame features, unit mean
  over frames, as hf_towers.VideoTower.

Weights are passed detached (torch.func.functional_call), so a backward pass gives gradients
to the pixels only: the model's parameters get none and are never changed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cleverward.engine.encoders.conse import TEMPORAL_DIM, TORCH_CHUNK
from cleverward.engine.encoders.mobilenet import IMAGENET_MEAN, IMAGENET_STD

DEVICE_CHUNK = 256  # frames per MobileNetV2 call on a GPU
DEFAULT_TEMPERATURE = 0.5  # README "Python API": deviation from the hard scores, measured


def _unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1, eps=1e-12)


def frozen_call(module: nn.Module, *args):
    """module(*args) with its parameters and buffers detached: no gradient reaches them."""
    state = {k: v.detach() for k, v in module.state_dict(keep_vars=True).items()}
    return torch.func.functional_call(module, state, args)


def hard_conse_embed(logits: torch.Tensor, class_emb: torch.Tensor, top_k: int) -> torch.Tensor:
    """conse.conse_embed in torch: logits (F, C), class_emb (C, D) -> unit (F, D), the top-k
    posteriors renormalised and mixing those classes' embeddings."""
    prob = torch.softmax(logits, dim=1)  # (F, C)
    w, top = prob.topk(top_k, dim=1)  # (F, k)
    w = w / w.sum(dim=1, keepdim=True)
    return _unit(torch.einsum("fk,fkd->fd", w, class_emb[top]))  # (F, D)


def soft_conse_embed(logits: torch.Tensor, class_emb: torch.Tensor,
                     temperature: float = DEFAULT_TEMPERATURE) -> torch.Tensor:
    """The smooth relaxation of ConSE's top-k: every class, weighted by softmax(logits / T).

    T = 1 mixes all classes by their posterior (hard ConSE keeps only the top-k of those);
    T < 1 sharpens the weights towards the top classes, as the truncation does, while keeping
    every weight a smooth function of the logits. logits (F, C), class_emb (C, D) -> unit (F, D).
    """
    if temperature <= 0:
        raise ValueError(f"temperature: must be > 0, got {temperature}")
    w = torch.softmax(logits / temperature, dim=1)  # (F, C)
    return _unit(w @ class_emb.to(w.dtype))  # (F, D)


def _as_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 frames -> float32; float frames keep their dtype (float64 for gradcheck)."""
    return x if x.is_floating_point() else x.float()


def temporal_stats(frames: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
    """conse.temporal_stats for a batch: frames (B, N, H, W, 3) 0..255 (uint8 or float),
    pooled (B, N, 1280) -> (B, 4): motion, flicker, jerk, feature drift."""
    b, n = frames.shape[:2]
    if n < 2:
        return pooled.new_zeros(b, TEMPORAL_DIM)
    gray = _as_float(frames[:, :, ::4, ::4]).mean(dim=-1) / 255.0  # (B, N, H/4, W/4)
    d1 = gray.diff(dim=1)
    motion = d1.abs().mean(dim=(1, 2, 3))
    flicker = gray.mean(dim=(2, 3)).std(dim=1, correction=0)  # numpy's std: population
    jerk = d1.diff(dim=1).abs().mean(dim=(1, 2, 3)) if n > 2 else torch.zeros_like(motion)
    p = _unit(pooled)
    drift = 1.0 - (p[:, 1:] * p[:, :-1]).sum(dim=-1).mean(dim=1)
    return torch.stack([motion, flicker, jerk, drift], dim=1)  # (B, 4)


def _full_fp32_convolutions(device: torch.device):
    """cuDNN without TF32 on a GPU (its default rounds convolution inputs to 10 mantissa bits):
    GPU vectors share the CPU's cache entries (one fingerprint), so they must match them to the
    ~1e-5 the ORT and torch twins do, not TF32's ~1e-3. A no-op on CPU."""
    import contextlib

    if device.type != "cuda":
        return contextlib.nullcontext()
    cudnn = torch.backends.cudnn
    return cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark,
                       deterministic=cudnn.deterministic, allow_tf32=False)


HALF_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def check_precision(precision: str, device: torch.device, spec: str = "") -> None:
    """fp16 / bf16 run on CUDA only: elsewhere a ValueError that says what to change."""
    if precision in HALF_DTYPES and device.type != "cuda":
        named = f"video encoder {spec}: " if spec else ""
        raise ValueError(f"{named}precision={precision} runs the frame network on a CUDA "
                         f"device only, and this run's device is {device}; give --device cuda, "
                         "or drop precision= from the encoder spec (fp32)")


def _half_precision(precision: str, device: torch.device):
    """autocast to fp16 / bf16 on CUDA for precision fp16 / bf16; a no-op for fp32."""
    import contextlib

    if precision not in HALF_DTYPES:
        return contextlib.nullcontext()
    check_precision(precision, device)
    return torch.autocast(device_type="cuda", dtype=HALF_DTYPES[precision])


class ConSEFrames(nn.Module):
    """ConSE video embedding from prepared frames: (B, N, 224, 224, 3) 0..255 -> (B, 1668).

    net: the MobileNetV2 torch module, or None to run the frame network on ONNX Runtime on the
    host (`ort_threads`); everything after the frame network is torch on the frames' device."""

    def __init__(self, net: nn.Module | None, class_emb: torch.Tensor, top_k: int,
                 ort_threads: int = 0, precision: str = "fp32") -> None:
        super().__init__()
        self.net, self.top_k, self.ort_threads = net, top_k, ort_threads
        self.precision = precision  # fp16 / bf16: the frame network in half precision on CUDA
        self.register_buffer("class_emb", class_emb, persistent=False)
        self.register_buffer("mean", torch.from_numpy(IMAGENET_MEAN.copy()), persistent=False)
        self.register_buffer("std", torch.from_numpy(IMAGENET_STD.copy()), persistent=False)

    @property
    def runs_ort(self) -> bool:
        return self.net is None

    def frame_features(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(F, H, W, 3) 0..255 -> logits (F, 1000), pooled (F, 1280)."""
        if self.net is None:
            return self._ort_frame_features(frames)
        x = frames * (1.0 / 255.0)
        x = ((x - self.mean) / self.std).permute(0, 3, 1, 2)  # (F, 3, H, W), as preprocess
        outs = []
        # Eager CPU: small channels-last chunks (what conse.frame_features found fastest). On a
        # GPU a chunk must fill the device: 4 frames a call would be launch-bound.
        step = TORCH_CHUNK if x.device.type == "cpu" else DEVICE_CHUNK
        with _full_fp32_convolutions(x.device), _half_precision(self.precision, x.device):
            for i in range(0, len(x), step):
                chunk = x[i : i + step].contiguous(memory_format=torch.channels_last)
                outs.append(frozen_call(self.net, chunk))
        # Half-precision outputs back to fp32 before ConSE's softmax, top-k and pooling.
        return (torch.cat([o[0] for o in outs]).float(),  # (F, 1000)
                torch.cat([o[1] for o in outs]).float())  # (F, 1280)

    def _ort_frame_features(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The frame network on ONNX Runtime (host, no gradient): the exact score-dir numbers."""
        from cleverward.engine.encoders.mobilenet import run_mobilenet

        if frames.requires_grad:
            raise ValueError("the ONNX Runtime frame network has no gradient; use the torch one")
        host = frames.detach().cpu().numpy()  # a view on CPU; uint8 stays uint8
        logits, pooled = run_mobilenet(host, threads=self.ort_threads)
        return (torch.from_numpy(logits).to(frames.device),  # (F, 1000)
                torch.from_numpy(pooled).to(frames.device))  # (F, 1280)

    def forward(self, frames: torch.Tensor, soft: bool = False,
                temperature: float = DEFAULT_TEMPERATURE) -> torch.Tensor:
        if frames.dtype == torch.float64:  # the networks' weights are float32: compute in
            frames = frames.float()  # float32 (the gradient comes back in float64)
        b, n, h, w, _ = frames.shape
        logits, pooled = self.frame_features(frames.reshape(b * n, h, w, 3))
        emb = self.class_emb.to(logits.dtype)
        per_frame = (soft_conse_embed(logits, emb, temperature) if soft
                     else hard_conse_embed(logits, emb, self.top_k))  # (BN, 384)
        pooled = pooled.reshape(b, n, -1)  # (B, N, 1280)
        return torch.cat([
            _unit(per_frame.reshape(b, n, -1).mean(dim=1)),  # (B, 384)
            _unit(pooled.mean(dim=1)),  # (B, 1280)
            temporal_stats(frames, pooled),  # (B, 4)
        ], dim=1)


class TowerFrames(nn.Module):
    """An HF VideoTower on prepared frames: (B, N, H, W, 3) 0..255 -> unit (B, D). The math of
    VideoTower.forward, keeping the input's float dtype (float64 for gradcheck)."""

    def __init__(self, tower: nn.Module) -> None:
        super().__init__()
        self.tower = tower

    def forward(self, frames: torch.Tensor, soft: bool = False,
                temperature: float = DEFAULT_TEMPERATURE) -> torch.Tensor:
        b, t, h, w, _ = frames.shape
        x = frames.reshape(b * t, h, w, 3).permute(0, 3, 1, 2) / 255.0  # (BT, 3, H, W)
        x = (x - self.tower.mean) / self.tower.std
        if self.tower.kind == "xclip":
            from cleverward.engine.encoders.hf_towers import _pooled

            feats = frozen_call(_XCLIPVideo(self.tower.model), x.reshape(b, t, 3, h, w))
            return _unit(_pooled(feats))  # (B, D)
        feats = frozen_call(_TowerFrameFeatures(self.tower), x)  # (BT, D)
        return _unit(_unit(feats).reshape(b, t, -1).mean(dim=1))  # (B, D)


class _TowerFrameFeatures(nn.Module):
    def __init__(self, tower: nn.Module) -> None:
        super().__init__()
        self.tower = tower

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.tower.frame_features(pixel_values)


class _XCLIPVideo(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor):
        return self.model.get_video_features(pixel_values=pixel_values)


def device_video_module(encoder, ort: bool = False) -> nn.Module | None:
    """The torch module that runs `encoder` on prepared frames, or None if it has none (then
    frames go to the host and through encoder.encode, without gradients). ort: the default
    encoder's frame network on ONNX Runtime (host) instead of its torch twin."""
    from cleverward.engine.encoders.conse import ConSEVideoEncoder

    if isinstance(encoder, ConSEVideoEncoder):
        emb = torch.from_numpy(encoder.class_embeddings.copy())  # (1000, 384)
        # device_net: the frame network's TensorRT engine on --backend tensorrt (runtime.py)
        net = None if ort else (getattr(encoder, "device_net", None) or encoder._torch_net)
        return ConSEFrames(net, emb, encoder.top_k, ort_threads=encoder.threads,
                           precision=getattr(encoder, "precision", "fp32")).eval()
    tower = getattr(encoder, "tower", None)
    if isinstance(tower, nn.Module) and hasattr(tower, "frame_features"):
        return TowerFrames(tower).eval()
    return None


def runs_ort_frames(encoder, device: torch.device) -> bool:
    """Whether `encoder`'s frame network runs on ONNX Runtime for 8-bit frames on `device`: the
    default encoder built with runtime='ort' (its spec's default; the onnx backend's), on CPU.
    The onnxruntime build here has only the CPU provider, so on a GPU the torch twin runs
    there instead of sending frames back to the host."""
    return (device.type == "cpu" and getattr(encoder, "runtime", "") == "ort"
            and getattr(encoder, "precision", "fp32") == "fp32")
