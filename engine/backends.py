"""Which backend runs the text encoder and the reward head: torch | onnx | tensorrt.

`choose_backend` is the one place that decides; it fails at once, with what is missing and what
to use instead, when a requested backend cannot run here. `RewardModel.with_backend(name)`
applies the decision (engine/runtime.py).

`auto`, in order:
  1. tensorrt, where TensorRT and a CUDA device are present;
  2. torch on CUDA: the head's path is derived from where its parameters are (head_weight) by
     the dispatch's own predicate (kernels.fused_reward.head_path): Triton only when it runs;
  3. on CPU, whichever of torch and ONNX Runtime is faster for a representative workload
     (encode 64 prompts with MiniLM + score 1024 videos x 64 prompts). The timings come from a
     measurement on this machine when one is recorded (benchmarks/bench_onnx.py records one),
     else from the reference measurement below (benchmarks/RESULTS_onnx.md).
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from cleverward.engine.capabilities import backend_status
from cleverward.engine.environment import default_cache_dir, default_device

TIMINGS_FILE = "backend-timings.json"

# benchmarks/RESULTS_onnx.md (AMD EPYC, 2 cores, torch 2.13.0, onnxruntime 1.32.0): seconds for
# MiniLM on 64 prompts end to end, and for the head on 1024 x 64.
REFERENCE_TIMINGS = {
    "machine": "AMD EPYC, 2 cores (the project's CPU machines), 2026-11-24 06:31 UTC",
    "torch": {"text64_s": 0.209, "head_s": 0.00994},
    "onnx": {"text64_s": 0.172, "head_s": 0.01101},
}


class BackendUnavailable(RuntimeError):
    pass


def machine_id() -> dict:
    """What a timing depends on: the CPU and the two runtimes' versions."""
    from cleverward.engine.environment import version

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": version("torch"),
            "onnxruntime": version("onnxruntime")}


def record_timings(torch_s: dict, onnx_s: dict, path: Path | None = None) -> Path:
    """Store this machine's measurement (seconds: text64_s, head_s per backend) for `auto`."""
    path = Path(path or default_cache_dir() / TIMINGS_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"id": machine_id(), "torch": torch_s, "onnx": onnx_s},
                               indent=2) + "\n")
    return path


def cpu_timings(path: Path | None = None) -> tuple[dict, str]:
    """(timings, where from): this machine's recorded measurement if it matches, else the
    reference one."""
    path = Path(path or default_cache_dir() / TIMINGS_FILE)
    try:
        data = json.loads(path.read_text())
        if data.get("id") == machine_id():
            return data, f"measured on this machine ({path})"
    except (OSError, ValueError):
        pass
    return REFERENCE_TIMINGS, f"reference measurement, {REFERENCE_TIMINGS['machine']}"


def onnx_problem(model) -> str | None:
    """Why this model's text encoder cannot run on ONNX Runtime (None if it can)."""
    from cleverward.engine.export.onnx_export import text_export_problem

    return text_export_problem(model.text_encoder)


def _auto_cpu(status: dict, model=None) -> tuple[str, str]:
    if not status["onnx"][0]:
        return "torch", "auto: torch on CPU (" + status["onnx"][1] + ")"
    problem = onnx_problem(model) if model is not None else None
    if problem:
        return "torch", f"auto: torch on CPU ({problem}, so it has no ONNX graph)"
    timings, source = cpu_timings()
    cost = {b: timings[b]["text64_s"] + timings[b]["head_s"] for b in ("torch", "onnx")}
    best = min(cost, key=cost.get)
    other = "torch" if best == "onnx" else "onnx"

    def ratio(key: str) -> float:
        return timings["torch"][key] / timings["onnx"][key]  # > 1: ORT faster

    bound = ""
    if best == "onnx":
        from cleverward.engine.ort_providers import probe_bound

        bound = f", ORT binds {probe_bound('cpu')}"
    return best, (
        f"auto: {best} on CPU{bound} - 64 prompts + a 1024x64 head take {1e3 * cost[best]:.0f} ms "
        f"against {1e3 * cost[other]:.0f} ms on {other} (ORT vs torch: text encoder "
        f"{ratio('text64_s'):.2f}x, head {ratio('head_s'):.2f}x; {source})"
    )


def head_weight(model=None, device=None):
    """A real tensor where the head's parameters are on the run's device (`device`, else the
    model's, else the default): the head the run scores with, else an empty tensor there.
    Reports are derived from it, never from what is installed."""
    import torch

    if model is not None and getattr(model, "head", None) is not None:
        scorer = getattr(model, "frames_scorer", None)
        if scorer is None:
            return model.head.video_proj.weight
        where = torch.device(device) if device is not None else model.device
        return scorer.head(where).video_proj.weight
    return torch.empty((0, 1), device=device if device is not None else default_device())


def choose_backend(requested: str, model=None, device=None) -> tuple[str, str]:
    """-> (backend, reason). BackendUnavailable if `requested` cannot run here, or (given the
    model: a loaded checkpoint, encoders not yet loaded) cannot run this model. device: the
    run's (engine/device.resolve_device); default: the model's, else the machine's default."""
    status = backend_status()
    if requested == "auto":
        weight = head_weight(model, device)
        if weight.is_cuda and status["tensorrt"][0] and not (model is not None
                                                             and onnx_problem(model)):
            return "tensorrt", "auto: TensorRT engines on the GPU (" + status["tensorrt"][1] + ")"
        if weight.is_cuda:
            from cleverward.kernels.fused_reward import head_path

            return "torch", f"auto: torch, head: {head_path(weight)}"
        backend, why = _auto_cpu(status, model)
        if backend == "torch":
            from cleverward.kernels.fused_reward import head_path

            why += f"; head: {head_path(weight)}"
        return backend, why
    if requested not in status:
        raise BackendUnavailable(f"unknown backend {requested!r}; choose from {sorted(status)}")
    ok, why = status[requested]
    if not ok:
        raise BackendUnavailable(f"--backend {requested} cannot run here: {why}")
    problem = onnx_problem(model) if model is not None and requested != "torch" else None
    if problem:
        raise BackendUnavailable(f"--backend {requested} cannot run this model: {problem}; "
                                 f"use --backend torch")
    if requested == "onnx":  # what ORT binds on the run's device, not what this build lists
        from cleverward.engine.ort_providers import probe_bound

        where = device if device is not None else getattr(model, "device", default_device())
        why = f"ONNX Runtime on {where} binds {probe_bound(str(where))}"
    return requested, why
