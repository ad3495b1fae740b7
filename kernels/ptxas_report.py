"""Compile the fused reward kernels for a CUDA target with no GPU, and read ptxas's verdict.

    report = compile_report(CONFIGS[0], capability=90)             # the reward GEMM
    report.stack_bytes, report.shared_bytes, report.registers, report.wgmma

Triton lowers to PTX and assembles a cubin with its bundled ptxas without a driver, given an
explicit GPUTarget; cuobjdump (bundled too) reads that very cubin's registers and stack frame
(spilled registers live there: a Triton kernel has no other stack). Shared memory is Triton's
own figure (metadata.shared: the pipelined loads and layout conversions), the number the launch
checks against the device's limit.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cleverward.kernels import fused_reward as fr

_FP16 = {"a_ptr", "u_ptr"}
_FLOATS = {"eps"}
KERNELS = ("text", "video", "reward")


@dataclass(frozen=True)
class CompileReport:
    kernel: str
    capability: int
    registers: int
    stack_bytes: int  # per thread; Triton kernels have no stack but for spilled registers
    local_bytes: int
    shared_bytes: int
    wgmma: bool  # Hopper warpgroup MMA in the PTX


def _signature(fn) -> dict:
    """Argument name -> Triton type: fp32 pointers (fp16 for the split operands), i32 sizes."""
    code = fn.__code__
    sig = {}
    for name in code.co_varnames[: code.co_argcount]:
        if name.endswith("_ptr"):
            sig[name] = "*fp16" if name in _FP16 else "*fp32"
        elif name in _FLOATS:
            sig[name] = "fp32"
        elif name.isupper() and name not in ("B_BUCKET", "E3") and len(name) > 1:
            sig[name] = "constexpr"
        else:
            sig[name] = "i32"
    return sig


def _resource_usage(cubin: bytes, capability: int) -> str:
    """cuobjdump's resource line (REG, STACK, SHARED, LOCAL) for the cubin Triton built."""
    from triton.backends.nvidia.compiler import get_ptxas

    cuobjdump = Path(get_ptxas(capability).path).with_name("cuobjdump")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "k.cubin"
        path.write_bytes(cubin)
        done = subprocess.run([str(cuobjdump), "--dump-resource-usage", str(path)],
                              capture_output=True, text=True, check=True)
    return done.stdout


def _count(pattern: str, log: str) -> int:
    found = re.search(pattern, log)
    return int(found.group(1)) if found else 0


def compile_report(cfg: fr.KernelConfig | None, capability: int, kernel: str = "reward",
                   e_pad: int = 256, precision: str = "tf32x3") -> CompileReport:
    """Compile one kernel for sm_<capability>: "reward" with `cfg`, or a projection kernel
    ("text", "video") with its fixed blocks and the projection `precision`."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    text_k, video_k, reward_k = fr._jitted_kernels(False)
    if kernel == "reward":
        jit = reward_k.fn  # the autotuner wraps the JITFunction
        consts = {"BLOCK_N": cfg.block_n, "BLOCK_J": cfg.block_j, "BLOCK_E": cfg.block_e}
        warps, stages = cfg.num_warps, cfg.num_stages
    else:
        jit = text_k if kernel == "text" else video_k
        pc = fr.proj_config(e_pad, text=kernel == "text")
        consts = {"BLOCK_N": pc.block_n, "BLOCK_D": pc.block_e, "E_PAD": e_pad,
                  "PRECISION": precision}
        warps, stages = pc.num_warps, pc.num_stages
    src = ASTSource(jit, _signature(jit.fn), constexprs=consts)
    compiled = triton.compile(src, target=GPUTarget("cuda", capability, 32),
                              options={"num_warps": warps, "num_stages": stages})
    usage = _resource_usage(compiled.asm["cubin"], capability)
    return CompileReport(
        kernel=kernel, capability=capability,
        registers=_count(r"REG:(\d+)", usage),
        stack_bytes=_count(r"STACK:(\d+)", usage),  # > 0: registers spilled to local memory
        local_bytes=_count(r"LOCAL:(\d+)", usage),
        shared_bytes=int(compiled.metadata.shared),
        wgmma="wgmma" in compiled.asm["ptx"],
    )
