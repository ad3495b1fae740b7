"""benchmarks/gpu_check.py on a machine without CUDA: it says so, exits 0, writes nothing; and
the source-tree shim it relies on imports cleverward.* from this checkout with no install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: gpu-check runs")
def test_without_cuda_it_says_so_exits_0_and_writes_nothing(tmp_path):
    out = tmp_path / "RESULTS_gpu.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "no CUDA device here" in done.stdout
    assert "Nothing was run or measured" in done.stdout
    assert not out.exists()


def test_source_tree_shim_imports_the_checkout_not_an_installed_copy(tmp_path):
    """In a child with no site-packages copy of cleverward on its path (-I: isolated, and the
    editable install's finder bypassed by -S), the shim alone makes cleverward.* import."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1] + '/benchmarks')\n"
        "import source_tree; source_tree.install()\n"
        "import cleverward.engine.dimensions as d, cleverward.kernels.fused_reward as k\n"
        "print(d.__file__); print(k.__file__)\n"
    )
    site = [p for p in sys.path if p.endswith("site-packages")]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = ":".join(site)  # torch etc., but not the editable install's .pth finder
    done = subprocess.run([sys.executable, "-S", "-c", code, str(ROOT)], capture_output=True,
                          text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    files = done.stdout.split()
    assert files == [str(ROOT / "engine" / "dimensions.py"),
                     str(ROOT / "kernels" / "fused_reward.py")]


def test_score_dir_part_prepares_the_prompt_vectors_it_needs_and_skips_without_them(tmp_path):
    """Part (c) on the GPU machine takes the bench prompts' text vectors from the bundle: the
    file written here holds every bench corpus prompt, as MiniLM embeds it; without the file
    (or without PyAV) the part is skipped with the reason."""
    import numpy as np

    from cleverward.benchmarks import gpu_score_dir
    from cleverward.benchmarks.corpus import clip_prompt
    from cleverward.engine.encoders.minilm import MiniLMTextEncoder

    path = gpu_score_dir.prepare(tmp_path / gpu_score_dir.PROMPTS_FILE)
    texts = gpu_score_dir.PreparedTexts(path)
    wanted = [clip_prompt(0, i) for i in range(max(gpu_score_dir.CORPUS.values()))]
    got = texts.get_texts(wanted)
    assert all(v is not None for v in got)
    np.testing.assert_allclose(np.stack(got), MiniLMTextEncoder().encode(wanted), atol=1e-6)
    assert texts.get_texts(["a prompt nobody prepared"]) == [None]
    assert texts.get_video("x.mp4") is None
    reason = gpu_score_dir.run(tmp_path / "no-bundle-here")
    assert isinstance(reason, str) and reason.startswith("skipped: no prepared prompt vectors")
