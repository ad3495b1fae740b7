"""FAISS index kinds over clustered synthetic 256-d unit vectors: memory, build, query, recall.

    python benchmarks/bench_faiss.py [--n 1000000] [--quick] [--kinds flat,ivf,hnsw] [--json OUT]

Indexes are built by the engine's own builder (engine.video_index.build_faiss_index), so this
measures what `cleverward index build` makes: flat = IndexFlatIP; ivf = IndexIVFFlat, inner
product, nlist = sqrt(n), spherical k-means on 64 * nlist sampled points; hnsw = IndexHNSWFlat,
inner product, M = 32, efConstruction = 80.

Data (`clustered_vectors`): unit vectors around random unit centres, each cluster spread in its own
low-dimensional subspace plus a little isotropic noise, like projected embeddings of a corpus with
topics. Queries are fresh draws from the same distribution, not stored vectors.

Per kind: build seconds (train + add); index bytes (its serialised size, written to a temp file);
RSS growth over the build (VmRSS, /proc/self/status); a batch of Q queries at k = 10 (queries/s,
and for flat the GFLOP/s of its Q x n x d inner products, 2 n d Q FLOP); single-query latency
(median of 50 one-query searches); recall@10 against flat, per nprobe / efSearch.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import tempfile
import time

import numpy as np

from cleverward.benchmarks.report import emit_json

K = 10
IVF_NPROBES = (8, 16, 32, 64, 128)
HNSW_EFS = (16, 32, 64, 128, 256)


def clustered_vectors(n: int, d: int = 256, clusters: int = 1000, intrinsic: int = 32,
                      spread: float = 0.7, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """(n, d) unit float32: centre_c + spread * (z @ B_c) + noise * e, normalised, where c is a
    random cluster, B_c an orthonormal (intrinsic, d) basis of its own and z, e standard normal
    (scaled by 1/sqrt of their dimension so `spread` and `noise` are norms)."""
    rng = np.random.default_rng(seed)
    intrinsic = min(intrinsic, d)
    centres = rng.standard_normal((clusters, d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)  # (C, d)
    label = rng.integers(clusters, size=n)
    out = np.empty((n, d), np.float32)
    for c in range(clusters):
        rows = np.flatnonzero(label == c)
        basis = np.linalg.qr(rng.standard_normal((d, intrinsic)))[0].T.astype(np.float32)
        z = rng.standard_normal((len(rows), intrinsic), dtype=np.float32) / np.sqrt(intrinsic)
        out[rows] = centres[c] + spread * (z @ basis)  # (m, intrinsic) @ (intrinsic, d)
    out += noise / np.sqrt(d) * rng.standard_normal((n, d), dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def index_bytes(index) -> int:
    import faiss

    with tempfile.NamedTemporaryFile(suffix=".faiss") as f:
        faiss.write_index(index, f.name)
        return os.path.getsize(f.name)


def _set(index, kind: str, value: int) -> None:
    from cleverward.engine.video_index import set_search_param

    set_search_param(index, kind, value)


def _latency_ms(index, queries: np.ndarray, repeats: int = 50) -> float:
    times = []
    for i in range(repeats):
        q = queries[i % len(queries)][None]
        start = time.perf_counter()
        index.search(q, K)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def bench_kind(kind: str, xb: np.ndarray, xq: np.ndarray, truth: np.ndarray | None) -> dict:
    """Build one kind over xb and search it with xq; recall against `truth` (flat's ids)."""
    from cleverward.engine.video_index import build_faiss_index, recall_at_k

    gc.collect()
    rss0, start = rss_bytes(), time.perf_counter()
    index = build_faiss_index(xb, kind)
    build_s = time.perf_counter() - start
    res = {"build_s": round(build_s, 3), "rss_delta_mb": round((rss_bytes() - rss0) / 1e6, 1),
           "index_mb": round(index_bytes(index) / 1e6, 1)}
    n, d = xb.shape
    settings = {"flat": [None], "ivf": IVF_NPROBES, "hnsw": HNSW_EFS}[kind]
    res["search"] = []
    for value in settings:
        if value is not None:
            _set(index, kind, value)
        start = time.perf_counter()
        _, ids = index.search(xq, K)
        batch_s = time.perf_counter() - start
        row = {"param": value, "batch_s": round(batch_s, 3),
               "queries_per_s": round(len(xq) / batch_s, 1),
               "latency_ms": round(_latency_ms(index, xq), 3),
               "recall_at_10": 1.0 if truth is None else round(recall_at_k(ids, truth), 4)}
        if kind == "flat":
            row["gflops"] = round(2 * n * d * len(xq) / batch_s / 1e9, 1)
            res["ids"] = ids
        res["search"].append(row)
    if kind == "ivf":
        res["nlist"] = index.nlist
    del index
    return res


def run(n: int = 1_000_000, quick: bool = False, kinds: tuple[str, ...] = ("flat", "ivf", "hnsw"),
        queries: int = 1000, seed: int = 0) -> dict:
    """The figures for each kind over n (quick: 100k) clustered 256-d vectors."""
    import faiss

    n = 100_000 if quick else n
    start = time.perf_counter()
    data = clustered_vectors(n + queries, clusters=max(10, n // 30), seed=seed)
    xb, xq = data[:n], data[n:]  # queries are held out: not in the index
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
                      f"faiss {faiss.__version__} ({faiss.omp_get_max_threads()} OpenMP threads)",
           "n": n, "d": xb.shape[1], "queries": queries, "k": K,
           "data_s": round(time.perf_counter() - start, 1), "kinds": {}}
    truth = None
    for kind in ("flat", *[k for k in kinds if k != "flat"]):
        res = bench_kind(kind, xb, xq, truth)
        if kind == "flat":
            truth = res.pop("ids")
        if kind in kinds:
            out["kinds"][kind] = res
        print(f"{kind}: {json.dumps(res)}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100k vectors")
    parser.add_argument("--kinds", default="flat,ivf,hnsw")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args(argv)
    res = run(args.n, args.quick, tuple(args.kinds.split(",")), args.queries)
    emit_json(res, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
