"""TensorRT engines built from the exported ONNX graphs, and a runner for them.

    ok, why = tensorrt_status()                          # never raises; imports nothing heavy
    engines = build_engines(export_dir, manifest)        # {"head": Path(...engine), ...}
    runner = TrtRunner(engines["head"])
    out = runner({"video": v, "text": t})                # torch CUDA tensors -> {"rewards": ...}

Build (TensorRT Python API, 10.x and 11.x):
  - network from trt.OnnxParser.parse_from_file (external weight files resolve beside the graph).
    Explicit batch is the only mode since TensorRT 10 (the EXPLICIT_BATCH flag is deprecated
    there and gone in 11), so the network is created with no flags; on 8.x/9.x the flag is set.
  - BuilderConfig: a WORKSPACE memory-pool limit; FP16 where it is still a builder flag
    (TensorRT 10 weak typing) and the GPU has fast fp16 (sm_53/60/62, sm_70+; queried from CUDA,
    as TensorRT 10.5 deprecated platform_has_fast_fp16). TensorRT 11 removed the flag: networks
    are strongly typed, so fp16 there means building from an fp16 copy of the graph
    (fp16_onnx: same fp32 interface, casts at the edges) as a strongly typed network. The
    precision actually used is recorded next to the engine.
  - one optimisation profile: min/opt/max for every dynamic axis (batch, prompts, seq, frames),
    the maxima sized to what the callers send (COMPONENT_RANGES: the text encoder's 64 texts).
  - every new engine is run on a calibration batch and compared with ONNX Runtime (TOLERANCE:
    1e-3 fp32, 2e-2 fp16, absolute, on unit-scale outputs) before it is cached or used; a miss
    is a TensorRTError naming the output and the error, and the engine is not kept.
  - a timing cache file per (GPU, TensorRT version), loaded before and saved after every build,
    so tactic timing is paid once per machine rather than once per engine.
Engine cache: <dir>/<component>-<key>.engine beside a .json sidecar; key = sha256 of the ONNX
sha256, GPU name + compute capability, TensorRT version, precision, profile and workspace. A hit is
verified (sidecar key and engine sha256) before it is deserialised.

Run: trt.Runtime -> deserialize_cuda_engine (with the run's GPU current) ->
create_execution_context; per call set_input_shape
and set_tensor_address for every I/O tensor (the name-based API of TensorRT 10; the bindings API
is gone), device buffers are torch CUDA tensors, execute_async_v3 on a dedicated CUDA stream
ordered against torch's current stream.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cleverward.engine.export.manifest import Component, ExportManifest, sha256_file

MIN_VERSION = (10, 0)
INSTEAD = "use --backend onnx (ONNX Runtime; CUDA / TensorRT execution providers where installed)"

# dynamic axis name -> (min, opt, max) of the optimisation profile
DEFAULT_RANGES: dict[str, tuple[int, int, int]] = {
    "batch": (1, 64, 4096),
    "prompts": (1, 64, 1024),
    "seq": (1, 32, 256),
    "N": (1, 64, 512),
    "frames": (1, 64, 512),
}


# Per-component maxima where the engine's callers use less than DEFAULT_RANGES: the compiled text
# encoder runs batches of at most 64 texts (runtime.CompiledTextEncoder), so a 4096 x 256-token
# profile would only size activations (workspace, tactic choice) for batches that never come.
COMPONENT_RANGES: dict[str, dict[str, tuple[int, int, int]]] = {
    "text_encoder": {"batch": (1, 32, 64)},
}
# Largest |TensorRT - ONNX Runtime| accepted on the calibration batch, by build precision: the
# outputs are unit-scale (cosines, normalised embeddings); fp16 keeps ~3 decimal digits.
TOLERANCE = {"fp32": 1e-3, "fp16": 2e-2}
CALIBRATION_AXES = {"batch": 4, "prompts": 3, "seq": 16, "N": 8, "frames": 8}


class TensorRTUnavailable(RuntimeError):
    """TensorRT cannot run here; the message says what is missing and what to use instead."""


class TensorRTError(RuntimeError):
    """TensorRT is present but a build or run failed."""


def tensorrt_status() -> tuple[bool, str]:
    """(usable, why). Imports tensorrt only if it is installed, torch.cuda only then."""
    from cleverward.engine.environment import cuda_available, has_module, version

    if not has_module("tensorrt"):
        return False, ("tensorrt is not installed (pip install 'cleverward[gpu]' on a CUDA "
                       f"machine); {INSTEAD}")
    try:
        import tensorrt as trt
    except Exception as exc:  # noqa: BLE001 - placeholder wheels fail in many ways
        return False, f"tensorrt is installed but does not import ({exc}); {INSTEAD}"
    found = tuple(int(x) for x in trt.__version__.split(".")[:2])
    if found < MIN_VERSION:
        return False, (f"tensorrt {trt.__version__} is older than 10.0 (this code uses the "
                       f"name-based tensor API); {INSTEAD}")
    if not cuda_available():
        return False, (f"tensorrt {version('tensorrt')} is installed but no CUDA device is "
                       f"visible; {INSTEAD}")
    import torch

    return True, f"TensorRT {trt.__version__} on {torch.cuda.get_device_name()}"


def require_tensorrt():
    """The tensorrt module, or TensorRTUnavailable with the reason and the alternative."""
    ok, why = tensorrt_status()
    if not ok:
        raise TensorRTUnavailable(f"TensorRT cannot run here: {why}")
    import tensorrt as trt

    return trt


@dataclass(frozen=True)
class TensorRTConfig:
    fp16: bool = True
    workspace_gib: float = 4.0
    tf32: bool = True  # False: fp32 layers in full fp32 (the frame engine: the cache's numbers)
    ranges: dict[str, tuple[int, int, int]] = field(default_factory=lambda: dict(DEFAULT_RANGES))

    def __post_init__(self) -> None:
        if self.workspace_gib <= 0:
            raise ValueError(f"workspace_gib: must be > 0, got {self.workspace_gib}")
        for axis, (lo, opt, hi) in self.ranges.items():
            if not 1 <= lo <= opt <= hi:
                raise ValueError(f"ranges[{axis!r}]: need 1 <= min <= opt <= max, got "
                                 f"{(lo, opt, hi)}")


def _device() -> dict:
    import torch

    major, minor = torch.cuda.get_device_capability()
    return {"gpu": torch.cuda.get_device_name(), "compute_capability": f"{major}.{minor}"}


def _fast_fp16(capability: str) -> bool:
    major, minor = (int(x) for x in capability.split("."))
    return major >= 7 or (major, minor) in ((5, 3), (6, 0), (6, 2))


STRONGLY_TYPED_FP16 = "fp16 (strongly typed: fp16 ONNX graph)"


def _precision(trt, cfg: TensorRTConfig, device: dict) -> str:
    if not cfg.fp16:
        return "fp32"
    if not _fast_fp16(device["compute_capability"]):
        return "fp32 (no fast fp16 on GPU)"
    if not hasattr(trt.BuilderFlag, "FP16"):  # TensorRT 11: types come from the graph
        return STRONGLY_TYPED_FP16
    return "fp16"


def fp16_onnx(src: str | Path, dst: str | Path) -> Path:
    """An fp16 copy of an fp32 ONNX graph with the same fp32 interface, for TensorRT >= 11's
    strongly typed networks (each tensor's type is the graph's). Float initializers and
    constants become fp16, Cast-to-float casts to fp16, float inputs are cast to fp16 on entry
    and float outputs back to fp32 on exit; value_info is dropped (re-inferred)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src))
    graph, f32, f16 = model.graph, TensorProto.FLOAT, TensorProto.FLOAT16

    def half(t):
        return numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name)

    for init in graph.initializer:
        if init.data_type == f32:
            init.CopyFrom(half(init))
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == f32:
                attr.t.CopyFrom(half(attr.t))
            elif node.op_type == "Cast" and attr.name == "to" and attr.i == f32:
                attr.i = f16

    def rename(old: str, new: str) -> None:
        for node in graph.node:
            node.input[:] = [new if x == old else x for x in node.input]
            node.output[:] = [new if x == old else x for x in node.output]

    entry, exit_ = [], []
    for value in graph.input:
        if value.type.tensor_type.elem_type == f32:
            rename(value.name, value.name + "__fp16")
            entry.append(helper.make_node("Cast", [value.name], [value.name + "__fp16"], to=f16))
    for value in graph.output:
        if value.type.tensor_type.elem_type == f32:
            rename(value.name, value.name + "__fp16")
            exit_.append(helper.make_node("Cast", [value.name + "__fp16"], [value.name], to=f32))
    nodes = [*entry, *graph.node, *exit_]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]
    onnx.checker.check_model(model, full_check=True)  # every op's types agree
    onnx.save(model, str(dst))
    return Path(dst)


def profile_shapes(comp: Component, cfg: TensorRTConfig) -> dict[str, list[tuple[int, ...]]]:
    """input name -> [min, opt, max] shapes; dynamic axes from cfg.ranges (seq capped by the
    tokenizer's max_length)."""
    ranges = dict(cfg.ranges)
    if cfg.ranges == DEFAULT_RANGES:  # explicit ranges are the caller's; defaults get sized
        ranges |= COMPONENT_RANGES.get(comp.name, {})
    if "max_length" in comp.extra and "seq" in ranges:
        lo, opt, _ = ranges["seq"]
        hi = int(comp.extra["max_length"])
        ranges["seq"] = (min(lo, hi), min(opt, hi), hi)
    out = {}
    for spec in comp.inputs:
        dims = []
        for d in spec.shape:
            if isinstance(d, int) and d > 0:
                dims.append((d, d, d))
            elif d in ranges:
                dims.append(ranges[d])
            else:
                raise TensorRTError(f"{comp.name}: input {spec.name} axis {d!r} has no range; "
                                    f"add it to TensorRTConfig.ranges")
        out[spec.name] = [tuple(r[i] for r in dims) for i in range(3)]
    return out


def engine_key(comp: Component, trt_version: str, device: dict, precision: str,
               shapes: dict, cfg: TensorRTConfig) -> str:
    fields = {"onnx": comp.files, "tensorrt": trt_version, "device": device,
              "precision": precision, "profile": shapes, "workspace_gib": cfg.workspace_gib}
    if not cfg.tf32:  # only then: the keys of engines built before this field stay the same
        fields["tf32"] = False
    blob = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _network_flags(trt, strongly_typed: bool = False) -> int:
    major = int(trt.__version__.split(".")[0])
    if major < 10:
        return 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    flags = 0  # explicit batch is implied from 10 on (the flag deprecated, then removed)
    typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    if strongly_typed and typed is not None:  # 10.x: opt in; 11: the only mode
        flags |= 1 << int(typed)
    return flags


def _parse(trt, builder, logger, onnx_path: Path, strongly_typed: bool = False):
    network = builder.create_network(_network_flags(trt, strongly_typed))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise TensorRTError(f"{onnx_path}: the TensorRT ONNX parser failed: {errors}")
    return network, parser  # the parser owns weights the network refers to: keep it alive


def _timing_cache_path(cache_dir: Path, trt_version: str, device: dict) -> Path:
    tag = hashlib.sha256(f"{device}|{trt_version}".encode()).hexdigest()[:12]
    return cache_dir / f"timing-{tag}.cache"


def _atomic_write(path: Path, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, path)


def _build(trt, onnx_path: Path, shapes: dict, precision: str, cfg: TensorRTConfig,
           timing_path: Path) -> bytes:
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network, _parser = _parse(trt, builder, logger, onnx_path,
                              strongly_typed=precision == STRONGLY_TYPED_FP16)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(cfg.workspace_gib * (1 << 30)))
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    if not cfg.tf32 and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)
    profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in shapes.items():
        profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(profile)
    cache_bytes = timing_path.read_bytes() if timing_path.is_file() else b""
    timing_cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(timing_cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise TensorRTError(f"{onnx_path}: build_serialized_network failed (see TensorRT log)")
    _atomic_write(timing_path, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


def _cached(engine: Path, sidecar: Path, key: str) -> bool:
    if not (engine.is_file() and sidecar.is_file()):
        return False
    meta = json.loads(sidecar.read_text())
    return meta.get("key") == key and meta.get("engine_sha256") == sha256_file(engine)


def calibration_feeds(comp: Component, seed: int = 0) -> dict:
    """A small deterministic batch for every input of `comp` (numpy): unit-scale floats, token
    ids in [100, 1000) (inside every vocabulary), attention masks of ones."""
    import numpy as np

    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in comp.inputs:
        shape = tuple(d if isinstance(d, int) and d > 0 else CALIBRATION_AXES.get(d, 4)
                      for d in spec.shape)
        if "mask" in spec.name:
            feeds[spec.name] = np.ones(shape, np.int64)
        elif spec.dtype.startswith("int"):
            feeds[spec.name] = rng.integers(100, 1000, shape).astype(spec.dtype)
        else:
            feeds[spec.name] = rng.standard_normal(shape).astype(spec.dtype)
    return feeds


def check_against_onnx(run, onnx_path: str | Path, comp: Component, precision: str,
                       label: str) -> float:
    """Run the calibration batch through `run` (feeds -> outputs, numpy) and ONNX Runtime on the
    CPU; -> the largest absolute difference. TensorRTError when it exceeds TOLERANCE."""
    import numpy as np
    import onnxruntime as ort

    feeds = calibration_feeds(comp)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    want = dict(zip(names, session.run(names, feeds), strict=True))
    got = run(feeds)
    tol = TOLERANCE["fp16" if precision.startswith("fp16") else "fp32"]
    worst = 0.0
    for name, ref in want.items():
        diff = np.abs(np.asarray(got[name], np.float64) - ref.astype(np.float64))
        err = float(diff.max()) if diff.size else 0.0
        if not err <= tol:  # NaN fails too
            raise TensorRTError(
                f"{label}: output {name} differs from ONNX Runtime by {err:.3g} > {tol} "
                f"({precision}) on a calibration batch {tuple(ref.shape)}; rebuild with "
                f"--fp32, or use --backend onnx")
        worst = max(worst, err)
    return worst


def _verify(engine: Path, onnx_path: Path, comp: Component, precision: str) -> float:
    import torch

    runner = TrtRunner(engine)

    def run(feeds: dict) -> dict:
        outs = runner({k: torch.from_numpy(v) for k, v in feeds.items()})
        return {k: v.float().cpu().numpy() for k, v in outs.items()}

    return check_against_onnx(run, onnx_path, comp, precision, str(engine))


def build_engine(onnx_path: str | Path, comp: Component, cache_dir: str | Path,
                 cfg: TensorRTConfig | None = None) -> Path:
    """The engine for one exported component: from the cache when its key matches, else built
    (and cached). -> path of the serialized engine."""
    trt = require_tensorrt()
    cfg = cfg or TensorRTConfig()
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    device = _device()
    precision = _precision(trt, cfg, device)
    shapes = profile_shapes(comp, cfg)
    key = engine_key(comp, trt.__version__, device, precision, shapes, cfg)
    engine, sidecar = cache_dir / f"{comp.name}-{key}.engine", cache_dir / f"{comp.name}-{key}.json"
    if _cached(engine, sidecar, key):
        return engine
    start = time.perf_counter()
    graph = Path(onnx_path)
    if precision == STRONGLY_TYPED_FP16:
        graph = fp16_onnx(graph, cache_dir / f"{comp.name}-{key}.fp16.onnx")
    data = _build(trt, graph, shapes, precision, cfg,
                  _timing_cache_path(cache_dir, trt.__version__, device))
    _atomic_write(engine, data)
    try:  # checked before first use; a cached engine was checked when it was built
        max_err = _verify(engine, Path(onnx_path), comp, precision)
    except TensorRTError:
        engine.unlink(missing_ok=True)  # never cached: the next run rebuilds, or falls back
        raise
    meta = {"key": key, "component": comp.name, "onnx_sha256": comp.sha256,
            "tensorrt": trt.__version__, **device, "precision": precision,
            "profile": {k: [list(s) for s in v] for k, v in shapes.items()},
            "config": asdict(cfg), "engine_sha256": sha256_file(engine),
            "build_seconds": round(time.perf_counter() - start, 2),
            "checked_against_onnxruntime": {"max_abs_err": max_err,
                                            "tolerance": TOLERANCE["fp16" if precision
                                                                   .startswith("fp16")
                                                                   else "fp32"]},
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    _atomic_write(sidecar, (json.dumps(meta, indent=2) + "\n").encode())
    return engine


def build_engines(export_dir: str | Path, manifest: ExportManifest, cache_dir: str | Path,
                  cfg: TensorRTConfig | None = None, components=None) -> dict[str, Path]:
    names = components or list(manifest.components)
    return {name: build_engine(manifest.path(export_dir, name), manifest.components[name],
                               cache_dir, cfg) for name in names}


def _torch_dtypes(trt) -> dict:
    import torch

    pairs = {"FLOAT": torch.float32, "HALF": torch.float16, "BF16": torch.bfloat16,
             "INT32": torch.int32, "INT64": torch.int64, "INT8": torch.int8,
             "UINT8": torch.uint8, "BOOL": torch.bool}
    return {getattr(trt.DataType, k): v for k, v in pairs.items() if hasattr(trt.DataType, k)}


class TrtRunner:
    """One deserialized engine and its execution context; call with torch tensors by name."""

    def __init__(self, engine_path: str | Path, device: int | None = None) -> None:
        import torch

        trt = require_tensorrt()
        if device is None:
            from cleverward.engine.environment import default_device

            device = default_device().index or 0
        self.device = torch.device("cuda", device)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        # TensorRT binds an engine to the CUDA device current at deserialisation: make the run's
        # GPU current first (a rank on GPU k would otherwise load every engine onto GPU 0).
        with torch.cuda.device(self.device):
            self.engine = self._runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
            if self.engine is None:
                raise TensorRTError(f"{engine_path}: could not deserialize (built by another "
                                    f"TensorRT version or for another GPU?)")
            self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.inputs = [n for n in names if is_input[n]]
        self.outputs = [n for n in names if not is_input[n]]
        dtypes = _torch_dtypes(trt)
        self.dtypes = {n: dtypes[self.engine.get_tensor_dtype(n)] for n in names}
        self.stream = torch.cuda.Stream(device=self.device)

    def max_shape(self, name: str) -> tuple[int, ...]:
        """The largest shape the optimisation profile accepts for input `name`."""
        return tuple(self.engine.get_tensor_profile_shape(name, 0)[2])

    def __call__(self, feeds: dict) -> dict:
        """feeds: input name -> tensor (any device); -> output name -> CUDA tensor. The outputs
        are ready on torch's current stream when this returns."""
        import torch

        with torch.cuda.device(self.device):
            return self._run(feeds)

    def _run(self, feeds: dict) -> dict:
        import torch

        current = torch.cuda.current_stream(self.device)
        held = []
        for name in self.inputs:
            t = feeds[name].to(self.device, self.dtypes[name]).contiguous()  # (on `current`)
            if not self.context.set_input_shape(name, tuple(t.shape)):
                lo, _, hi = self.engine.get_tensor_profile_shape(name, 0)
                raise TensorRTError(f"input {name}: shape {tuple(t.shape)} outside the "
                                    f"engine's profile {tuple(lo)}..{tuple(hi)}")
            self.context.set_tensor_address(name, t.data_ptr())
            held.append(t)
        unresolved = self.context.infer_shapes()
        if unresolved:
            raise TensorRTError(f"shapes not resolved for {unresolved}")
        outs = {}
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            outs[name] = torch.empty(shape, dtype=self.dtypes[name], device=self.device)
            self.context.set_tensor_address(name, outs[name].data_ptr())
        self.stream.wait_stream(current)  # the input copies were queued on `current`
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise TensorRTError("execute_async_v3 failed (see TensorRT log)")
        for t in (*held, *outs.values()):
            t.record_stream(self.stream)  # the caching allocator must not recycle them early
        current.wait_stream(self.stream)
        return outs
