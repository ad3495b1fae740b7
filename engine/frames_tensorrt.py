"""The default frame network (MobileNetV2) as a TensorRT engine, on device tensors.

    net = TrtFrameNet(TrtRunner(engine))      # --backend tensorrt, CUDA present
    logits, pooled = net(x)                    # x (F, 3, 224, 224) float32 on the GPU

It stands where ConSEFrames' torch twin stands (engine/frames_encode.py): the frames never leave
the device; normalisation before it and ConSE, pooling and temporal statistics after it stay
torch ops there. The engine is built by engine/export/tensorrt_build.py from the exported
`frame_encoder` graph, checked against ONNX Runtime before first use, and without TF32 in fp32
(the vectors share the fp32 cache entries, which the twins keep to ~1e-5); fp16 only for an
encoder spec that says precision=fp16 (its own fingerprint).
"""

from __future__ import annotations

import torch
from torch import nn

FRAME_COMPONENT = "frame_encoder"
ENGINE_PRECISIONS = ("fp32", "fp16")  # bf16 has no TensorRT build here: the torch twin runs


class TrtFrameNet(nn.Module):
    """forward(x (F, 3, H, W) float on the engine's GPU) -> (logits (F, 1000), pooled
    (F, 1280)), float32, in profile-sized tiles."""

    def __init__(self, runner, input_name: str, logits_name: str, pooled_name: str) -> None:
        super().__init__()
        self.runner = runner
        self.names = (input_name, logits_name, pooled_name)
        self.max_frames = runner.max_shape(input_name)[0]

    def __deepcopy__(self, memo):  # one engine per GPU: placing the module copies no engine
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        name_in, name_logits, name_pooled = self.names
        logits, pooled = [], []
        for i in range(0, len(x), self.max_frames):
            out = self.runner({name_in: x[i : i + self.max_frames]})
            logits.append(out[name_logits].float())
            pooled.append(out[name_pooled].float().flatten(1))
        return torch.cat(logits), torch.cat(pooled)


def frame_engine_wanted(encoder) -> bool:
    """Whether `encoder` has a frame engine on --backend tensorrt: the default ConSE encoder in
    fp32 or fp16 (an HF tower's frame graph has no device module wired to it yet)."""
    from cleverward.engine.encoders.conse import ConSEVideoEncoder

    return (isinstance(encoder, ConSEVideoEncoder)
            and getattr(encoder, "precision", "fp32") in ENGINE_PRECISIONS)


def trt_frame_net(engine_path, encoder, device: torch.device) -> TrtFrameNet:
    """The built engine for `encoder`'s frame network, on `device`'s GPU."""
    from cleverward.engine.encoders.mobilenet import INPUT_NAME, POOL_OUTPUT
    from cleverward.engine.encoders.mobilenet_torch import LOGITS_OUTPUT
    from cleverward.engine.export.tensorrt_build import TrtRunner

    runner = TrtRunner(engine_path, device=device.index or 0)
    return TrtFrameNet(runner, INPUT_NAME, LOGITS_OUTPUT, POOL_OUTPUT)
