"""`cleverward bench`: the stages, the engine end to end, and the naive reference, in one run.

Every ratio compares figures measured in this same process on this same corpus:
    e2e_vs_naive          engine videos/s / naive reference videos/s
    e2e_vs_slowest_stage  engine videos/s / videos/s of its slowest stage alone, that stage given
                          the whole machine (1.0 = the other stages hidden entirely behind it)
    cached_vs_first       first-pass seconds / cached rescoring seconds (same corpus, new prompts)
    scoring_vs_gemm       reward scoring GFLOP/s / torch fp32 GEMM GFLOP/s
and, to say where the end-to-end time goes, `e2e_vs_shared_bound`: engine videos/s against
1 / sum(1 / stage videos/s), what the stages can do when they must share the same cores (on a
CPU-only machine decode and encode both need the cores; on a GPU machine they would not).

The corpus mixes the two T2V shapes of the issue (480x720 at 8 fps for 6 s, 720x1280 at 24 fps
for 5 s, one H.264 GOP per clip), and every figure is also given per profile. Clips are cached
under the cleverward cache folder (verified by sha256 on reuse), so only the first run makes them.
One-off costs (loading the model, creating ONNX Runtime sessions, exporting the ONNX text graph)
are measured separately and kept out of every timed region, for the engine and the naive alike.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path

from cleverward.benchmarks import stages
from cleverward.engine.progress import report_total

QUICK_CORPUS = {"480p": 4, "720p": 2}
ENGINE_BATCH = 8  # ScoreConfig.batch_size: the most clips the engine encodes in one call
FULL_CORPUS = {"480p": 12, "720p": 6}
# sizes of the synthetic stage workloads (the corpus sets the rest)
SIZES = {
    "quick": {"head_b": 1024, "faiss_n": 20_000, "train_steps": 10, "torch_clips": 2},
    "full": {"head_b": 4096, "faiss_n": 100_000, "train_steps": 40, "torch_clips": 6},
}
TARGETS = {"e2e_vs_naive": 5.0, "e2e_vs_slowest_stage": 0.8, "cached_vs_first": 50.0,
           "scoring_vs_gemm": 0.5}


def cpu_name() -> str:
    """The CPU model, for the benchmark's machine line."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load_average() -> list[float] | None:
    """1, 5, 15 minute load averages: the machine may be shared; say how busy it was."""
    import os

    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def _cpu_pressure() -> float | None:
    """Linux PSI: % of the last 10 s in which some runnable task waited for a CPU (ours too)."""
    try:
        with open("/proc/pressure/cpu") as f:
            return float(f.readline().split()[1].split("=")[1])
    except (OSError, IndexError, ValueError):
        return None


def _environment() -> dict:
    import torch

    from cleverward.engine.environment import cuda_available, version

    load = _load_average()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu_name(), "cores": stages.cpu_count(), "torch_threads": torch.get_num_threads(),
        "load_average_at_start": load, "cpu_pressure_at_start": _cpu_pressure(),
        "python": platform.python_version(),
        "cuda": cuda_available(),
        "versions": {k: version(k) for k in ("torch", "onnxruntime", "av", "faiss-cpu",
                                             "numpy", "nvidia-dali-cuda120", "cleverward")},
    }


def make_bench_corpus(counts: dict[str, int], root: Path | None = None, seed: int = 0):
    """-> (folder holding every profile's subfolder, [(profile, video path, prompt)])."""
    from cleverward.benchmarks.corpus import make_corpus
    from cleverward.engine.environment import default_cache_dir

    root = Path(root or default_cache_dir() / "bench-corpus")
    items = []
    for profile, n in counts.items():
        videos, prompts = make_corpus(root / profile, n, profile=profile, seed=seed)
        items += [(profile, v, p) for v, p in zip(videos, prompts, strict=True)]
    return root, items


def _write_prompts(path: Path, items, folder: Path, suffix: str = "") -> Path:
    with open(path, "w") as f:
        for _, v, p in items:
            f.write(json.dumps({"video": str(v.relative_to(folder)), "prompt": p + suffix}) + "\n")
    return path


def _score_dir(model, folder, prompts_file, out, cache_dir=None, workers=2) -> dict:
    from cleverward.engine.cache_api import NullCache
    from cleverward.engine.config import ScoreConfig
    from cleverward.engine.scoring import score_directory

    cfg = ScoreConfig(videos_dir=str(folder), prompts_file=str(prompts_file), out=str(out),
                      cache_dir=str(cache_dir) if cache_dir else None,
                      use_cache=cache_dir is not None, resume=False, quiet=True, workers=workers)
    cache = NullCache()
    if cache_dir is not None:
        from cleverward.engine.embedding_cache import open_cache

        cache = open_cache(cfg, model)
    try:
        start = time.perf_counter()
        summary = score_directory(cfg, model=model, cache=cache)
        seconds = time.perf_counter() - start
    finally:
        cache.close()
    return {**summary.to_json(), "seconds": seconds, "videos_per_s": summary.scored / seconds,
            "timings": {k: round(v, 4) for k, v in summary.timings.items()}}


def _load_model(res: dict, device: str = "auto"):
    """The default model on the run's device and the backend `score-dir --backend auto` picks
    there, warmed up; each one-off cost timed on its own."""
    import numpy as np

    from cleverward.engine.backends import choose_backend
    from cleverward.engine.model import RewardModel

    one_off = {}
    mark = time.perf_counter()
    model = RewardModel.from_pretrained("default", device=device)
    model.encode_texts(["warm up"])
    one_off["load_model_and_text_encoder_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    backend, why = choose_backend("auto", model)
    engine_model = model.with_backend(backend).to(model.device)
    engine_model.encode_texts(["warm up"])
    one_off[f"backend_{backend}_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    engine_model.encode_videos([np.zeros((8, 224, 224, 3), np.uint8)])
    one_off["video_encoder_session_s"] = time.perf_counter() - mark
    res["one_off"] = one_off
    res["backend"] = {"name": backend, "why": why}
    return model, engine_model


def _stages(res: dict, quick: bool, model, engine_model, videos, prompts, workers) -> None:
    from cleverward.engine.decode import decode_clip

    repeat = 1 if quick else 2  # the stages that bound the engine are re-measured in the rounds
    size = SIZES["quick" if quick else "full"]
    # GEMM and the head back to back, three times: their ratio is only as good as the two runs
    # seeing the same machine
    gemms, heads, heads_torch = [], [], []
    for _ in range(3):
        gemms.append(stages.gemm_rate())
        heads.append(stages.scoring_stage(engine_model, b=size["head_b"]))
        heads_torch.append(stages.scoring_stage(model, b=size["head_b"]))
    res["gemm"] = max(gemms, key=lambda r: r["gflops"])
    res["gemm"]["all_gflops"] = [r["gflops"] for r in gemms]
    res["scoring"] = max(heads, key=lambda r: r["gflops"])
    res["scoring_torch"] = max(heads_torch, key=lambda r: r["gflops"])
    res["decode"] = {"all": stages.decode_stage(videos, workers, repeat=repeat)}
    res["decode"]["dali"] = stages.dali_stage(videos[:1])
    clips = [decode_clip(str(v), model.decode_config()) for v in videos]
    res["video_encoder"] = stages.video_encoder_stage(
        clips, res["gemm"]["gflops"], batches=(1, 2, 8), repeat=3, runtimes=("ort",))
    # eager torch is ~8x slower: fewer clips, so the quick run stays quick
    res["video_encoder"].update(stages.video_encoder_stage(
        clips[: size["torch_clips"]], res["gemm"]["gflops"], batches=(1, 8), repeat=1,
        runtimes=("torch",)))
    res["text_encoder"] = {
        "torch": stages.text_encoder_stage(model, prompts * 4, repeat),
        engine_model.backend: stages.text_encoder_stage(engine_model, prompts * 4, repeat)}
    res["text_encoder_one_prompt"] = stages.text_encoder_stage(engine_model, prompts[:1], 5)
    res["faiss"] = stages.faiss_stage(n=size["faiss_n"])
    res["training"] = stages.training_stage(model, steps=size["train_steps"])


def _by_profile(res: dict, items, model, folder, work, workers) -> None:
    """Engine and naive per profile (the naive's per-video times, split)."""
    from cleverward.engine.decode_pool import decode_stream

    out = {}
    for profile in dict.fromkeys(p for p, _, _ in items):
        sub = [it for it in items if it[0] == profile]
        pf = _write_prompts(work / f"p-{profile}.jsonl", sub, folder)
        eng = min((_score_dir(model, folder, pf, work / f"e2e-{profile}.jsonl", workers=workers)
                   for _ in range(2)), key=lambda r: r["seconds"])
        naive_s = sum(t for (p, _, _), t in zip(items, res["naive"]["per_video_s"], strict=True)
                      if p == profile)  # within the naive's best whole run
        paths = [(str(v), str(v)) for _, v, _ in sub]
        cfg = model.decode_config()
        t_pool = stages.best_of(lambda paths=paths, cfg=cfg: list(
            decode_stream(paths, cfg, workers=workers)), 2)
        out[profile] = {"videos": len(sub), "engine_videos_per_s": eng["videos_per_s"],
                        "naive_videos_per_s": len(sub) / naive_s,
                        "e2e_vs_naive": eng["videos_per_s"] * naive_s / len(sub),
                        "decode_pool_videos_per_s": len(sub) / t_pool,
                        "engine_timings": eng["timings"]}
    res["by_profile"] = out


def _limits(res: dict, n_videos: int) -> dict:
    """Each stage's videos/s alone (whole machine), the slowest, and the shared-core bound."""
    enc = max((v for v in res["video_encoder"].values() if v["runtime"] == "ort"),
              key=lambda v: v["videos_per_s"])
    backend = res["backend"]["name"]
    text = res["text_encoder"][backend]
    rounds = res["alone_in_rounds"]
    rates = {
        "decode (pool)": max(res["decode"]["all"]["pool"]["videos_per_s"],
                             rounds["decode"]["videos_per_s"]),
        "video encoder (ort)": max(enc["videos_per_s"], rounds["encode"]["videos_per_s"]),
        # one prompt per video in the corpus's prompts file
        f"text encoder ({backend})": max(text["prompts_per_s"], rounds["text"]["videos_per_s"]),
        f"reward head ({backend})": res["scoring"]["pairs_per_s"],
    }
    seconds = {k: n_videos / r for k, r in rates.items()}
    slowest = min(rates, key=rates.get)
    bound = n_videos / sum(seconds.values())
    return {"videos_per_s": rates, "seconds_alone": seconds, "slowest": slowest,
            "slowest_videos_per_s": rates[slowest], "shared_bound_videos_per_s": bound}


def run_suite(quick: bool = True, work_dir: Path | None = None,
              corpus_dir: Path | None = None, device: str = "auto", progress=None) -> dict:
    """Every figure of `cleverward bench`. progress(step) after each of its steps (a corpus,
    the model, the stage table, each round, the by-profile table); report_total gives the count
    of steps first (engine/progress.py)."""
    from cleverward.benchmarks.naive import run_naive
    from cleverward.engine.decode import decode_clip
    from cleverward.engine.decode_pool import decode_stream

    rounds_n = 2 if quick else 3
    report_total(progress, 4 + rounds_n)
    step = progress or (lambda name: None)
    work = Path(work_dir or tempfile.mkdtemp(prefix="cleverward-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    res: dict = {"environment": _environment(), "quick": quick}
    mark = time.perf_counter()
    folder, items = make_bench_corpus(QUICK_CORPUS if quick else FULL_CORPUS, corpus_dir)
    videos, prompts = [v for _, v, _ in items], [p for _, _, p in items]
    res["corpus"] = {"folder": str(folder), "videos": len(items),
                     "profiles": QUICK_CORPUS if quick else FULL_CORPUS,
                     "frames": sum(stages._count_frames(str(v))["frames"] for v in videos),
                     "make_or_verify_s": time.perf_counter() - mark}
    step("corpus")
    model, engine_model = _load_model(res, device)
    step("model")
    workers = stages.cpu_count()
    sections = res["suite_seconds"] = {"corpus": res["corpus"]["make_or_verify_s"]}
    mark = time.perf_counter()
    _stages(res, quick, model, engine_model, videos, prompts, workers)
    sections["stages"] = time.perf_counter() - mark
    step("stages")
    mark = time.perf_counter()
    p1 = _write_prompts(work / "p1.jsonl", items, folder)
    p2 = _write_prompts(work / "p2.jsonl", items, folder, suffix=", new wording")
    # Rounds, each: the naive, each limiting stage alone, the engine, then a first pass and a
    # cached rescoring on a fresh cache, so all of them see the same spells of load on a shared
    # machine; best whole run of the rounds for each, naive and engine alike. A stage alone keeps
    # its best here or in the stage table (the higher a stage's rate, the harder
    # e2e_vs_slowest_stage is to meet).
    clips = [decode_clip(str(v), engine_model.decode_config()) for v in videos]
    rounds: dict[str, list] = {k: [] for k in ("naive", "engine", "first", "cached",
                                               "cached_known", "decode", "encode", "text")}
    decode_items = [(str(v), str(v)) for v in videos]
    for r in range(rounds_n):
        rounds["naive"].append(run_naive(model, videos, prompts))
        rounds["decode"].append(stages.best_of(lambda: list(decode_stream(
            decode_items, engine_model.decode_config(), workers=workers)), 1))
        rounds["encode"].append(stages.best_of(lambda: [
            engine_model.encode_videos(clips[i : i + ENGINE_BATCH])
            for i in range(0, len(clips), ENGINE_BATCH)], 1))
        rounds["text"].append(stages.best_of(lambda: engine_model.encode_texts(prompts), 1))
        rounds["engine"].append(_score_dir(engine_model, folder, p1, work / "e2e.jsonl",
                                           workers=workers))
        cache_dir = work / f"cache-{r}-{time.time_ns()}"
        rounds["first"].append(_score_dir(engine_model, folder, p1, work / "first.jsonl",
                                          cache_dir, workers))
        rounds["cached"].append(_score_dir(engine_model, folder, p2, work / "cached.jsonl",
                                           cache_dir, workers))
        # the same prompts again: text embeddings cached too (a new head over a scored corpus)
        rounds["cached_known"].append(_score_dir(engine_model, folder, p1, work / "known.jsonl",
                                                 cache_dir, workers))
        step(f"round {r + 1} of {rounds_n}")
    per_video = [min(ts) for ts in zip(*(r["per_video_s"] for r in rounds["naive"]),
                                       strict=True)]
    best = min(rounds["naive"], key=lambda r: r["seconds"])
    res["naive"] = {k: v for k, v in best.items() if k != "scores"}
    res["naive"]["run_seconds"] = [r["seconds"] for r in rounds["naive"]]
    # each video's best over the rounds: dodges busy spells a whole run cannot (a lower bound
    # on the naive's time, reported beside the like-for-like best run)
    res["naive"]["best_per_video_s"] = per_video
    res["naive"]["best_per_video_videos_per_s"] = len(videos) / sum(per_video)
    for key, name in (("engine", "engine"), ("first", "first_pass"), ("cached", "cached_pass"),
                      ("cached_known", "cached_known_prompts")):
        res[name] = min(rounds[key], key=lambda r: r["seconds"])
        res[name]["run_seconds"] = [r["seconds"] for r in rounds[key]]
    res["alone_in_rounds"] = {k: {"seconds": rounds[k], "videos_per_s": len(videos) / min(
        rounds[k])} for k in ("decode", "encode", "text")}
    sections["naive_and_engine"] = time.perf_counter() - mark
    mark = time.perf_counter()
    _by_profile(res, items, engine_model, folder, work, workers)
    sections["by_profile"] = time.perf_counter() - mark
    step("by profile")
    res["environment"]["load_average_at_end"] = _load_average()
    res["environment"]["cpu_pressure_at_end"] = _cpu_pressure()
    res["limits"] = _limits(res, len(items))
    e2e = res["engine"]["videos_per_s"]
    res["ratios"] = {
        "e2e_vs_naive": e2e / res["naive"]["videos_per_s"],
        "e2e_vs_naive_best_per_video": e2e / res["naive"]["best_per_video_videos_per_s"],
        "e2e_vs_slowest_stage": e2e / res["limits"]["slowest_videos_per_s"],
        "cached_vs_first": res["first_pass"]["seconds"] / res["cached_pass"]["seconds"],
        "scoring_vs_gemm": res["scoring"]["gflops"] / res["gemm"]["gflops"],
        "e2e_vs_shared_bound": e2e / res["limits"]["shared_bound_videos_per_s"],
        "cached_known_prompts_vs_first": res["first_pass"]["seconds"]
        / res["cached_known_prompts"]["seconds"],
    }
    res["targets"] = {k: {"target": t, "value": res["ratios"][k], "met": res["ratios"][k] >= t}
                      for k, t in TARGETS.items()}
    return res


# --- the table -----------------------------------------------------------------------------


def _header(res: dict) -> list[str]:
    env, c = res["environment"], res["corpus"]
    load = env["load_average_at_start"]
    busy = load and load[0] > 0.5 * env["cores"]
    return [
        f"cleverward bench{' --quick' if res['quick'] else ''}  {env['date']}",
        "WARNING: the machine was busy when the run started (load average above half the "
        "cores): eager torch (the naive, training) slows most under contention" if busy else None,
        f"device: {env['cpu']}, {env['cores']} cores, torch threads {env['torch_threads']}, "
        f"cuda={env['cuda']}, load average at start {load[0]:.2f}, at end "
        f"{env.get('load_average_at_end', [float('nan')])[0]:.2f}" if load else "",
        "versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v),
        f"corpus: {c['videos']} H.264 clips ("
        + ", ".join(f"{n} x {p}" for p, n in c["profiles"].items())
        + f"), {c['frames']} frames; engine text+head backend: {res['backend']['name']}",
        "", f"{'stage (alone)':<34}{'figure':>62}"]


def _stage_rows(res: dict) -> list[tuple[str, str]]:
    d = res["decode"]["all"]
    rows = [("torch fp32 GEMM", f"{res['gemm']['gflops']:.1f} GFLOP/s"),
            ("decode raw (1 thread)", f"{d['raw_frames_per_s']:.0f} frames/s, all "
             f"{d['frames']} frames, no RGB"),
            ("decode sampled, plan (1 thread)", f"{d['plan']['videos_per_s']:.2f} videos/s, "
             f"{d['frames_decoded_by_plan']}/{d['frames']} frames decoded, "
             f"{d['plan']['efficiency_vs_raw']:.2f} of raw"),
            ("decode sampled, sequential", f"{d['sequential']['videos_per_s']:.2f} videos/s"),
            ("decode sampled, seek each", f"{d['seek_each']['videos_per_s']:.2f} videos/s "
             f"({d['seek_each']['videos']} clips)"),
            (f"decode pool ({d['pool']['workers']} workers)",
             f"{d['pool']['videos_per_s']:.2f} videos/s, "
             f"{d['pool']['efficiency_vs_raw']:.2f} of raw x workers")]
    dali = res["decode"]["dali"]
    rows.append(("decode DALI", f"{dali['dali_videos_per_s']:.2f} videos/s" if dali["available"]
                 else f"not run: {dali['why']}"))
    for name, v in res["video_encoder"].items():
        rows.append((f"video encoder {name}", f"{v['videos_per_s']:.2f} videos/s, "
                     f"{v['frames_per_s']:.0f} frames/s, {v['gflops']:.1f} GFLOP/s "
                     f"({v['vs_gemm']:.2f} of GEMM)"))
    for name, v in res["text_encoder"].items():
        rows.append((f"text encoder ({name})", f"{v['prompts_per_s']:.0f} prompts/s "
                     f"(batch {v['prompts']})"))
    for key, name in (("scoring", res["backend"]["name"]), ("scoring_torch", "torch")):
        s = res[key]
        rows.append((f"reward head {s['B']}x{s['P']} ({name})",
                     f"{s['gflops']:.1f} GFLOP/s, {s['pairs_per_s']:.2e} pairs/s"))
    f = res["faiss"]
    rows += [(f"faiss FlatIP {f['n']}x{f['d']}", f"{f['queries_per_s']:.0f} queries/s "
              f"(batch {f['queries']}), one query {f['one_query_ms']:.1f} ms"),
             ("head training (BT, AdamW)", f"{res['training']['pairs_per_s']:.0f} pairs/s")]
    return rows


def _e2e_rows(res: dict) -> list[tuple[str, str]]:
    e, lim = res["engine"], res["limits"]
    t = e["timings"]
    n = res["naive"]
    rows = [("naive reference", f"{n['videos_per_s']:.2f} videos/s (best run; each video's "
             f"best: {n['best_per_video_videos_per_s']:.2f})"),
            ("  naive runs", ", ".join(f"{x:.2f}" for x in n["run_seconds"]) + " s"),
            ("engine end to end", f"{e['videos_per_s']:.2f} videos/s (best run)"),
            ("  engine runs", ", ".join(f"{x:.2f}" for x in e["run_seconds"]) + " s"),
            ("  calling thread", ", ".join(f"{k} {v:.2f}" for k, v in t.items()) + " s"),
            ("  slowest stage alone", f"{lim['slowest']}: "
             f"{lim['slowest_videos_per_s']:.2f} videos/s"),
            ("  stages sharing the cores", f"{lim['shared_bound_videos_per_s']:.2f} videos/s "
             "= 1 / sum(1 / stage videos/s)")]
    for k, s in lim["seconds_alone"].items():
        rows.append((f"  {k}", f"{s:.3f} s alone for the corpus"))
    for p, v in res["by_profile"].items():
        rows.append((f"profile {p} ({v['videos']} clips)",
                     f"engine {v['engine_videos_per_s']:.2f}, naive "
                     f"{v['naive_videos_per_s']:.2f}, decode pool "
                     f"{v['decode_pool_videos_per_s']:.2f} videos/s; {v['e2e_vs_naive']:.1f}x"))
    rows += [("first pass (cache on)", f"{res['first_pass']['seconds']:.2f} s"),
             ("cached rescoring, new prompts", f"{res['cached_pass']['seconds']:.3f} s, "
              f"decoded {res['cached_pass']['decoded']}, "
              f"hits {res['cached_pass']['cache_hits']}, of which text "
              f"{res['cached_pass']['timings']['text']:.3f} s"),
             ("cached rescoring, same prompts", f"{res['cached_known_prompts']['seconds']:.3f} s")]
    return rows


def format_table(res: dict) -> str:
    lines = [ln for ln in _header(res) if ln is not None]
    lines += [f"{name:<34}{text:>62}" for name, text in _stage_rows(res)]
    lines.append("")
    lines += [f"{name:<34}{text:>62}" for name, text in _e2e_rows(res)]
    lines.append("")
    for name, value in res["ratios"].items():
        if name in TARGETS:
            t = TARGETS[name]
            lines.append(f"{name:<30}{value:>8.2f}   target >= {t:<5} "
                         f"{'met' if value >= t else 'NOT met'}")
        else:
            lines.append(f"{name:<30}{value:>8.2f}   (no target)")
    one = ", ".join(f"{k} {v:.2f}" for k, v in res["one_off"].items())
    lines.append(f"one-off costs, outside every timed region: {one} s")
    return "\n".join(lines)
