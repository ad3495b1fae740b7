"""Where FAISS indexes run: the one place that decides CPU or GPU.

A GPU is used when the installed faiss is a GPU build (StandardGpuResources exists) and it sees a
device (get_num_gpus() > 0). faiss-gpu imports fine on a machine without one, with
get_num_gpus() == 0, and then cannot move an index (FACTS.md), hence both checks. HNSW has no GPU
implementation in faiss, so HNSW indexes stay on the CPU either way. Indexes are always built and
saved on the CPU; only searching moves them.

    resident = resident_index(index, key=str(folder))   # the GPU copy is made once per process
    scores, ids, where = resident.search(queries, k=10, nprobe=32)   # (Q, k), (Q, k), "GPU ..."

A ResidentIndex keeps one GPU copy alive and reuses it for every query (copying a 100k x 256
flat index costs ~100 MB of host-to-device traffic: per query, that would dwarf the search).
Queries are searched in batches of up to QUERY_BATCH rows, one call each. faiss's GPU indexes
select at most GPU_MAX_K results and probe at most GPU_MAX_K lists; beyond that the search runs
on the CPU index and `where` says so.
"""

from __future__ import annotations

import threading
from functools import cache

import numpy as np

_GPU_KINDS = ("IndexFlat", "IndexFlatIP", "IndexFlatL2", "IndexIVFFlat")
GPU_MAX_K = 2048  # faiss GPU_MAX_SELECTION_K: the largest k and nprobe its GPU indexes accept
QUERY_BATCH = 4096


def _faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def require_faiss():
    """The faiss module, or a clear error naming the profile that provides it."""
    faiss = _faiss()
    if faiss is None:
        raise RuntimeError("faiss is not installed: install one profile, "
                           "pip install 'cleverward[cpu]' (faiss-cpu) or 'cleverward[gpu]'")
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


def choose(kind: str, k: int, nprobe: int | None, status: tuple[str, str]) -> tuple[str, str]:
    """("gpu" | "cpu", why) for one search of an index of type `kind`."""
    device, why = status
    if device != "gpu":
        return "cpu", why
    if kind not in _GPU_KINDS:
        return "cpu", f"{kind} has no faiss GPU implementation; CPU"
    if k > GPU_MAX_K:
        return "cpu", f"k={k} exceeds faiss's GPU limit of {GPU_MAX_K}: CPU fallback"
    if nprobe is not None and nprobe > GPU_MAX_K:
        return "cpu", f"nprobe={nprobe} exceeds faiss's GPU limit of {GPU_MAX_K}: CPU fallback"
    return "gpu", why


@cache
def _gpu_resources():
    # One StandardGpuResources per process: it owns scratch memory and streams, and must outlive
    # every index moved with it.
    return _faiss().StandardGpuResources()


def _gpu_device() -> int:
    from cleverward.engine.environment import default_device

    device = default_device()
    return (device.index or 0) if device.type == "cuda" else 0


class ResidentIndex:
    """A CPU index and, made on first GPU use and kept, its GPU copy."""

    def __init__(self, index) -> None:
        self.cpu = index
        self._gpu = None
        self._lock = threading.Lock()

    def gpu(self):
        with self._lock:
            if self._gpu is None:
                self._gpu = _faiss().index_cpu_to_gpu(_gpu_resources(), _gpu_device(), self.cpu)
            return self._gpu

    def search(self, queries: np.ndarray, k: int, nprobe: int | None = None):
        """queries (Q, E) float32 -> (scores (Q, k), ids (Q, k), where it ran and why)."""
        device, why = choose(type(self.cpu).__name__, k, nprobe, faiss_status())
        index = self.gpu() if device == "gpu" else self.cpu
        if nprobe is not None and hasattr(self.cpu, "nprobe"):
            if device == "gpu":
                _faiss().GpuParameterSpace().set_index_parameter(index, "nprobe", int(nprobe))
            else:
                index.nprobe = int(nprobe)
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        scores, ids = [], []
        for start in range(0, len(queries), QUERY_BATCH):  # one call per batch of queries
            s, i = index.search(queries[start : start + QUERY_BATCH], k)
            scores.append(s)
            ids.append(i)
        if not scores:
            scores, ids = [np.zeros((0, k), np.float32)], [np.zeros((0, k), np.int64)]
        return np.concatenate(scores), np.concatenate(ids), f"{device.upper()}: {why}"


_RESIDENT: dict[str, ResidentIndex] = {}
_RESIDENT_LOCK = threading.Lock()


def resident_index(index, key: str) -> ResidentIndex:
    """The process-wide ResidentIndex for `key` (e.g. the index folder and its mtime)."""
    with _RESIDENT_LOCK:
        found = _RESIDENT.get(key)
        if found is None:
            found = _RESIDENT[key] = ResidentIndex(index)
        return found


def to_search_device(index, k: int = 1, nprobe: int | None = None):
    """The index to search with (a GPU copy where possible) and where it runs."""
    device, why = choose(type(index).__name__, k, nprobe, faiss_status())
    if device != "gpu":
        return index, why
    return ResidentIndex(index).gpu(), why


def describe() -> str:
    """One line for `cleverward info`."""
    device, why = faiss_status()
    return f"{'yes' if device != 'none' else 'no'}: {why}"
