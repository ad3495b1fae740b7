"""Export a RewardModel's graphs to ONNX, each checked against eager torch before it is recorded.

    manifest = export_onnx(model, "build/onnx")      # -> head.onnx, text_encoder.onnx, ...

Components (names are the graphs' input/output names):
    head           video (batch, Dv) f32, text (prompts, Dt) f32 -> rewards (batch, prompts, K)
                   the reward head's forward, i.e. reward_matrix_ref: the math is not re-written.
    text_encoder   input_ids, attention_mask (batch, seq) int64 -> text_embedding (batch, Dt)
                   transformer + mean pooling over the mask + L2 normalisation as one graph (the
                   sentence-transformers recipe); the tokenizer is not a graph: tokenizer.json is
                   copied beside it and its truncation length recorded.
    frame_encoder  pixel_values (frames, 3, H, W) f32 -> outputs of the tower. An HF image tower
                   (an encoder whose torch_module() maps pixel_values to (N, D)) is exported from
                   torch; the default ConSE encoder's MobileNetV2 ships as ONNX already, so its
                   patched graph (dynamic batch, pooled output) is written at opset 13.

Encoder contract for export (what hf_text / hf_video towers provide):
    text:  torch_module() -> nn.Module with forward(input_ids, attention_mask) -> (B, D), already
           pooled and normalised as encode() returns it; attributes tokenizer_file (a
           tokenizer.json) and max_length (truncation, in tokens including specials).
           A sentence-transformers model (MiniLM) is recognised and adapted instead. The
           pooling recorded in the manifest is the encoder's `pooling` attribute (st:, t5:, lm:
           towers: mean, last, ...; "mean" when it has none).
    video: torch_module() -> nn.Module with forward(pixel_values (N, 3, H, W)) -> (N, D);
           frame_size (H, W).

Exporter: torch.onnx.export(dynamo=True) (torch.export + onnxscript), not the TorchScript tracer.
The tracer turns tensor-dependent Python branches into constants: exporting MiniLM with it warns
exactly there (transformers' masking_utils and sdpa_attention, "Converting a tensor to a Python
boolean"), i.e. the graph would keep whichever attention-mask path the example input took.
torch.export either captures such branches symbolically or refuses, and the tracer is deprecated
since torch 2.9. The price is time: ~7 s for MiniLM against ~1 s, paid once per checkpoint (the
runtime caches exports). Batch and sequence axes are torch.export Dims, so the graphs accept any
batch, including sizes other than the example's (checked below with batch 1 and odd sizes).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cleverward.engine.dimensions import SCORE_NAMES
from cleverward.engine.export.manifest import (
    FORMAT,
    Component,
    ExportError,
    ExportManifest,
    TensorSpec,
    portable_path,
    sha256_file,
)

OPSET = 20  # torch 2.13's dynamo exporter default; ORT >= 1.17 and TensorRT 10 parse it
FRAME_OPSET = 13  # the shipped MobileNetV2 is opset 7; TensorRT's parser wants >= 9
EXTERNAL_DATA_BYTES = 1 << 30  # protobuf caps a file at 2 GiB: bigger towers keep weights aside

# Tolerances of the export-time parity check (eager torch vs ONNX Runtime CPU, fp32).
HEAD_ATOL = 1e-5  # cosines in [-1, 1]
TEXT_ATOL = 1e-5  # unit vectors; observed ~2e-7
FRAME_ATOL, FRAME_RTOL = 1e-4, 1e-3  # unnormalised features / logits of a deep conv net


@dataclass(frozen=True)
class TextExportSpec:
    """A text tower ready to export: the graph module and the tokenizer it expects."""

    module: nn.Module
    tokenizer_file: Path
    max_length: int
    dim: int


class MeanPoolTextEncoder(nn.Module):
    """transformer -> masked mean over tokens -> L2 normalise (sentence-transformers' Pooling +
    Normalize, with its clamp of the token count at 1e-9)."""

    def __init__(self, transformer: nn.Module) -> None:
        super().__init__()
        self.transformer = transformer

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.transformer(
            input_ids=input_ids, attention_mask=attention_mask
        ).last_hidden_state  # (B, S, D)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, S, 1)
        summed = (hidden * mask).sum(dim=1)  # (B, D)
        count = mask.sum(dim=1).clamp(min=1e-9)  # (B, 1)
        return F.normalize(summed / count, p=2, dim=-1)  # (B, D)


@contextmanager
def _quiet_exporter():
    """The dynamo exporter logs a line per optional op library it cannot find (torchvision) and
    warns about axis names it merges; neither is actionable here."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*axis name.*")
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def _param_bytes(module: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


def _dynamo_export(module, args, path: Path, inputs, outputs, dynamic_shapes) -> list[str]:
    """torch.onnx.export(dynamo=True) to `path`; -> the files written (graph first).
    dynamic_shapes: one {axis: Dim} per positional arg (a tuple, so a tower's own argument
    names do not matter); `inputs` names the graph inputs in the same order."""
    external = _param_bytes(module) > EXTERNAL_DATA_BYTES
    training = module.training
    try:
        with _quiet_exporter(), torch.no_grad():
            torch.onnx.export(
                module.eval(), args, str(path), input_names=inputs, output_names=outputs,
                dynamic_shapes=dynamic_shapes, opset_version=OPSET, dynamo=True,
                external_data=external, optimize=True, verbose=False,
            )
    finally:
        module.train(training)
    data = path.with_name(path.name + ".data")
    return [path.name] + ([data.name] if data.exists() else [])


def _ort_session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _graph_specs(path: Path) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Inputs and outputs as the ONNX graph declares them (dynamic dims by name)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    weights = {init.name for init in model.graph.initializer}

    def spec(value) -> TensorSpec:
        t = value.type.tensor_type
        dims = tuple(d.dim_param or d.dim_value for d in t.shape.dim)
        return TensorSpec(value.name, onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name, dims)

    inputs = [v for v in model.graph.input if v.name not in weights]
    return tuple(map(spec, inputs)), tuple(map(spec, model.graph.output))


def _compare(name: str, got: np.ndarray, want: np.ndarray, atol: float, rtol: float = 0.0) -> float:
    """Max |got - want|; ExportError if outside atol + rtol * |want| anywhere."""
    if got.shape != want.shape:
        raise ExportError(f"{name}: ONNX Runtime gave shape {got.shape}, eager torch {want.shape}")
    err = float(np.abs(got - want).max()) if want.size else 0.0
    if not np.allclose(got, want, atol=atol, rtol=rtol):
        raise ExportError(f"{name}: ONNX Runtime differs from eager torch (max |diff| {err:.3g}, "
                          f"atol {atol}, rtol {rtol})")
    return err


def _component(name, folder, files, parity, extra, opset=OPSET) -> Component:
    inputs, outputs = _graph_specs(folder / files[0])
    hashes = {f: sha256_file(folder / f) for f in files}
    return Component(name=name, file=files[0], opset=opset, inputs=inputs, outputs=outputs,
                     files=hashes, parity=parity, extra=extra)


# --- reward head ---------------------------------------------------------------------------


def export_head(head: nn.Module, folder: Path, seed: int = 0) -> Component:
    """The reward head with dynamic batch and prompt axes; parity at shapes unlike the example."""
    cfg = head.cfg
    g = torch.Generator().manual_seed(seed)
    example = (torch.randn(3, cfg.video_dim, generator=g),  # (B, Dv)
               torch.randn(2, cfg.text_dim, generator=g))  # (P, Dt)
    batch, prompts = torch.export.Dim("batch"), torch.export.Dim("prompts")
    files = _dynamo_export(head, example, folder / "head.onnx", ["video", "text"], ["rewards"],
                           ({0: batch}, {0: prompts}))
    session = _ort_session(folder / files[0])
    worst = 0.0
    for b, p in ((1, 1), (37, 5), (256, 17)):  # batch sizes the export never saw
        v = torch.randn(b, cfg.video_dim, generator=g)
        t = torch.randn(p, cfg.text_dim, generator=g)
        with torch.no_grad():
            want = head(v, t).numpy()  # (b, p, K)
        (got,) = session.run(["rewards"], {"video": v.numpy(), "text": t.numpy()})
        worst = max(worst, _compare("head", got, want, HEAD_ATOL))
    parity = {"max_abs_err": worst, "atol": HEAD_ATOL, "shapes": "B,P in (1,1) (37,5) (256,17)"}
    names = list(SCORE_NAMES) if cfg.num_scores == len(SCORE_NAMES) else None
    extra = {"num_scores": cfg.num_scores, "score_names": names, "embed_dim": cfg.embed_dim}
    return _component("head", folder, files, parity, extra)


# --- text encoder --------------------------------------------------------------------------


def _from_sentence_transformer(st, encoder) -> TextExportSpec:
    transformer, *rest = list(st)
    pooling = [m for m in rest if hasattr(m, "pooling_mode")]
    if len(pooling) != 1 or pooling[0].pooling_mode != "mean":
        raise ExportError("text encoder: only mean-pooled sentence-transformers models export")
    folder = Path(getattr(encoder, "path", "") or transformer.tokenizer.name_or_path)
    tokenizer = Path(getattr(encoder, "tokenizer_file", "") or folder / "tokenizer.json")
    if not tokenizer.is_file():
        raise ExportError(f"text encoder: no tokenizer.json at {tokenizer}")
    return TextExportSpec(MeanPoolTextEncoder(transformer.auto_model), tokenizer,
                          int(transformer.max_seq_length), int(encoder.dim))


def text_export_problem(encoder) -> str | None:
    """Why `encoder` cannot be exported (None if it can), judged without loading its weights."""
    if not hasattr(encoder, "torch_module"):
        return f"text encoder {encoder.name!r} has no torch_module()"
    folder = getattr(encoder, "path", None)
    if folder is not None and (Path(folder) / "tokenizer.json").is_file():
        return None  # a sentence-transformers folder (MiniLM)
    missing = [a for a in ("tokenizer_file", "max_length", "dim") if not hasattr(encoder, a)]
    return f"text encoder {encoder.name!r} lacks {missing}" if missing else None


def text_export_spec(encoder) -> TextExportSpec:
    """What to export for a text encoder, or ExportError saying what it lacks."""
    problem = text_export_problem(encoder)
    if problem:
        raise ExportError(f"{problem}: nothing to export")
    module = encoder.torch_module()
    if hasattr(module, "_first_module") or type(module).__name__ == "SentenceTransformer":
        return _from_sentence_transformer(module, encoder)
    missing = [a for a in ("tokenizer_file", "max_length", "dim") if not hasattr(encoder, a)]
    if missing:
        raise ExportError(f"text encoder {encoder.name!r} lacks {missing} needed for export")
    return TextExportSpec(module, Path(encoder.tokenizer_file), int(encoder.max_length),
                          int(encoder.dim))


def _random_tokens(g, batch: int, seq: int, vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ids with ragged lengths (right padding, id 0), like a tokenizer's padded batch."""
    ids = torch.randint(min(1000, vocab // 2), vocab, (batch, seq), generator=g)  # skip specials
    lengths = torch.randint(1, seq + 1, (batch,), generator=g)
    lengths[0] = seq
    mask = (torch.arange(seq)[None] < lengths[:, None]).long()  # (B, S)
    return ids * mask, mask


def _pad_id(encoder) -> int | None:
    """The id the encoder's own tokenizer pads with (None: the tokenizer file's, or 0)."""
    tok = getattr(encoder, "tokenizer", None)
    pad = getattr(tok, "pad_token_id", None)
    return int(pad) if isinstance(pad, int) else None


def export_text_encoder(encoder, folder: Path, seed: int = 0) -> Component:
    spec = text_export_spec(encoder)
    module = spec.module.eval()
    config = getattr(getattr(module, "transformer", module), "config", None)
    config = getattr(config, "text_config", config)  # a whole dual model's (X-CLIP): its text side
    vocab = int(getattr(config, "vocab_size", 30000))
    g = torch.Generator().manual_seed(seed)
    example = _random_tokens(g, 2, 16, vocab)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", max=spec.max_length)
    dyn = ({0: batch, 1: seq}, {0: batch, 1: seq})  # input_ids, attention_mask
    files = _dynamo_export(module, example, folder / "text_encoder.onnx",
                           ["input_ids", "attention_mask"], ["text_embedding"], dyn)
    session = _ort_session(folder / files[0])
    worst = 0.0
    mid = min(23, spec.max_length)  # a ragged length; a tower may have fewer positions
    for b, s in ((1, 1), (5, mid), (3, spec.max_length)):
        ids, mask = _random_tokens(g, b, s, vocab)
        with torch.no_grad():
            want = module(ids, mask).numpy()  # (b, D)
        (got,) = session.run(["text_embedding"],
                             {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
        worst = max(worst, _compare("text_encoder", got, want, TEXT_ATOL))
    shutil.copyfile(spec.tokenizer_file, folder / "tokenizer.json")
    files.append("tokenizer.json")
    parity = {"max_abs_err": worst, "atol": TEXT_ATOL,
              "shapes": f"B,S in (1,1) (5,{mid}) (3,{spec.max_length}), ragged masks"}
    extra = {"tokenizer": "tokenizer.json", "tokenizer_source": portable_path(spec.tokenizer_file),
             "max_length": spec.max_length, "pooling": getattr(encoder, "pooling", "mean"),
             "normalize": True, "dim": spec.dim, "pad_side": "right",
             "padding": getattr(encoder, "padding", "longest"), "pad_id": _pad_id(encoder)}
    return _component("text_encoder", folder, files, parity, extra)


# --- frame encoder -------------------------------------------------------------------------


def _export_shipped_mobilenet(folder: Path) -> Component:
    """The ConSE frame encoder: the shipped graph patched (dynamic batch + pooled output),
    converted to FRAME_OPSET and checked against the patched original on ONNX Runtime."""
    import onnx
    import onnxruntime as ort
    from onnx import version_converter

    from cleverward.engine.encoders.mobilenet import (
        INPUT_NAME,
        POOL_OUTPUT,
        mobilenet_onnx_path,
        patched_model_bytes,
    )

    original = patched_model_bytes(mobilenet_onnx_path())
    model = version_converter.convert_version(onnx.load_from_string(original), FRAME_OPSET)
    # IR 3 listed every weight as a graph input too; since IR 4 initializers stand alone, and
    # TensorRT's parser would otherwise see 300 "inputs".
    weights = {init.name for init in model.graph.initializer}
    kept = [v for v in model.graph.input if v.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    model.ir_version = 7  # the IR of opset 13
    onnx.checker.check_model(model)
    path = folder / "frame_encoder.onnx"
    onnx.save(model, str(path))
    x = np.random.default_rng(0).standard_normal((3, 3, 224, 224)).astype(np.float32)
    shipped = ort.InferenceSession(original, providers=["CPUExecutionProvider"])
    ref = shipped.run(None, {INPUT_NAME: x})
    got = _ort_session(path).run(None, {INPUT_NAME: x})
    worst = max(_compare("frame_encoder", a, b, FRAME_ATOL, FRAME_RTOL)
                for a, b in zip(got, ref, strict=True))
    parity = {"max_abs_err": worst, "atol": FRAME_ATOL, "rtol": FRAME_RTOL,
              "reference": "the shipped opset-7 graph on ONNX Runtime (it has no torch source)"}
    extra = {"source": portable_path(mobilenet_onnx_path()), "layout": "NCHW, ImageNet-normalised",
             "pooled_output": POOL_OUTPUT,
             "preprocess": "cleverward.engine.encoders.mobilenet.preprocess"}
    return _component("frame_encoder", folder, [path.name], parity, extra, opset=FRAME_OPSET)


def export_frame_encoder(encoder, folder: Path, seed: int = 0) -> Component:
    if type(encoder).__name__ == "ConSEVideoEncoder":
        return _export_shipped_mobilenet(folder)
    if not hasattr(encoder, "torch_module"):
        raise ExportError(f"video encoder {encoder.name!r} has no torch_module(): "
                          f"nothing to export")
    module = encoder.torch_module().eval()
    h, w = encoder.frame_size
    g = torch.Generator().manual_seed(seed)
    frames = torch.export.Dim("frames")
    files = _dynamo_export(module, (torch.randn(2, 3, h, w, generator=g),),
                           folder / "frame_encoder.onnx", ["pixel_values"], ["frame_features"],
                           ({0: frames},))
    session = _ort_session(folder / files[0])
    worst = 0.0
    for n in (1, 5):
        x = torch.randn(n, 3, h, w, generator=g)
        with torch.no_grad():
            want = module(x)
        want = (want[0] if isinstance(want, tuple | list) else want).numpy()
        (got,) = session.run(["frame_features"], {"pixel_values": x.numpy()})
        worst = max(worst, _compare("frame_encoder", got, want, FRAME_ATOL, FRAME_RTOL))
    parity = {"max_abs_err": worst, "atol": FRAME_ATOL, "rtol": FRAME_RTOL, "frames": [1, 5]}
    return _component("frame_encoder", folder, files, parity, {"frame_size": [h, w]})


# --- the whole model -----------------------------------------------------------------------


def checkpoint_key(model) -> str:
    """Content hash of everything an export depends on: the checkpoint config, the head's
    tensors, and the encoders' fingerprints (weights + preprocessing). 16 hex chars."""
    import hashlib
    import json

    h = hashlib.sha256(f"{FORMAT};opset={OPSET};frame_opset={FRAME_OPSET}".encode())
    h.update(json.dumps(model.cfg.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(model.head.state_dict().items()):
        t = tensor.detach().to("cpu", torch.float32).contiguous()
        h.update(f"{name}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    h.update(model.text_encoder.fingerprint().encode())
    h.update(model.fingerprint().encode())  # the video encoder's
    return h.hexdigest()[:16]


COMPONENTS = ("head", "text_encoder", "frame_encoder")


def _exporter_info() -> dict:
    from cleverward.engine.environment import version

    return {"kind": "torch.onnx.export(dynamo=True)", "opset": OPSET,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **{k: version(k) for k in ("torch", "onnx", "onnxscript", "onnxruntime")}}


def export_onnx(model, out_dir: str | os.PathLike, components=COMPONENTS) -> ExportManifest:
    """Export `components` of a RewardModel into out_dir, verify each, write manifest.json."""
    unknown = set(components) - set(COMPONENTS)
    if unknown:
        raise ValueError(f"components: unknown {sorted(unknown)}; choose from {COMPONENTS}")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    done: dict[str, Component] = {}
    skipped: dict[str, str] = {}
    if "head" in components:
        done["head"] = export_head(model.head, folder)
    if "text_encoder" in components:
        done["text_encoder"] = export_text_encoder(model.text_encoder, folder)
    if "frame_encoder" in components:
        try:
            done["frame_encoder"] = export_frame_encoder(model.video_encoder, folder)
        except ExportError as exc:  # a video encoder with no graph: export the rest, say why
            skipped["frame_encoder"] = str(exc)
    source = {"model": model.name, "checkpoint_key": checkpoint_key(model),
              "video_encoder": model.cfg.video_encoder, "text_encoder": model.cfg.text_encoder,
              "text_fingerprint": model.text_encoder.fingerprint(), "not_exported": skipped}
    manifest = ExportManifest(source=source, exporter=_exporter_info(), components=done)
    manifest.write(folder)
    return manifest
