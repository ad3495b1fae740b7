"""Bulk scoring as search: a FAISS inner-product index over a folder's projected videos.

With unit projections the overall reward is an inner product,
    r_0(video, text) = < project_video(v)[:, 0], project_text(t)[:, 0] >   (reward_head.py)
so a prompt's best videos are a maximum-inner-product search, and the score `search` reports is
the `score` score-dir writes for the same (video, prompt, model).

    build_video_index(IndexConfig)   list_videos -> cache | decode_stream -> video encoder
                                     -> head (k = 0) -> FAISS index + paths, saved by the cache
    search_videos(SearchConfig)      text (cache | encoder) -> head -> index.search -> rewards

Kind (--kind auto): exact IndexFlatIP up to `exact_max` = 100k videos (a query scans 100 MB:
9-32 ms on this shared 2-core box), IVF-Flat beyond (nlist ~ sqrt(n), spherical k-means): at 1M
it builds in 7 s where HNSW took 14 min (benchmarks/RESULTS_faiss.md), and corpora are re-indexed
as they grow. `--kind hnsw` answers ~10x faster at equal recall once built: for an index that is
queried a lot.
An approximate index's search parameter (nprobe / efSearch) is tuned at build time on sampled
queries to reach `target_recall` recall@10 against exact search; the value and the measured
recall are stored and reported.

On disk: <cache root>/indexes/<sha256(abs dir, model)[:16]>/{meta.json, index-*.faiss}.
meta.json names its index file and is replaced last, so a reader sees the old pair or the new.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cleverward.engine.config import DECODERS
from cleverward.engine.decode_pool import decode_stream
from cleverward.engine.embedding_cache import (
    CacheConfig,
    EmbeddingCache,
    cache_root,
    namespaces_for,
    open_cache,
)
from cleverward.engine.encode_batch import encode_isolating
from cleverward.engine.faiss_device import resident_index
from cleverward.engine.progress import report_total
from cleverward.engine.run_record import head_digest
from cleverward.engine.scoring import list_videos

FORMAT = "cleverward-video-index/1"
INDEX_KINDS = ("auto", "flat", "ivf", "hnsw")
RECALL_K = 10
_CHUNK = 4096  # videos embedded and projected at a time by build_video_index
_LADDER = {"ivf": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
           "hnsw": [16, 32, 64, 128, 256, 512, 1024]}


@dataclass(frozen=True)
class IndexConfig:
    """One `index build`. frames/decoder must match score-dir's for their scores to agree."""

    videos_dir: str
    model: str = "default"
    cache_dir: str | None = None
    use_cache: bool = True
    kind: str = "auto"
    frames: int = 8
    decoder: str = "auto"
    workers: int = 2
    batch_size: int = 8
    exact_max: int = 100_000
    target_recall: float = 0.95
    recall_queries: int = 200
    hnsw_m: int = 32
    ef_construction: int = 80
    seed: int = 0
    device: str = "auto"  # where the encoders and the head run (engine/device.resolve_device)

    def __post_init__(self) -> None:
        checks = [
            (self.kind in INDEX_KINDS, "kind", f"must be one of {INDEX_KINDS}"),
            (self.decoder in DECODERS, "decoder", f"must be one of {DECODERS}"),
            (1 <= self.frames <= 512, "frames", f"must be in 1..512, got {self.frames}"),
            (self.workers >= 1 and self.batch_size >= 1, "workers/batch_size", "must be >= 1"),
            (self.exact_max >= 0, "exact_max", "must be >= 0"),
            (0 < self.target_recall <= 1, "target_recall", "must be in (0, 1]"),
            (self.recall_queries >= 1, "recall_queries", "must be >= 1"),
            (self.hnsw_m >= 2 and self.ef_construction >= 1, "hnsw_m/ef_construction",
             "must be >= 2 / >= 1"),
        ]
        for ok, name, message in checks:
            if not ok:
                raise ValueError(f"{name}: {message}")


@dataclass(frozen=True)
class SearchConfig:
    text: str
    top_k: int = 10
    videos_dir: str | None = None  # None: the index built most recently for this model
    model: str = "default"
    cache_dir: str | None = None
    kind: str | None = None  # None: the kind built most recently for that folder

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in ("flat", "ivf", "hnsw"):
            raise ValueError(f"--kind: must be flat, ivf or hnsw, got {self.kind!r}")
        if not self.text.strip():
            raise ValueError("text: must not be empty")
        if self.top_k < 1:
            raise ValueError(f"top_k: must be >= 1, got {self.top_k}")


@dataclass
class Embedded:
    """Video embeddings of a set of clips, what failed and why, and where vectors came from."""

    vectors: dict[str, np.ndarray] = field(default_factory=dict)  # key -> (Dv,)
    errors: dict[str, str] = field(default_factory=dict)
    decoded: int = 0
    cache_hits: int = 0


@dataclass
class IndexReport:
    location: str
    videos_dir: str
    kind: str
    reason: str
    count: int
    decoded: int
    cache_hits: int
    failed: dict[str, str]
    params: dict
    recall: float | None
    seconds: float

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SearchHit:
    rank: int
    video: str  # relative to the indexed folder, as score-dir writes it
    path: str
    score: float
    stale: str | None = None  # why the indexed vector may no longer be this file's, or None


def staleness(path: str, built: float) -> str | None:
    """A hit's file is gone or was modified after the index was built: its score is the old
    file's. (A cheap stat of the hits only; `index build` again refreshes the index.)"""
    try:
        modified = os.stat(path).st_mtime
    except OSError:
        return "missing"
    return "modified after the index was built" if modified > built else None


# -- embedding -----------------------------------------------------------------------------

def embed_videos(
    items: list[tuple[str, str]], model, cache, decode_cfg, workers: int = 2,
    batch_size: int = 8, progress: Callable[[int], None] | None = None,
) -> Embedded:
    """(key, path) items -> their video embeddings: from the cache where it has them, else
    decoded on the pool and encoded in batches (then cached). Failures are per clip."""
    out = Embedded()
    misses = []
    for key, path in items:
        vec = cache.get_video(path)
        if vec is None:
            misses.append((key, path))
        else:
            out.vectors[key] = vec
            out.cache_hits += 1
    if progress and out.cache_hits:
        progress(out.cache_hits)
    batch: list = []

    def flush() -> None:
        results = encode_isolating(model, [d.frames for d in batch])
        for d, (vec, error) in zip(batch, results, strict=True):
            if vec is None:
                out.errors[d.key] = error
            else:
                cache.put_video(d.path, vec)
                out.vectors[d.key] = vec
        if progress:
            progress(len(batch))
        batch.clear()

    for d in decode_stream(misses, decode_cfg, workers=workers):
        if d.error is not None:
            out.errors[d.key] = d.error
            if progress:
                progress(1)
            continue
        out.decoded += 1
        batch.append(d)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return out


def project_overall(model, vectors: np.ndarray) -> np.ndarray:
    """Video embeddings (N, Dv) -> unit float32 (N, E), the overall score's projection."""
    import torch

    with torch.inference_mode():
        p = model.head.project_video(torch.from_numpy(np.asarray(vectors, np.float32)))
    return np.ascontiguousarray(p[:, 0, :].numpy())  # (N, K, E) -> (N, E)


def project_query(model, text: np.ndarray) -> np.ndarray:
    """Text embeddings (P, Dt) -> unit float32 (P, E)."""
    import torch

    with torch.inference_mode():
        p = model.head.project_text(torch.from_numpy(np.asarray(text, np.float32)))
    return np.ascontiguousarray(p[:, 0, :].numpy())  # (P, K, E) -> (P, E)


# -- FAISS ---------------------------------------------------------------------------------

def choose_kind(n: int, requested: str = "auto", exact_max: int = 100_000) -> tuple[str, str]:
    """The index kind for n vectors, and why."""
    if requested != "auto":
        return requested, "requested"
    if n <= exact_max:
        return "flat", f"{n} videos <= {exact_max}: exact search"
    return "ivf", f"{n} videos > {exact_max}: IVF-Flat, approximate (recall measured)"


def ivf_nlist(n: int) -> int:
    # ~sqrt(n) lists balance list scanning against centroid scanning; faiss's k-means wants at
    # least 39 training points per centroid.
    return max(1, min(65536, round(math.sqrt(n)), n // 39))


def build_faiss_index(
    vectors: np.ndarray, kind: str, *, nlist: int | None = None, hnsw_m: int = 32,
    ef_construction: int = 80, seed: int = 0,
):
    """Unit vectors (N, E) -> a trained, filled inner-product index of `kind` (flat|ivf|hnsw)."""
    import faiss

    vectors = np.ascontiguousarray(vectors, np.float32)
    n, d = vectors.shape
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif kind == "ivf":
        nlist = nlist or ivf_nlist(n)
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.spherical = True  # unit centroids: assignment by inner product is then sound
        index.cp.seed = seed
        sample = np.random.default_rng(seed).choice(n, min(n, 64 * nlist), replace=False)
        index.train(vectors[np.sort(sample)])
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
    else:
        raise ValueError(f"kind: must be flat, ivf or hnsw, got {kind!r}")
    index.add(vectors)
    return index


def set_search_param(index, kind: str, value: int | None) -> None:
    if value is None or kind == "flat":
        return
    if kind == "ivf":
        index.nprobe = int(value)
    else:
        index.hnsw.efSearch = int(value)


def sample_queries(vectors: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Unit midpoints of random pairs of stored vectors, (n, E): in the data's region but not
    stored themselves (a stored vector as query would find itself and flatter recall)."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(len(vectors), size=(2, n))
    q = vectors[a] + vectors[b]
    return (q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """found, truth: (Q, k) ids (-1 = none) -> mean |found & truth| / k."""
    k = truth.shape[1]
    hits = [len(set(f[f >= 0]) & set(t[t >= 0])) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits) / k)


def exact_neighbours(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    import faiss

    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(np.ascontiguousarray(vectors, np.float32))
    return exact.search(queries, k)[1]  # (Q, k)


def tune_search_param(
    index, kind: str, vectors: np.ndarray, target: float, queries: int = 200, seed: int = 0,
    k: int = RECALL_K,
) -> tuple[int, float]:
    """The smallest nprobe / efSearch on the ladder whose recall@k against exact search reaches
    `target` on sampled queries (or the ladder's last), and that recall."""
    q = sample_queries(vectors, queries, seed)
    k = min(k, len(vectors))
    truth = exact_neighbours(vectors, q, k)
    ladder = _LADDER[kind]
    if kind == "ivf":
        ladder = [p for p in ladder if p < index.nlist] + [index.nlist]
    for value in ladder:
        set_search_param(index, kind, value)
        recall = recall_at_k(index.search(q, k)[1], truth)
        if recall >= target:
            break
    return value, recall


# -- on disk -------------------------------------------------------------------------------

def model_id(name: str) -> str:
    """How an index records its model: a named model by name, a checkpoint by absolute path,
    an encoder spec (clip:DIR) with its folder made absolute."""
    from cleverward.engine.checkpoint import NAMED_MODELS, absolute_spec
    from cleverward.engine.zero_shot import is_encoder_spec

    if name in NAMED_MODELS:
        return name
    if is_encoder_spec(name):
        return absolute_spec(name, typed=True)
    return os.path.abspath(os.path.expanduser(name))


def index_location(root: Path, videos_dir: str, model: str, kind: str) -> Path:
    """One folder per (folder, model, kind): an HNSW build never replaces the exact index."""
    ident = f"{os.path.abspath(videos_dir)}\n{model_id(model)}\n{kind}".encode()
    return Path(root) / "indexes" / hashlib.sha256(ident).hexdigest()[:16]


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_index(folder: Path, index, meta: dict) -> None:
    import faiss

    folder.mkdir(parents=True, exist_ok=True)
    name = f"index-{time.time_ns()}-{secrets.token_hex(4)}.faiss"
    tmp = folder / f".{name}.tmp"
    faiss.write_index(index, str(tmp))
    os.replace(tmp, folder / name)
    _atomic_write_text(folder / "meta.json", json.dumps({**meta, "index_file": name}, indent=1))
    for old in folder.glob("index-*.faiss"):
        if old.name != name:
            old.unlink(missing_ok=True)


def load_index(folder: Path):
    """-> (faiss index, meta); ValueError if the pair is inconsistent."""
    import faiss

    meta = json.loads((Path(folder) / "meta.json").read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{folder}: not a {FORMAT} index (format {meta.get('format')!r})")
    index = faiss.read_index(str(Path(folder) / meta["index_file"]))
    if index.ntotal != len(meta["paths"]):
        raise ValueError(f"{folder}: index holds {index.ntotal} vectors for "
                         f"{len(meta['paths'])} paths")
    return index, meta


def find_index(root: Path, model: str, videos_dir: str | None = None,
               kind: str | None = None) -> Path:
    """The index folder for `model`: of `videos_dir` when given, of `kind` when given; among
    several, the one built last."""
    best, best_time = None, -1.0
    folder = os.path.abspath(videos_dir) if videos_dir is not None else None
    for meta_file in (Path(root) / "indexes").glob("*/meta.json"):
        meta = json.loads(meta_file.read_text())
        if (meta.get("model") == model_id(model) and meta.get("created", 0) > best_time
                and folder in (None, meta.get("videos_dir")) and kind in (None, meta.get("kind"))):
            best, best_time = meta_file.parent, meta["created"]
    if best is None:
        what = f"a {kind} index" if kind else "an index"
        of = f" of {videos_dir}" if videos_dir is not None else ""
        raise FileNotFoundError(f"no {what}{of} for model {model!r} in {root}; run "
                                f"`cleverward index build {videos_dir or 'DIR'}"
                                f"{' --kind ' + kind if kind else ''}`")
    return best


# -- the two entry points ------------------------------------------------------------------

def _embed_projected(cfg: IndexConfig, model, cache, videos: list[str], progress):
    """-> (kept videos, unit (N, E) projections, Embedded counts and errors). Projected chunk by
    chunk: raw vectors are 1668-d with the default model, 6.5x the 256-d projection, so holding
    a million of them would take 6.7 GB."""
    root, decode_cfg = Path(cfg.videos_dir), model.decode_config(cfg.frames, cfg.decoder)
    total, kept, parts = Embedded(), [], []
    for start in range(0, len(videos), _CHUNK):
        chunk = videos[start : start + _CHUNK]
        got = embed_videos([(v, str(root / v)) for v in chunk], model, cache, decode_cfg,
                           cfg.workers, cfg.batch_size, progress)
        done = [v for v in chunk if v in got.vectors]
        if done:
            parts.append(project_overall(model, np.stack([got.vectors[v] for v in done])))
        kept += done
        total.errors.update(got.errors)
        total.decoded += got.decoded
        total.cache_hits += got.cache_hits
    return kept, np.concatenate(parts) if parts else None, total


def build_video_index(
    cfg: IndexConfig, model=None, cache=None, progress: Callable[[int], None] | None = None
) -> IndexReport:
    """Embed every video under cfg.videos_dir (through the cache), index the overall
    projections and save the index beside the cache."""
    from cleverward.engine.device import resolve_device
    from cleverward.engine.model import RewardModel

    start = time.perf_counter()
    videos, _ = list_videos(cfg.videos_dir)
    if not videos:
        raise ValueError(f"{cfg.videos_dir}: holds no videos")
    model = model or RewardModel.from_pretrained(cfg.model, device=resolve_device(cfg.device))
    own = cache is None
    cache = open_cache(cfg, model) if own else cache
    report_total(progress, len(videos))
    try:
        kept, vectors, got = _embed_projected(cfg, model, cache, videos, progress)  # (N, E)
    finally:
        if own:
            cache.close()
    if not kept:
        raise ValueError(f"{cfg.videos_dir}: no video could be embedded "
                         f"(first error: {next(iter(got.errors.values()))})")
    kind, reason = choose_kind(len(kept), cfg.kind, cfg.exact_max)
    index = build_faiss_index(vectors, kind, hnsw_m=cfg.hnsw_m,
                              ef_construction=cfg.ef_construction, seed=cfg.seed)
    params, recall = _index_params(index, kind, vectors, cfg)
    folder = index_location(cache_root(cfg.cache_dir), cfg.videos_dir, cfg.model, kind)
    report = IndexReport(
        location=str(folder), videos_dir=os.path.abspath(cfg.videos_dir), kind=kind,
        reason=reason, count=len(kept), decoded=got.decoded, cache_hits=got.cache_hits,
        failed=got.errors, params=params, recall=recall, seconds=0.0)
    save_index(folder, index, _meta(cfg, model, kept, report))
    report.seconds = time.perf_counter() - start
    return report


def _index_params(
    index, kind: str, vectors: np.ndarray, cfg: IndexConfig
) -> tuple[dict, float | None]:
    if kind == "flat":
        return {}, None
    value, recall = tune_search_param(index, kind, vectors, cfg.target_recall,
                                      cfg.recall_queries, cfg.seed)
    if kind == "ivf":
        return {"nlist": index.nlist, "nprobe": value}, recall
    return {"M": cfg.hnsw_m, "efConstruction": cfg.ef_construction, "efSearch": value}, recall


def _meta(cfg: IndexConfig, model, paths: list[str], report: IndexReport) -> dict:
    video_ns, _ = namespaces_for(model, cfg.frames, cfg.decoder)
    return {
        "format": FORMAT, "videos_dir": report.videos_dir, "model": model_id(cfg.model),
        "fingerprint": video_ns.fingerprint, "decode_key": video_ns.decode_key,
        "head": head_digest(model), "kind": report.kind, "params": report.params,
        "recall": None if report.recall is None else {"k": RECALL_K, "value": report.recall,
                                                      "queries": cfg.recall_queries},
        "count": report.count, "paths": paths, "failed": report.failed, "created": time.time(),
    }


def _check_model(meta: dict, model) -> None:
    if meta["fingerprint"] != model.fingerprint() or meta["head"] != head_digest(model):
        raise ValueError(f"the index of {meta['videos_dir']} was built with other weights than "
                         f"model {meta['model']!r} has now; rebuild it with "
                         f"`cleverward index build {meta['videos_dir']}`")


def _query_vector(model, text: str, cache_dir: str | None) -> np.ndarray:
    """The prompt's text embedding, through the text cache (a hit never loads the encoder)."""
    _, text_ns = namespaces_for(model)
    with EmbeddingCache(CacheConfig(root=str(cache_root(cache_dir))), None, text_ns) as cache:
        (vec,) = cache.get_texts([text])
        if vec is None:
            vec = model.encode_texts([text])[0]
            cache.put_texts([text], vec[None])
    return vec


def search_videos(cfg: SearchConfig, model=None) -> tuple[list[SearchHit], dict]:
    """The top_k videos for cfg.text by overall reward, best first, and the index's meta."""
    from cleverward.engine.model import RewardModel

    folder = find_index(cache_root(cfg.cache_dir), cfg.model, cfg.videos_dir, cfg.kind)
    index, meta = load_index(folder)
    model = model or RewardModel.from_pretrained(cfg.model)
    _check_model(meta, model)
    query = project_query(model, _query_vector(model, cfg.text, cfg.cache_dir)[None])  # (1, E)
    set_search_param(index, meta["kind"], meta["params"].get("nprobe",
                                                             meta["params"].get("efSearch")))
    # One resident (GPU) copy per index folder version, reused by every search in this process.
    resident = resident_index(index, key=f"{folder}:{os.stat(folder).st_mtime_ns}")
    scores, ids, device = resident.search(query, min(cfg.top_k, index.ntotal),
                                          meta["params"].get("nprobe"))
    root = meta["videos_dir"]
    hits = []
    for r, (s, i) in enumerate(zip(scores[0], ids[0], strict=True)):
        if i >= 0:
            path = os.path.join(root, meta["paths"][i])
            hits.append(SearchHit(rank=r + 1, video=meta["paths"][i], path=path,
                                  score=float(s), stale=staleness(path, meta["created"])))
    return hits, {**{k: v for k, v in meta.items() if k not in ("paths", "failed")},
                  "device": device, "location": str(folder)}
