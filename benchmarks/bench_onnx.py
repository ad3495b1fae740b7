"""ONNX Runtime vs torch on this machine, for the parts of the default model both can run.

    python -m cleverward.benchmarks.bench_onnx [--quick] [--json OUT] [--no-record]

Measured in one process, one after the other on the same inputs (so the ratios compare like with
like on a shared box):
  text encoder   all-MiniLM-L6-v2, 64 real-looking prompts. End to end (strings in, unit vectors
                 out): sentence-transformers (tokenizer + torch) vs the runtime's tokenizers + ORT,
                 at batch 1 (one prompt a call) and batch 64 (one call); and the graph alone at
                 batch 64 on the same token ids (torch module vs ORT session).
                 FLOP/sequence = 2 S L (4 H^2 + 2 H I) + 4 L S^2 H  (S tokens, L layers, H hidden,
                 I intermediate; the dense layers and the two attention products)
  reward head    B=1024 videos x P=64 prompts x K=7 scores.
                 FLOP = 2 B Dv E + 2 P Dt E + 2 K B P E
  frame encoder  MobileNetV2, 32 frames of 224x224 in one call, ~0.6 GFLOP/frame: ORT (the
                 engine's default) vs the BN-folded torch twin (engine/encoders/mobilenet_torch.py).
Times are medians of `repeat` rounds after a warm-up, torch and ORT interleaved round by round
(the box is shared); ratio = median over rounds of torch time / ORT time, with its range.
Unless --no-record, the text (64 prompts) and head timings are stored for this machine in
<cache>/backend-timings.json, where `--backend auto` reads them (engine/backends.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch

from cleverward.benchmarks.suite import cpu_name

SUBJECTS = ["a corgi", "two astronauts", "an old fisherman", "a red sports car", "a paper boat",
            "a flock of starlings", "a ballerina", "a steam train"]
ACTIONS = ["surfing a huge wave at sunset", "walking through a neon-lit Tokyo street in the rain",
           "drifting slowly down a calm river, camera tracking from the left bank",
           "spinning in slow motion under a single spotlight",
           "crossing a snowy mountain pass, aerial drone shot, cinematic lighting",
           "in a time-lapse of clouds racing over a wheat field",
           "made of clay, stop-motion animation, shallow depth of field",
           "at golden hour, 35mm film grain, handheld camera"]


def prompts(n: int = 64) -> list[str]:
    """n distinct prompts of the length text-to-video prompts have (8-20 words)."""
    return [f"{SUBJECTS[i % 8]} {ACTIONS[(i // 8 + i) % 8]}" for i in range(n)]


def _paired(fns: dict, repeat: int) -> tuple[dict, dict]:
    """Time torch and onnx `repeat` times each, interleaved round by round, so load from a
    neighbour on the shared box hits both alike. -> ({name: median seconds}, ratio summary):
    the ratio is the median over rounds of torch seconds / onnx seconds (> 1: ORT faster).
    Each timed call follows an untimed one of the same runtime: right after a switch the other
    runtime's worker threads are still spinning on the 2 cores, which is not what a process
    using one backend sees."""
    times: dict = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            fn()  # settle: warm caches, let the other runtime's threads go idle
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    rounds = [t / o for t, o in zip(times["torch"], times["onnx"], strict=True)]
    ratio = {"median": statistics.median(rounds), "min": min(rounds), "max": max(rounds)}
    return {name: statistics.median(v) for name, v in times.items()}, ratio


def environment() -> dict:
    from cleverward.engine.environment import version

    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "cpu": f"{cpu_name()}, {os.cpu_count()} cores", "cuda": torch.cuda.is_available(),
            "torch_threads": torch.get_num_threads(),
            "load_average_1m": os.getloadavg()[0],
            "versions": {k: version(k) for k in ("torch", "onnxruntime", "onnx",
                                                 "sentence-transformers", "tokenizers")}}


def _text_flop(config, lengths: np.ndarray) -> float:
    h, n_layers, inter = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    per_token = 2 * n_layers * (4 * h * h + 2 * h * inter)
    return float(sum(per_token * s + 4 * n_layers * s * s * h for s in lengths))


def text_encoder(torch_model, onnx_model, repeat: int) -> dict:
    texts = prompts(64)
    st_enc, ort_enc = torch_model.text_encoder, onnx_model.text_encoder
    ids, mask = ort_enc.tokenizer(texts)  # (64, S) padded to the longest, as both pipelines do
    bert = st_enc.torch_module()[0].auto_model
    flop = _text_flop(bert.config, mask.sum(axis=1))
    out: dict = {"tokens_per_prompt_mean": float(mask.sum(axis=1).mean())}
    for label, batch in (("batch1", 1), ("batch64", 64)):
        calls = [texts[i : i + batch] for i in range(0, 16 if batch == 1 else 64, batch)]
        n = sum(len(c) for c in calls)
        secs, ratio = _paired({
            name: lambda enc=enc, calls=calls: [enc.encode(c) for c in calls]
            for name, enc in (("torch", st_enc), ("onnx", ort_enc))}, repeat)
        out[label] = {name: {"prompts_per_s": n / s, "ms_per_call": 1e3 * s / len(calls)}
                      for name, s in secs.items()}
        out[label]["ratio_onnx_vs_torch"] = ratio
    from cleverward.engine.export.onnx_export import MeanPoolTextEncoder

    module = MeanPoolTextEncoder(bert).eval()
    t_ids, t_mask = torch.from_numpy(ids), torch.from_numpy(mask)

    def torch_graph():
        with torch.inference_mode():
            module(t_ids, t_mask)

    secs, ratio = _paired({"torch": torch_graph, "onnx": lambda: ort_enc.run(ids, mask)}, repeat)
    out["graph_batch64"] = {k: {"seconds": v, "gflops": flop / v / 1e9} for k, v in secs.items()}
    out["graph_batch64"]["ratio_onnx_vs_torch"] = ratio
    return out


def reward_head(torch_model, onnx_model, repeat: int, b: int = 1024, p: int = 64) -> dict:
    cfg = torch_model.head.cfg
    rng = np.random.default_rng(0)
    video = rng.standard_normal((b, cfg.video_dim)).astype(np.float32)
    text = rng.standard_normal((p, cfg.text_dim)).astype(np.float32)
    e, k = cfg.embed_dim, cfg.num_scores
    flop = 2 * b * cfg.video_dim * e + 2 * p * cfg.text_dim * e + 2 * k * b * p * e
    out: dict = {"B": b, "P": p, "K": k, "flop": flop}
    secs, ratio = _paired({
        name: lambda model=model: model.score(video, text)
        for name, model in (("torch", torch_model), ("onnx", onnx_model))}, repeat)
    for name, s in secs.items():
        out[name] = {"ms": 1e3 * s, "gflops": flop / s / 1e9, "pairs_per_s": b * p / s}
    out["ratio_onnx_vs_torch"] = ratio
    return out


def frame_encoder(repeat: int, frames: int = 32) -> dict:
    from cleverward.benchmarks.stages import MOBILENET_GFLOP_PER_FRAME
    from cleverward.engine.encoders.conse import ConSEVideoEncoder

    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (frames, 224, 224, 3), dtype=np.uint8)
    out: dict = {"frames": frames}
    encoders = {"torch": ConSEVideoEncoder(runtime="torch"), "onnx": ConSEVideoEncoder()}
    secs, ratio = _paired({name: lambda enc=enc: enc.frame_features(batch)
                           for name, enc in encoders.items()}, repeat)
    for name, s in secs.items():
        out[name] = {"frames_per_s": frames / s, "gflops": frames * MOBILENET_GFLOP_PER_FRAME / s}
    out["ratio_onnx_vs_torch"] = ratio
    return out


def _record_for_auto(res: dict) -> str:
    """Store the two figures `--backend auto` weighs (engine/backends.py) for this machine."""
    from cleverward.engine.backends import record_timings

    text, head = res["text_encoder"]["batch64"], res["reward_head"]
    per = {b: {"text64_s": 64 / text[b]["prompts_per_s"], "head_s": head[b]["ms"] / 1e3}
           for b in ("torch", "onnx")}
    return str(record_timings(per["torch"], per["onnx"]))


def run(quick: bool = True, record: bool = True) -> dict:
    """Measure everything; with `record`, also store the auto-choice timings for this machine."""
    from cleverward.engine.model import RewardModel

    repeat = 5 if quick else 15
    torch_model = RewardModel.from_pretrained("default")
    start = time.perf_counter()
    onnx_model = torch_model.with_backend("onnx")  # exports on first use, else from the cache
    prepare = time.perf_counter() - start
    res = {"environment": environment(), "repeat": repeat,
           "onnx_prepare_seconds": prepare, "export_dir": str(onnx_model.export_dir)}
    res["text_encoder"] = text_encoder(torch_model, onnx_model, repeat)
    res["reward_head"] = reward_head(torch_model, onnx_model, repeat)
    res["frame_encoder"] = frame_encoder(3)  # the torch twin takes seconds a call
    if record:
        res["recorded_for_auto"] = _record_for_auto(res)
    return res


def _ratio(fig: dict) -> str:
    r = fig["ratio_onnx_vs_torch"]
    return f"{r['median']:.2f}x ({r['min']:.2f}-{r['max']:.2f})"


def format_table(res: dict) -> str:
    env, t, h, f = res["environment"], res["text_encoder"], res["reward_head"], res["frame_encoder"]
    lines = [f"{env['date']}  {env['cpu']}  torch threads {env['torch_threads']}  "
             f"load {env['load_average_1m']:.1f}  "
             f"cuda={env['cuda']}", "versions: " + ", ".join(f"{k} {v}" for k, v in
                                                             env["versions"].items()), "",
             "| part | torch | ONNX Runtime | ORT / torch |", "|---|---|---|---|"]
    for label in ("batch1", "batch64"):
        r = t[label]
        lines.append(f"| MiniLM text, {label}, end to end | {r['torch']['prompts_per_s']:.0f} "
                     f"prompts/s | {r['onnx']['prompts_per_s']:.0f} prompts/s | "
                     f"{_ratio(r)} |")
    g = t["graph_batch64"]
    lines.append(f"| MiniLM graph only, 64 x {t['tokens_per_prompt_mean']:.0f} tokens | "
                 f"{g['torch']['gflops']:.1f} GFLOP/s | {g['onnx']['gflops']:.1f} GFLOP/s | "
                 f"{_ratio(g)} |")
    lines.append(f"| reward head {h['B']}x{h['P']}x{h['K']} | {h['torch']['ms']:.2f} ms, "
                 f"{h['torch']['gflops']:.1f} GFLOP/s | {h['onnx']['ms']:.2f} ms, "
                 f"{h['onnx']['gflops']:.1f} GFLOP/s | {_ratio(h)} |")
    lines.append(f"| MobileNetV2 frames, batch {f['frames']} | {f['torch']['frames_per_s']:.0f} "
                 f"frames/s, {f['torch']['gflops']:.1f} GFLOP/s | {f['onnx']['frames_per_s']:.0f}"
                 f" frames/s, {f['onnx']['gflops']:.1f} GFLOP/s | "
                 f"{_ratio(f)} |")
    lines.append(f"\nONNX backend ready in {res['onnx_prepare_seconds']:.1f} s "
                 f"(export on first use, else cached) -> {res['export_dir']}")
    if "recorded_for_auto" in res:
        lines.append(f"timings for --backend auto recorded in {res['recorded_for_auto']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--no-record", action="store_true",
                        help="do not store the timings `--backend auto` reads")
    args = parser.parse_args()
    res = run(quick=args.quick, record=not args.no_record)
    print(format_table(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
