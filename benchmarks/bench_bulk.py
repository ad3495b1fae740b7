"""Bulk scoring on this machine: Ray Data vs the single-process engine on the bench corpus, and
the bytes a plan reads.

    python -m cleverward.benchmarks.bench_bulk [--videos 24] [--json out.json]

1. The same bench corpus (T2V-shaped H.264 clips, benchmarks/corpus.py), no cache, scored by
   (a) score-dir's engine in this process (model loaded and warm) and (b) `bulk --executor ray`
   on a local cluster of all the machine's CPUs. Ray's figures: clips/s over the run less the
   cluster's start, and clips/s after the first rows reached the driver ("steady": the actors
   have started and loaded the model, which a long run pays once).
2. Planning: a manifest of `--plan-files` entries naming sparse files of 1 MiB each; the bytes
   this process reads while planning (/proc/self/io rchar) against the manifest's size. A plan
   that read the videos would read 1 MiB a file.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def _rchar() -> int:
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar"))


def measure_planning(work: Path, files: int) -> dict:
    from cleverward.engine.bulk.plan import make_plan

    folder = work / "sparse"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = work / "plan-manifest.jsonl"
    with open(manifest, "w") as f:
        for i in range(files):
            path = folder / f"clip_{i:06d}.mp4"
            with open(path, "wb") as clip:
                clip.truncate(1 << 20)  # sparse: no disk used, 1 MiB if anything read it
            f.write(json.dumps({"video": str(path), "prompt": f"prompt {i % 1000}"}) + "\n")
    before, start = _rchar(), time.perf_counter()
    plan = make_plan(manifest, work / "plan-out", {"model": "bench"}, partitions=0,
                     overwrite=True)
    seconds, read = time.perf_counter() - start, _rchar() - before
    return {"files": files, "partitions": plan.partitions, "seconds": round(seconds, 2),
            "bytes_read": read, "manifest_bytes": manifest.stat().st_size,
            "video_bytes_if_read": files << 20}


def measure_throughput(work: Path, n_videos: int) -> dict:
    from cleverward.benchmarks.suite import _score_dir, make_bench_corpus
    from cleverward.engine.backends import choose_backend
    from cleverward.engine.bulk.run import BulkConfig, run_bulk
    from cleverward.engine.model import RewardModel

    folder, items = make_bench_corpus({"480p": n_videos // 2, "720p": n_videos - n_videos // 2})
    prompts = work / "prompts.jsonl"
    manifest = work / "manifest.jsonl"
    with open(prompts, "w") as p, open(manifest, "w") as m:
        for _, video, prompt in items:
            p.write(json.dumps({"video": str(video.relative_to(folder)), "prompt": prompt}) + "\n")
            m.write(json.dumps({"video": str(video), "prompt": prompt}) + "\n")
    model = RewardModel.from_pretrained("default")
    model = model.with_backend(choose_backend("auto", model)[0])
    _score_dir(model, folder, prompts, work / "warm.jsonl")  # loads the encoders, warms caches
    single = _score_dir(model, folder, prompts, work / "single.jsonl",
                        workers=os.cpu_count() or 2)
    summary = run_bulk(BulkConfig(manifest=str(manifest), out=str(work / "bulk"),
                                  executor="ray", use_cache=False, overwrite=True,
                                  partitions=max(2, n_videos // 4)))
    scoring_s = summary.seconds - summary.startup_s - summary.plan_s
    ray_rate = len(items) / scoring_s
    # after the first rows reach the driver: the actors have started and loaded the model (a
    # long run pays that once; the single-process figure above excludes its model load too)
    steady_s = summary.seconds - summary.first_rows_s
    steady_rate = (len(items) - summary.first_rows) / steady_s
    return {"videos": len(items), "single_videos_per_s": round(single["videos_per_s"], 3),
            "single_seconds": round(single["seconds"], 2),
            "ray_videos_per_s": round(ray_rate, 3), "ray_scoring_s": round(scoring_s, 2),
            "ray_startup_s": round(summary.startup_s, 2), "ray_plan_s": round(summary.plan_s, 2),
            "ray_total_s": round(summary.seconds, 2), "ray_resources": summary.resources,
            "ray_vs_single": round(ray_rate / single["videos_per_s"], 3),
            "ray_steady_videos_per_s": round(steady_rate, 3),
            "ray_first_rows_s": round(summary.first_rows_s, 2),
            "ray_steady_vs_single": round(steady_rate / single["videos_per_s"], 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--plan-files", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from cleverward.benchmarks.report import emit_json

    with tempfile.TemporaryDirectory(prefix="cleverward-bulk-") as tmp:
        work = Path(tmp)
        res = {"planning": measure_planning(work, args.plan_files),
               "throughput": measure_throughput(work, args.videos),
               "load_average": list(os.getloadavg()), "cpus": os.cpu_count()}
    emit_json(res, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
