"""Where FAISS indexes run: the one place that decides CPU or GPU.

A GPU is used when the installed faiss is a GPU build (StandardGpuResources exists) and it sees a
device (get_num_gpus() > 0). faiss-gpu imports fine on a machine without one, with
get_num_gpus() == 0, and then cannot move an index (FACTS.md), hence both checks. HNSW has no GPU
implementation in faiss, so HNSW indexes stay on the CPU either way. Indexes are always built and
saved on the CPU; only searching moves them.
"""

from __future__ import annotations

from functools import cache

_GPU_KINDS = ("IndexFlat", "IndexFlatIP", "IndexFlatL2", "IndexIVFFlat")


def _faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


@cache
def faiss_status() -> tuple[str, str]:
    """("gpu" | "cpu" | "none", why)."""
    faiss = _faiss()
    if faiss is None:
        return "none", "faiss is not installed"
    threads = faiss.omp_get_max_threads()
    if not hasattr(faiss, "StandardGpuResources"):
        return "cpu", f"faiss {faiss.__version__} CPU build, {threads} OpenMP threads"
    gpus = faiss.get_num_gpus()
    if gpus < 1:
        return "cpu", f"faiss {faiss.__version__} GPU build but no GPU visible; CPU, {threads} " \
                      "OpenMP threads"
    return "gpu", f"faiss {faiss.__version__} on {gpus} GPU(s)"


@cache
def _gpu_resources():
    # One StandardGpuResources per process: it owns scratch memory and streams, and must outlive
    # every index moved with it.
    return _faiss().StandardGpuResources()


def to_search_device(index):
    """The index to search with (a GPU copy where possible) and where it runs."""
    device, why = faiss_status()
    if device != "gpu":
        return index, why
    kind = type(index).__name__
    if kind not in _GPU_KINDS:
        return index, f"{kind} has no faiss GPU implementation; CPU"
    faiss = _faiss()
    return faiss.index_cpu_to_gpu(_gpu_resources(), 0, index), why


def describe() -> str:
    """One line for `cleverward info`."""
    device, why = faiss_status()
    return f"{'yes' if device != 'none' else 'no'}: {why}"
