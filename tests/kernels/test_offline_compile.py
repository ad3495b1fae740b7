"""The fused reward kernels compiled for real CUDA targets with no GPU: no register spills, and
shared memory that fits the smallest of the targeted cards (L4 / A10 / L40S: 99 KB per block).

Triton lowers to PTX and assembles a cubin with its bundled ptxas given an explicit GPUTarget;
cuobjdump reads the cubin's registers and stack frame (a Triton kernel's stack holds only spilled
registers). Runs here on CPU; skipped with the reason where the toolchain is absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SHARED_LIMIT = 101376  # bytes per block on sm_86 / sm_89 (A10, L4, L40S); sm_80: 166 KB
CAPABILITIES = (80, 86, 89, 90)
ROOT = Path(__file__).resolve().parents[2]


def _toolchain_problem() -> str | None:
    try:
        import triton  # noqa: F401
        from triton.backends.compiler import GPUTarget  # noqa: F401
        from triton.backends.nvidia.compiler import get_ptxas
    except ImportError as exc:
        return f"triton's NVIDIA backend does not import: {exc}"
    ptxas = Path(get_ptxas(90).path)
    if not ptxas.is_file() or not ptxas.with_name("cuobjdump").is_file():
        return f"no bundled ptxas / cuobjdump beside {ptxas}"
    return None


def _reports() -> list[dict]:
    """Compile every config in a fresh interpreter: TRITON_INTERPRET (set by conftest.py for the
    interpreter tests) must be off for real compilation, and it is read at triton's import."""
    code = (
        "import json, dataclasses\n"
        "from cleverward.kernels import fused_reward as fr\n"
        "from cleverward.kernels.ptxas_report import compile_report\n"
        f"caps = {CAPABILITIES!r}\n"
        "out = []\n"
        "for cc in caps:\n"
        "    for cfg in fr.CONFIGS:\n"
        "        out.append(dict(dataclasses.asdict(compile_report(cfg, cc)), cfg=str(cfg)))\n"
        "    for kernel in ('text', 'video'):\n"
        "        r = compile_report(None, cc, kernel=kernel, e_pad=256)\n"
        "        out.append(dict(dataclasses.asdict(r), cfg=f'{kernel} E_PAD=256'))\n"
        "print(json.dumps(out))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_every_config_compiles_without_spills_and_fits_99kb_of_shared_memory():
    problem = _toolchain_problem()
    if problem:
        pytest.skip(problem)
    reports = _reports()
    from cleverward.kernels.fused_reward import CONFIGS

    assert len(reports) == len(CAPABILITIES) * (len(CONFIGS) + 2)
    bad = [r for r in reports
           if r["stack_bytes"] or r["local_bytes"] or r["shared_bytes"] > SHARED_LIMIT]
    assert not bad, bad
    # The big reward configs use Hopper's warpgroup MMA on sm_90 (64-row tiles and more).
    hopper = [r for r in reports if r["capability"] == 90 and r["kernel"] == "reward"]
    assert all(r["wgmma"] for r in hopper if "block_n=32" not in r["cfg"]), hopper
    assert not any(r["wgmma"] for r in reports if r["capability"] != 90)
