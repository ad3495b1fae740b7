"""Where the text encoder and the reward head run: torch, ONNX Runtime or TensorRT.

    model = RewardModel.from_pretrained("default").with_backend("onnx")
    text = model.encode_texts(["a corgi surfing"])    # tokenizers + ORT, no sentence-transformers
    scores = model.score(video, text)                 # the exported head on ORT -> (B, P, K)

`compile_parts(model, backend)` gives what engine/model.py's compile_model assembles into a
RewardModel whose encode_texts / score run on the backend; encode_videos keeps the video encoder,
run on ONNX Runtime where it has an ORT path (the default ConSE frame encoder: MobileNetV2 is
ONNX already). The ONNX graphs are exported on first use into
default_cache_dir()/onnx/<checkpoint key> (verified against their manifest on every load, rebuilt
if torn) and TensorRT engines into default_cache_dir()/tensorrt.

Text on ORT must see the tokens sentence-transformers would: tokenizer.json through the
`tokenizers` library, truncated to the model's max_seq_length (256 for all-MiniLM-L6-v2, not the
128 written in its tokenizer.json) and right-padded to the longest text of the batch; batches are
formed from length-sorted texts as sentence-transformers forms them, to pad less.
Embeddings match torch to ~1e-6, so they share the text encoder's fingerprint (and cache
entries), as the torch twin of the MobileNet frame encoder does.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cleverward.engine.encoders.base import TextEncoder

RUNTIME_COMPONENTS = ("head", "text_encoder")  # what compile_model runs on every backend
# and, on tensorrt, the default encoder's frame network (engine/frames_tensorrt.py)


def onnx_cache_root() -> Path:
    from cleverward.engine.environment import default_cache_dir

    return default_cache_dir() / "onnx"


def ort_session(path: str | Path, threads: int = 0, device="cpu"):
    """An ORT session on the run's device: on cuda:N the TensorRT / CUDA execution providers
    with device_id N where this build has them (engine/ort_providers), else the CPU one."""
    import onnxruntime as ort

    from cleverward.engine.ort_providers import session_providers

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads  # 0: one per core
    # No busy-waiting between calls: these graphs run between decode batches, and spinning
    # threads take the cores the PyAV decoders need (measured cost: +0.9 ms on a single prompt,
    # none at 64, +0.4 ms on a 1024x64 head).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=session_providers(device))


# --- exports, built once per checkpoint ----------------------------------------------------


def ensure_exported(model, root: str | Path | None = None, components=RUNTIME_COMPONENTS):
    """-> (folder, manifest) of this model's ONNX export, exporting it on first use (again
    where an earlier export lacks one of `components`).

    The folder is named by checkpoint_key (config + head tensors + encoder fingerprints). A new
    export is written to a temporary folder and renamed into place, so a crash or a concurrent
    process never leaves a half export under the final name."""
    from cleverward.engine.export import ExportError, checkpoint_key, export_onnx, load_manifest

    key = checkpoint_key(model)
    own = _own_export(model, key, components)
    if own is not None:
        return own
    root = Path(root) if root else onnx_cache_root()
    folder = root / key
    try:
        manifest = load_manifest(folder)
        if all(c in manifest.components for c in components):
            return folder, manifest
    except ExportError:
        pass  # missing, or torn: export afresh
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{folder.name}-"))
    try:
        export_onnx(model, tmp, components=components)
        shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process renamed its export into place first: use that one
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder, load_manifest(folder)


def _own_export(model, key: str, components=RUNTIME_COMPONENTS):
    """(folder, manifest) when the model was loaded from an export folder (`cleverward export`
    writes a checkpoint beside its graphs) whose graphs are this model's; else None."""
    from cleverward.engine.export import ExportError, load_manifest
    from cleverward.engine.export.manifest import MANIFEST

    folder = Path(model.name)
    if not (folder / MANIFEST).is_file():
        return None
    try:
        manifest = load_manifest(folder)  # every file re-hashed
    except ExportError:
        return None
    ok = manifest.source.get("checkpoint_key") == key and all(
        c in manifest.components for c in components)
    return (folder, manifest) if ok else None


# --- text ----------------------------------------------------------------------------------


class TextTokenizer:
    """tokenizer.json via `tokenizers`: truncate to max_length tokens (specials included),
    right-pad to the longest text of the call (padding "max_length": to max_length, as the
    torch encoder pads a tower trained that way). -> int64 input_ids, attention_mask (B, S)."""

    def __init__(self, path: str | Path, max_length: int, padding: str = "longest",
                 pad_id: int | None = None) -> None:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path))
        pad = tok.padding or {}  # the file's own padding (MiniLM: fixed 128) sets id and token
        tok.enable_truncation(max_length=max_length)
        # padding "max_length": the towers trained padded (SigLIP) see every text at full length
        tok.enable_padding(direction="right", pad_id=pad.get("pad_id", 0) if pad_id is None
                           else pad_id, pad_type_id=pad.get("pad_type_id", 0),
                           pad_token=pad.get("pad_token", "[PAD]"),
                           length=max_length if padding == "max_length" else None)
        self.tokenizer = tok
        self.max_length = max_length

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        encs = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encs], np.int64)  # (B, S)
        mask = np.array([e.attention_mask for e in encs], np.int64)  # (B, S)
        return ids, mask


class CompiledTextEncoder(TextEncoder):
    """A text encoder whose graph runs outside torch; `run(ids, mask) -> (B, D)` float32."""

    def __init__(self, source: TextEncoder, tokenizer: TextTokenizer, run, backend: str,
                 batch_size: int = 64) -> None:
        self.source, self.tokenizer, self.run = source, tokenizer, run
        self.name, self.dim = source.name, source.dim
        self.backend, self.batch_size = backend, batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")  # longest first, like ST
        for start in range(0, len(texts), self.batch_size):
            idx = order[start : start + self.batch_size]
            ids, mask = self.tokenizer([texts[i] for i in idx])
            out[idx] = self.run(ids, mask)  # (b, D)
        return out

    def fingerprint(self) -> str:
        return self.source.fingerprint()


def _ort_text(source: TextEncoder, folder: Path, comp, device="cpu") -> CompiledTextEncoder:
    session = ort_session(folder / comp.file, device=device)
    tokenizer = TextTokenizer(folder / comp.extra["tokenizer"], int(comp.extra["max_length"]),
                              comp.extra.get("padding", "longest"), comp.extra.get("pad_id"))

    def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        (emb,) = session.run(["text_embedding"], {"input_ids": ids, "attention_mask": mask})
        return emb

    text = CompiledTextEncoder(source, tokenizer, run, "onnx")
    text.session = session  # what ORT bound: engine/ort_providers.bound_text(text.session)
    return text


# --- reward head ---------------------------------------------------------------------------


class OrtHead:
    def __init__(self, path: str | Path, device="cpu") -> None:
        self.session = ort_session(path, device=device)

    def __call__(self, video: np.ndarray, text: np.ndarray) -> np.ndarray:
        """video (B, Dv), text (P, Dt) -> float32 (B, P, K)."""
        (rewards,) = self.session.run(["rewards"], {
            "video": np.ascontiguousarray(video, np.float32),
            "text": np.ascontiguousarray(text, np.float32),
        })
        return rewards


class TrtHead:
    """The head engine; videos and prompts beyond its profile's maxima are run in tiles."""

    def __init__(self, runner) -> None:
        self.runner = runner
        self.max_batch = runner.max_shape("video")[0]
        self.max_prompts = runner.max_shape("text")[0]

    def __call__(self, video: np.ndarray, text: np.ndarray) -> np.ndarray:
        """video (B, Dv), text (P, Dt) -> float32 (B, P, K)."""
        import torch

        v_all = torch.from_numpy(np.ascontiguousarray(video, np.float32))
        t_all = torch.from_numpy(np.ascontiguousarray(text, np.float32))
        rows = []
        for b0 in range(0, len(video), self.max_batch):
            v = v_all[b0 : b0 + self.max_batch]
            cols = [self.runner({"video": v, "text": t_all[p0 : p0 + self.max_prompts]})
                    ["rewards"].float().cpu().numpy()  # (b, p, K)
                    for p0 in range(0, len(text), self.max_prompts)]
            rows.append(np.concatenate(cols, axis=1))
        return np.concatenate(rows) if rows else np.zeros((0, len(text), 0), np.float32)


def _trt_text(source: TextEncoder, folder: Path, comp, runner) -> CompiledTextEncoder:
    import torch

    tokenizer = TextTokenizer(folder / comp.extra["tokenizer"], int(comp.extra["max_length"]),
                              comp.extra.get("padding", "longest"), comp.extra.get("pad_id"))

    def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = runner({"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)})
        return out["text_embedding"].float().cpu().numpy()

    return CompiledTextEncoder(source, tokenizer, run, "tensorrt",
                               batch_size=min(64, runner.max_shape("input_ids")[0]))


# --- the model -----------------------------------------------------------------------------


def _ort_video_encoder(encoder):
    """The video encoder on its ONNX Runtime path where it has one (ConSE: runtime='ort')."""
    from cleverward.engine.encoders.conse import ConSEVideoEncoder

    if isinstance(encoder, ConSEVideoEncoder) and encoder.runtime != "ort":
        return ConSEVideoEncoder(top_k=encoder.top_k, threads=encoder.threads, runtime="ort",
                                 precision=encoder.precision)
    return encoder


@dataclass(frozen=True)
class CompiledParts:
    """What a RewardModel runs on another backend: its text encoder, its head and its video
    encoder there, and the export folder they came from (engine/model.py assembles them)."""

    backend: str
    text_encoder: object
    head_fn: object  # (video (B, Dv), text (P, Dt)) -> float32 (B, P, K)
    video_encoder: object
    export_dir: Path


def compile_parts(model, backend: str, cache_root: str | Path | None = None,
                  device=None) -> CompiledParts:
    """The parts of `model` (a RewardModel) on `backend` ("onnx" or "tensorrt"), exported and
    built on first use. device: the run's (default: the model's); ORT sessions ask for its
    GPU's execution providers on cuda:N."""
    if backend == "tensorrt":
        from cleverward.engine.export.tensorrt_build import require_tensorrt

        require_tensorrt()  # fail before spending seconds on an ONNX export
    elif backend != "onnx":
        raise ValueError(f"backend: must be torch, onnx or tensorrt, got {backend!r}")
    where = model.device if device is None else device
    if backend == "onnx":
        folder, manifest = ensure_exported(model, cache_root)
        text_comp = manifest.components["text_encoder"]
        video = _ort_video_encoder(model.video_encoder)
        text = _ort_text(model.text_encoder, folder, text_comp, where)
        return CompiledParts("onnx", text, OrtHead(manifest.path(folder, "head"), where), video,
                             folder)
    import torch

    from cleverward.engine.environment import default_cache_dir, default_device
    from cleverward.engine.export.tensorrt_build import TrtRunner, build_engines
    from cleverward.engine.frames_tensorrt import FRAME_COMPONENT, frame_engine_wanted

    gpu = torch.device(where) if torch.device(where).type == "cuda" else default_device()
    # the frame engine only where the video module runs on a GPU (a --device cpu run keeps
    # the frames on the host, where the engine cannot take them)
    frames = frame_engine_wanted(model.video_encoder) and torch.device(where).type == "cuda"
    folder, manifest = ensure_exported(
        model, cache_root, RUNTIME_COMPONENTS + ((FRAME_COMPONENT,) if frames else ()))
    cache = default_cache_dir() / "tensorrt"
    engines = build_engines(folder, manifest, cache, components=list(RUNTIME_COMPONENTS))
    text_comp = manifest.components["text_encoder"]
    text = _trt_text(model.text_encoder, folder, text_comp,
                     TrtRunner(engines["text_encoder"], device=gpu.index or 0))
    head = TrtHead(TrtRunner(engines["head"], device=gpu.index or 0))
    video = _ort_video_encoder(model.video_encoder)
    if frames:  # a copy: the torch model keeps its own frame network
        video = copy.copy(video)
        video.device_net = _trt_frames(folder, manifest, cache, video, gpu)
    return CompiledParts("tensorrt", text, head, video, folder)


def _trt_frames(folder: Path, manifest, cache: Path, encoder, gpu):
    """The frame network's engine as the video module's network (engine/frames_tensorrt):
    fp32 without TF32 (the fp32 cache entries' numbers), fp16 for precision=fp16."""
    from cleverward.engine.export.tensorrt_build import TensorRTConfig, build_engine
    from cleverward.engine.frames_tensorrt import FRAME_COMPONENT, trt_frame_net

    cfg = TensorRTConfig(fp16=encoder.precision == "fp16", tf32=False)
    engine = build_engine(manifest.path(folder, FRAME_COMPONENT),
                          manifest.components[FRAME_COMPONENT], cache, cfg)
    return trt_frame_net(engine, encoder, gpu)
