"""faiss_device: the GPU/CPU decision (GPU limits on k and nprobe), and ResidentIndex's batched
search against a direct faiss search on the CPU build installed here."""

from __future__ import annotations

import faiss  # a core dependency: missing fails, never skips
import numpy as np
import pytest

from cleverward.engine import faiss_device
from cleverward.engine.faiss_device import GPU_MAX_K, ResidentIndex, choose, resident_index

GPU = ("gpu", "faiss 1.15 on 1 GPU(s)")


@pytest.mark.parametrize("kind, k, nprobe, want, says", [
    ("IndexFlatIP", 10, None, "gpu", "on 1 GPU"),
    ("IndexFlatIP", GPU_MAX_K, None, "gpu", "on 1 GPU"),
    ("IndexFlatIP", GPU_MAX_K + 1, None, "cpu", "k=2049 exceeds faiss's GPU limit of 2048"),
    ("IndexIVFFlat", 10, GPU_MAX_K, "gpu", "on 1 GPU"),
    ("IndexIVFFlat", 10, 4096, "cpu", "nprobe=4096 exceeds faiss's GPU limit of 2048"),
    ("IndexHNSWFlat", 10, None, "cpu", "IndexHNSWFlat has no faiss GPU implementation"),
])
def test_gpu_limits_send_the_search_to_the_cpu_and_say_why(kind, k, nprobe, want, says):
    device, why = choose(kind, k, nprobe, GPU)
    assert device == want and says in why


def test_a_cpu_build_always_searches_on_the_cpu():
    assert choose("IndexFlatIP", 10, None, ("cpu", "faiss CPU build")) == ("cpu",
                                                                           "faiss CPU build")


def _data(n=300, q=11, d=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d), dtype=np.float32), rng.standard_normal((q, d),
                                                                               dtype=np.float32)


def test_batched_search_equals_one_direct_search(monkeypatch):
    base, queries = _data()
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    want_s, want_i = index.search(queries, 7)
    monkeypatch.setattr(faiss_device, "QUERY_BATCH", 4)  # 11 queries: batches of 4, 4, 3
    scores, ids, where = ResidentIndex(index).search(queries, 7)
    assert np.array_equal(ids, want_i) and np.allclose(scores, want_s)
    assert where.startswith(faiss_device.faiss_status()[0].upper())


def test_ivf_nprobe_is_applied_on_the_cpu_fallback():
    base, queries = _data(n=2000, seed=1)
    quantizer = faiss.IndexFlatIP(16)
    index = faiss.IndexIVFFlat(quantizer, 16, 64, faiss.METRIC_INNER_PRODUCT)
    index.train(base)
    index.add(base)
    exact = faiss.IndexFlatIP(16)
    exact.add(base)
    _, truth = exact.search(queries, 5)
    _, ids, where = ResidentIndex(index).search(queries, 5, nprobe=64)  # all lists: exact
    assert np.array_equal(ids, truth) and index.nprobe == 64
    _, few, _ = ResidentIndex(index).search(queries, 5, nprobe=1)
    assert not np.array_equal(few, truth)  # one list of 64 misses neighbours: nprobe took effect


def test_resident_index_is_one_object_per_key():
    index = faiss.IndexFlatIP(4)
    assert resident_index(index, "k1") is resident_index(faiss.IndexFlatIP(4), "k1")
    assert resident_index(index, "k2") is not resident_index(index, "k1")


def test_no_queries_give_empty_results():
    index = faiss.IndexFlatIP(4)
    index.add(np.eye(4, dtype=np.float32))
    scores, ids, _ = ResidentIndex(index).search(np.zeros((0, 4), np.float32), 3)
    assert scores.shape == (0, 3) and ids.shape == (0, 3)
