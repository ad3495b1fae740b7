"""`cleverward bulk`: score a manifest into a folder of Parquet partitions, on Ray Data or in
this process, resumable by partition.

    manifest -> plan (partitions by video key; no video bytes read)
      -> read the unfinished partitions' plan files
      -> decode  (DecodeStage: CPU actors; the embedding cache answers first)
      -> encode + head  (EncodeStage: one actor per GPU, else CPU actors)
      -> the driver's PartitionSink: staged, then part-K.parquet committed whole

Executors: `ray` (Ray Data: streaming with backpressure, per-stage resources, on a cluster at
--ray-address or a local one) and `local` (the same stages called in this process, for one
machine without Ray, and as the reference the Ray rows are tested against).
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from cleverward.engine.bulk.plan import Plan, make_plan, read_partition
from cleverward.engine.bulk.sink import PartitionSink
from cleverward.engine.bulk.stages import DecodeStage, EncodeStage, StageConfig
from cleverward.engine.config import BACKENDS, DECODERS
from cleverward.engine.progress import report_total

EXECUTORS = ("ray", "local")


@dataclass(frozen=True)
class BulkConfig:
    manifest: str
    out: str  # a folder: part-K.parquet files and _plan/
    model: str = "default"
    root: str | None = None  # relative videos resolve against it (default: the manifest's folder)
    partitions: int = 0  # 0: about 2,000 pairs each
    frames: int = 8
    decoder: str = "auto"
    backend: str = "auto"
    cache_dir: str | None = None
    use_cache: bool = True
    overwrite: bool = False
    executor: str = "ray"
    ray_address: str | None = None  # None: start a local cluster
    num_cpus: int | None = None  # the local cluster's CPUs (default: all)
    decode_workers: int = 0  # 0: the cluster's CPUs minus the encoders'
    decode_cpus: float = 1.0
    encode_actors: int = 0  # 0: one per GPU, else one
    encode_cpus: float = 1.0
    batch_size: int = 8
    device: str = "auto"  # each encoder actor's (engine/device.resolve_device, in its process)

    def __post_init__(self) -> None:
        checks = [
            (self.executor in EXECUTORS, "--executor", f"must be one of {EXECUTORS}"),
            (self.decoder in DECODERS, "--decoder", f"must be one of {DECODERS}"),
            (self.backend in BACKENDS, "--backend", f"must be one of {BACKENDS}"),
            (self.partitions >= 0, "--partitions", "must be >= 0 (0: automatic)"),
            (1 <= self.frames <= 512, "--frames", "must be in 1..512"),
            (self.batch_size >= 1, "--batch-size", "must be >= 1"),
            (self.decode_workers >= 0 and self.encode_actors >= 0, "--decode-workers / "
             "--encode-actors", "must be >= 0 (0: automatic)"),
            (self.decode_cpus > 0 and self.encode_cpus > 0, "--decode-cpus / --encode-cpus",
             "must be > 0"),
        ]
        for ok, name, message in checks:
            if not ok:
                raise ValueError(f"{name}: {message}")


@dataclass
class BulkSummary:
    partitions: int = 0
    finished_before: int = 0
    committed: int = 0
    rows: int = 0
    failed: int = 0
    seconds: float = 0.0
    plan_s: float = 0.0  # loading the model's config and planning (or reusing the plan)
    startup_s: float = 0.0  # starting (or joining) the Ray cluster
    first_rows_s: float = 0.0  # from the start until the first rows reached the driver
    first_rows: int = 0  # how many rows that first batch held
    executor: str = ""
    resources: dict = field(default_factory=dict)
    out: str = ""

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in ("partitions", "finished_before", "committed",
                                              "rows", "failed", "executor", "resources", "out")
                } | {k: round(getattr(self, k), 3) for k in ("seconds", "plan_s", "startup_s",
                                                             "first_rows_s")}


def _stage_config(cfg: BulkConfig, model, backend: str) -> StageConfig:
    from cleverward.engine.embedding_cache import cache_root, namespaces_for

    video_ns, text_ns = namespaces_for(model, cfg.frames, cfg.decoder)
    cache = str(cache_root(cfg.cache_dir)) if cfg.use_cache else None
    return StageConfig(model=cfg.model, backend=backend, frames=cfg.frames, decoder=cfg.decoder,
                       cache_dir=cache, video_ns=video_ns, text_ns=text_ns, device=cfg.device)


def run_bulk(cfg: BulkConfig, progress: Callable[[int], None] | None = None) -> BulkSummary:
    """Plan (or reuse the plan), run the unfinished partitions, commit each when complete."""
    from cleverward.engine.backends import choose_backend
    from cleverward.engine.device import resolve_device
    from cleverward.engine.model import RewardModel
    from cleverward.engine.run_record import model_identity

    start = time.perf_counter()
    model = RewardModel.from_pretrained(cfg.model)
    backend = choose_backend(cfg.backend, model, resolve_device(cfg.device))[0]
    decode_cfg = model.decode_config(cfg.frames, cfg.decoder)
    identity = {"model": model.identity, **model_identity(model, decode_cfg)}
    plan = make_plan(cfg.manifest, cfg.out, identity, cfg.partitions, cfg.root, cfg.overwrite)
    summary = BulkSummary(partitions=plan.partitions, finished_before=len(plan.finished()),
                          executor=cfg.executor, out=cfg.out,
                          plan_s=time.perf_counter() - start)
    sink = PartitionSink(plan)
    sink.commit_empty()
    todo = plan.unfinished()
    report_total(progress, sum(plan.pairs[k] for k in todo))
    stage_cfg = _stage_config(cfg, model, backend)
    size = (decode_cfg.height, decode_cfg.width)
    batches = (_run_ray(cfg, plan, todo, stage_cfg, size, summary) if cfg.executor == "ray"
               else _run_local(cfg, plan, todo, stage_cfg, size))
    for batch in batches:
        if not summary.first_rows:
            summary.first_rows_s = time.perf_counter() - start
            summary.first_rows = len(batch["key"])
        sink.add(batch)
        if progress:
            progress(len(batch["key"]))
    missing = [k for k in plan.pairs if not plan.output_file(k).is_file()]
    if missing:
        raise RuntimeError(f"partitions {missing[:10]} got fewer rows than planned "
                           f"(staged: {[sink.counts.get(k, 0) for k in missing[:10]]})")
    sink.close()
    summary.committed, summary.rows, summary.failed = len(sink.committed), sink.rows, sink.failed
    summary.seconds = time.perf_counter() - start
    return summary


def _partition_batches(plan: Plan, todo: list[int], batch_size: int) -> Iterator[dict]:
    for k in todo:
        videos = read_partition(plan, k)
        for s in range(0, len(videos), batch_size):
            chunk = videos[s : s + batch_size]
            batch = {name: np.empty(len(chunk), dtype=object) for name in
                     ("partition", "key", "source", "video", "generator", "prompts")}
            for i, v in enumerate(chunk):
                for name in batch:
                    batch[name][i] = getattr(v, name)
            yield batch


def _run_local(cfg, plan, todo, stage_cfg, size) -> Iterator[dict]:
    decode, encode = DecodeStage(stage_cfg, *size), EncodeStage(stage_cfg)
    try:
        for batch in _partition_batches(plan, todo, cfg.batch_size):
            yield encode(decode(batch))
    finally:
        decode.close()
        encode.close()


def _ray_resources(cfg: BulkConfig, ray) -> dict:
    total = ray.cluster_resources()
    gpus = int(total.get("GPU", 0))
    cpus = int(total.get("CPU", 1))
    encoders = cfg.encode_actors or max(1, gpus)
    encode_cpus = min(cfg.encode_cpus, max(cpus - cfg.decode_cpus, 0.5))
    free = max(cpus - encoders * encode_cpus, cfg.decode_cpus)
    decoders = cfg.decode_workers or max(1, int(free // cfg.decode_cpus))
    return {"cluster_cpus": cpus, "cluster_gpus": gpus, "decode_workers": decoders,
            "decode_cpus": cfg.decode_cpus, "encode_actors": encoders,
            "encode_cpus": encode_cpus, "encode_gpus": 1 if gpus else 0}


def _ray_init(cfg: BulkConfig):
    # No implicit ray.init(): a Ray call left to interpreter teardown (a dataset's finaliser)
    # would otherwise start a second local cluster after the first shut down, and hang there.
    os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
    try:
        import ray
    except ImportError:
        raise RuntimeError("--executor ray needs Ray: pip install 'cleverward[ray]' (or use "
                           "--executor local)") from None
    import ray.data  # noqa: F401 - ray.data is a submodule the caller uses
    from ray._private import auto_init_hook

    auto_init_hook.enable_auto_connect = False
    if not ray.is_initialized():
        env = {k: os.environ[k] for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                                          "CLEVERWARD_CACHE") if k in os.environ}
        kwargs = dict(include_dashboard=False, log_to_driver=False,
                      runtime_env={"env_vars": env} if env else None)
        if cfg.ray_address:
            ray.init(address=cfg.ray_address, **kwargs)
        else:
            ray.init(num_cpus=cfg.num_cpus or os.cpu_count(), **kwargs)
    return ray


def _run_ray(cfg, plan, todo, stage_cfg, size, summary) -> Iterator[dict]:
    if not todo:
        return
    mark = time.perf_counter()
    started = not _ray_ready()
    ray = _ray_init(cfg)
    summary.startup_s = time.perf_counter() - mark
    batches = _ray_pipeline(ray, cfg, plan, todo, stage_cfg, size, summary)
    try:
        yield from batches
    finally:
        # Ray Data's iterator reports to its stats actor when it closes: close it while the
        # cluster is still up, then end the cluster this run started.
        batches.close()
        del batches
        gc.collect()
        if started:
            ray.shutdown()


def _ray_ready() -> bool:
    import sys

    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()


def _ray_pipeline(ray, cfg, plan, todo, stage_cfg, size, summary) -> Iterator[dict]:
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    res = _ray_resources(cfg, ray)
    summary.resources = res
    # Reading the plan files is a few KB a partition: no CPU reserved for it, so the actors
    # below can hold every CPU without starving the read.
    ds = ray.data.read_json([str(plan.plan_file(k)) for k in todo], lines=True, num_cpus=0)
    ds = ds.map_batches(
        DecodeStage, fn_constructor_args=(stage_cfg, *size), batch_size=cfg.batch_size,
        batch_format="numpy", num_cpus=res["decode_cpus"],
        compute=ray.data.ActorPoolStrategy(size=res["decode_workers"]))
    ds = ds.map_batches(
        EncodeStage, fn_constructor_args=(stage_cfg,), batch_size=cfg.batch_size,
        batch_format="numpy", num_cpus=res["encode_cpus"], num_gpus=res["encode_gpus"],
        compute=ray.data.ActorPoolStrategy(size=res["encode_actors"]))
    yield from ds.iter_batches(batch_size=None, batch_format="numpy")
