"""The synthetic task end to end: does training lift held-out accuracy above the untrained
default, and how do Bradley-Terry and the SFT baseline compare?

    python -m cleverward.benchmarks.bench_training --out /tmp/cw-synth [--json results.json]

Steps (the same library calls as `cleverward synth`, `build-pairs`, `train`, `eval`):
synthesize the task (24 prompts x 8 renders; held-out prompts use colour x shape combinations no
training clip shows) -> pairs for the train and held-out splits -> evaluate the default on the
held-out pairs -> train each objective (frozen encoders, DeepSpeed on CPU) -> evaluate each on
the held-out pairs. The headline metric is pairwise accuracy without ties over every
human-labelled held-out pair (all dimensions); per-dimension figures are in the JSON.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cleverward.benchmarks.report import emit_json


def _pairs(root: Path, split: str) -> Path:
    from cleverward.train.pairs import PairsConfig, build_pairs
    from cleverward.train.pairs_io import write_pairs

    rows, _ = build_pairs(PairsConfig(datasets=(f"jsonl:{root}/labels_{split}.jsonl",),
                                      videos_root=str(root)))
    return write_pairs(rows, root / f"pairs_{split}.jsonl")


def _evaluate(model: str, pairs: Path, root: Path, cache: Path) -> dict:
    from cleverward.train.evaluate import EvalConfig, evaluate, figure

    report = evaluate(EvalConfig(pairs=str(pairs), model=model, videos_root=str(root),
                                 cache_dir=str(cache), bootstrap=0))
    dims = {r["dimension"]: round(r["value"], 4) for r in report["records"]
            if r["metric"] == "acc_no_ties" and r["dataset"] == "all"
            and r["dimension"] != "all" and r["convention"] == "cleverward"}
    return {"headline": round(figure(report, "acc_no_ties")["value"], 4), "dimensions": dims}


def run(out: Path, objectives: tuple[str, ...] = ("bt", "sft"), seed: int = 0) -> dict:
    from cleverward.train.config import TrainConfig
    from cleverward.train.synth import generate_synthetic
    from cleverward.train.trainer import train

    root, cache = out / "task", out / "cache"
    t0 = time.perf_counter()
    synth = generate_synthetic(root, seed=seed)
    train_pairs, heldout_pairs = _pairs(root, "train"), _pairs(root, "heldout")
    results = {"task": synth.to_json(), "synth_and_pairs_s": round(time.perf_counter() - t0, 1)}
    t0 = time.perf_counter()
    results["default"] = _evaluate("default", heldout_pairs, root, cache)
    results["default"]["eval_s"] = round(time.perf_counter() - t0, 1)  # decodes every clip
    for objective in objectives:
        run_dir = out / f"run-{objective}"
        t0 = time.perf_counter()
        r = train(TrainConfig(pairs=str(train_pairs), videos_root=str(root), out=str(run_dir),
                              objective=objective, cache_dir=str(cache), resume=False,
                              seed=seed, quiet=True))
        seconds = time.perf_counter() - t0
        results[objective] = _evaluate(str(run_dir), heldout_pairs, root, cache) | {
            "train_s": round(seconds, 1), "epochs": r.epochs, "steps": r.steps,
            "train_pairs": r.train_pairs, "val_acc_before": round(r.before.get("acc", 0), 4),
            "val_acc_best": round(r.best.get("acc", 0), 4)}
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    results = run(args.out, seed=args.seed)
    emit_json(results, args.json, indent=2)


if __name__ == "__main__":
    main()
