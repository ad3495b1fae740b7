"""`cleverward bench`: the stages, the engine end to end, and the naive reference, in one run.

Every ratio compares figures measured in this same process on this same corpus:
    e2e_vs_naive          engine videos/s / naive reference videos/s
    e2e_vs_slowest_stage  engine videos/s / videos/s of its slowest stage alone (1.0 = perfect
                          overlap of the other stages behind it)
    cached_vs_first       first-pass seconds / cached rescoring seconds (same corpus, new prompts)
    scoring_vs_gemm       reward scoring GFLOP/s / torch fp32 GEMM GFLOP/s
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path

from cleverward.benchmarks import stages


def _environment() -> dict:
    import torch

    from cleverward.engine.environment import cuda_available, version

    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} "
                   f"torch threads",
        "cuda": cuda_available(),
        "versions": {k: version(k) for k in ("torch", "onnxruntime", "av", "faiss-cpu",
                                             "numpy", "cleverward")},
    }


def _corpus(quick: bool, root: Path) -> tuple[list[Path], list[str]]:
    from cleverward.benchmarks.corpus import make_corpus

    n, profile = (4, "480p") if quick else (12, "480p")
    made = make_corpus(root / f"corpus-{profile}-{n}", n, profile=profile, seed=0)
    videos, prompts = made if isinstance(made, tuple) else (made, None)
    if prompts is None:
        prompts = [f"a textured scene with moving shapes, clip {i}" for i in range(len(videos))]
    return [Path(v) for v in videos], list(prompts)


def _write_prompts(path: Path, videos: list[Path], prompts: list[str], folder: Path) -> Path:
    with open(path, "w") as f:
        for v, p in zip(videos, prompts, strict=True):
            f.write(json.dumps({"video": str(v.relative_to(folder)), "prompt": p}) + "\n")
    return path


def _score_dir(model, folder, prompts_file, out, cache_dir, use_cache, workers=2) -> dict:
    from cleverward.engine.cache_api import NullCache
    from cleverward.engine.config import ScoreConfig
    from cleverward.engine.scoring import score_directory

    cfg = ScoreConfig(videos_dir=str(folder), prompts_file=str(prompts_file), out=str(out),
                      cache_dir=str(cache_dir), use_cache=use_cache, resume=False, quiet=True,
                      workers=workers)
    cache = NullCache()
    if use_cache:
        from cleverward.engine.embedding_cache import open_cache

        cache = open_cache(cfg, model)
    try:
        start = time.perf_counter()
        summary = score_directory(cfg, model=model, cache=cache)
        seconds = time.perf_counter() - start
    finally:
        cache.close()
    return {"seconds": seconds, "videos_per_s": summary.scored / seconds, **summary.to_json()}


def run_suite(quick: bool = True, work_dir: Path | None = None) -> dict:
    from cleverward.benchmarks.naive import run_naive
    from cleverward.engine.decode import decode_clip
    from cleverward.engine.model import RewardModel

    work = Path(work_dir or tempfile.mkdtemp(prefix="cleverward-bench-"))
    videos, prompts = _corpus(quick, work)
    folder = videos[0].parent
    model = RewardModel.from_pretrained("default")
    model.encode_texts(["warm up"])
    res = {"environment": _environment(), "corpus": {"videos": len(videos), "folder": str(folder)}}

    res["gemm"] = stages.gemm_rate()
    res["decode"] = stages.decode_stage(videos)
    clips = [decode_clip(str(v), model.decode_config()) for v in videos]
    res["video_encoder"] = stages.video_encoder_stage(clips)
    res["text_encoder"] = stages.text_encoder_stage(model, prompts * 8)
    res["scoring"] = stages.scoring_stage(model, b=1024 if quick else 4096)
    res["faiss"] = stages.faiss_stage(n=20_000 if quick else 100_000)
    res["training"] = stages.training_stage(model, steps=10 if quick else 40)

    res["naive"] = {k: v for k, v in run_naive(model, videos, prompts).items() if k != "scores"}
    p1 = _write_prompts(work / "p1.jsonl", videos, prompts, folder)
    p2 = _write_prompts(work / "p2.jsonl", videos, [p + ", new wording" for p in prompts], folder)
    res["engine"] = _score_dir(model, folder, p1, work / "e2e.jsonl", work / "nocache", False)
    cache_dir = work / f"cache-{time.time_ns()}"
    res["first_pass"] = _score_dir(model, folder, p1, work / "first.jsonl", cache_dir, True)
    res["cached_pass"] = _score_dir(model, folder, p2, work / "cached.jsonl", cache_dir, True)

    slowest = min(res["decode"]["videos_per_s"], res["video_encoder"]["ort"]["videos_per_s"])
    res["ratios"] = {
        "e2e_vs_naive": res["engine"]["videos_per_s"] / res["naive"]["videos_per_s"],
        "e2e_vs_slowest_stage": res["engine"]["videos_per_s"] / slowest,
        "cached_vs_first": res["first_pass"]["seconds"] / res["cached_pass"]["seconds"],
        "scoring_vs_gemm": res["scoring"]["gflops"] / res["gemm"]["gflops"],
    }
    return res


TARGETS = {"e2e_vs_naive": 5.0, "e2e_vs_slowest_stage": 0.8, "cached_vs_first": 50.0,
           "scoring_vs_gemm": 0.5}


def format_table(res: dict) -> str:
    env = res["environment"]
    lines = [f"cleverward bench  {env['date']}  {env['machine']}  cuda={env['cuda']}",
             "versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()),
             f"corpus: {res['corpus']['videos']} videos", "",
             f"{'stage':<28}{'figure':>40}"]

    def row(name, text):
        lines.append(f"{name:<28}{text:>40}")

    row("torch fp32 GEMM", f"{res['gemm']['gflops']:.1f} GFLOP/s")
    d = res["decode"]
    row("decode (PyAV, sampled)", f"{d['videos_per_s']:.2f} videos/s, "
        f"{d['efficiency_vs_raw']:.2f} of raw")
    row("decode raw rate", f"{d['raw_frames_per_s']:.0f} frames/s")
    for rt, v in res["video_encoder"].items():
        row(f"video encoder ({rt})", f"{v['videos_per_s']:.2f} videos/s, {v['gflops']:.1f} GFLOP/s")
    row("text encoder (MiniLM)", f"{res['text_encoder']['prompts_per_s']:.0f} prompts/s")
    s = res["scoring"]
    row(f"reward head {s['B']}x{s['P']}",
        f"{s['gflops']:.1f} GFLOP/s, {s['pairs_per_s']:.2e} pairs/s")
    row("faiss FlatIP search", f"{res['faiss']['queries_per_s']:.0f} queries/s")
    row("head training (BT)", f"{res['training']['pairs_per_s']:.0f} pairs/s")
    row("naive reference", f"{res['naive']['videos_per_s']:.2f} videos/s")
    row("engine end to end", f"{res['engine']['videos_per_s']:.2f} videos/s")
    row("first pass (cache on)", f"{res['first_pass']['seconds']:.2f} s")
    row("cached rescoring", f"{res['cached_pass']['seconds']:.3f} s, "
        f"decoded {res['cached_pass']['decoded']}")
    lines.append("")
    for name, value in res["ratios"].items():
        target = TARGETS[name]
        lines.append(f"{name:<24}{value:>8.2f}   target >= {target:<5} "
                     f"{'met' if value >= target else 'NOT met'}")
    return "\n".join(lines)
