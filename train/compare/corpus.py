"""A generator-comparison corpus with a known answer: G generators render the same prompts, one
of them with planted defects (heavy flicker + noise), so every comparison has a known loser.

Layout in `out_dir` (paths relative to it, as score-dir writes them):
    videos/<generator>/p000.mp4 ...   one clip per (generator, prompt)
    prompts.jsonl                     {"video", "prompt"} per clip (the score-dir input)
    labels_scores.jsonl               score rows from the synthetic task's known formulas
                                      (train/synth.py: label_scores), model "synth-labels"
Scenes come from the synthetic task's prompt pool; each generator draws its own layout
(background, starting positions) and its own defects, so generators differ clip by clip.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cleverward.train.synth import (
    SynthConfig,
    choose_prompts,
    label_scores,
    prompt_text,
    write_video,
)
from cleverward.train.synth_render import Defects, render_clip

LABEL_MODEL = "synth-labels"


@dataclass(frozen=True)
class GeneratorStyle:
    """How one generator degrades its clips: each defect strength drawn from U(lo, hi)."""

    name: str
    flicker: tuple[float, float] = (0.0, 0.0)
    noise: tuple[float, float] = (0.0, 0.0)
    blur: tuple[float, float] = (0.0, 0.0)
    jitter: tuple[float, float] = (0.0, 0.0)

    def draw(self, rng: np.random.Generator) -> Defects:
        return Defects(**{k: round(float(rng.uniform(*getattr(self, k))), 3)
                          for k in ("flicker", "noise", "blur", "jitter")})


# Two fair generators with mild, different imperfections, one with planted heavy defects.
DEFAULT_STYLES: tuple[GeneratorStyle, ...] = (
    GeneratorStyle("alpha", noise=(0.0, 0.3)),
    GeneratorStyle("beta", blur=(0.0, 0.3), jitter=(0.0, 0.2)),
    GeneratorStyle("gamma", flicker=(0.8, 1.0), noise=(0.8, 1.0)),
)

# A fourth fair generator, for corpora that need more clips (e.g. 4 x 50 = 200).
EXTRA_STYLE = GeneratorStyle("delta", blur=(0.1, 0.4), noise=(0.0, 0.1))


def build_corpus(out_dir: str | Path, n_prompts: int = 20,
                 styles: tuple[GeneratorStyle, ...] = DEFAULT_STYLES, frames: int = 16,
                 size: tuple[int, int] = (96, 128), fps: int = 8, seed: int = 0) -> int:
    """Render len(styles) x n_prompts clips and their label rows; returns the clip count."""
    cfg = SynthConfig(n_prompts=n_prompts, videos_per_prompt=1, frames=frames, size=size,
                      fps=fps, seed=seed, heldout_fraction=0.0)
    out = Path(out_dir)
    prompts, labels = [], []
    for g, style in enumerate(styles):
        (out / "videos" / style.name).mkdir(parents=True, exist_ok=True)
        for p, (scene, _) in enumerate(choose_prompts(cfg)):
            defects = style.draw(np.random.default_rng([seed, 7, g, p]))
            clip = render_clip(scene, defects, frames, size, layout_seed=[seed, 8, g, p],
                               defect_seed=[seed, 9, g, p])
            rel = f"{style.name}/p{p:03d}.mp4"
            write_video(out / "videos" / rel, clip, fps, "h264")
            text = prompt_text(scene)
            prompts.append({"video": rel, "prompt": text})
            labels.append(_label_row(rel, text, label_scores(scene, scene, defects)))
    _write_jsonl(out / "prompts.jsonl", prompts)
    _write_jsonl(out / "labels_scores.jsonl", labels)
    return len(prompts)


def _label_row(video: str, prompt: str, scores: dict) -> dict:
    dims = {k: v for k, v in scores.items() if k != "overall"}
    return {"video": video, "prompt": prompt, "score": scores["overall"], "dimensions": dims,
            "model": LABEL_MODEL, "error": None}


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def defective(styles: tuple[GeneratorStyle, ...] = DEFAULT_STYLES) -> str:
    """The generator whose defects are planted (the largest mean flicker + noise)."""
    return max(styles, key=lambda s: sum(s.flicker) + sum(s.noise)).name


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description="Render a generator-comparison corpus.")
    ap.add_argument("out")
    ap.add_argument("--prompts", type=int, default=20)
    ap.add_argument("--generators", type=int, choices=(3, 4), default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    styles = DEFAULT_STYLES + (EXTRA_STYLE,) if args.generators == 4 else DEFAULT_STYLES
    n = build_corpus(args.out, args.prompts, styles=styles, seed=args.seed)
    print(f"{n} clips -> {args.out}")


if __name__ == "__main__":  # python -m cleverward.train.compare.corpus OUT [--prompts N] ...
    main()
