"""A learnable synthetic task that proves the training machinery end to end.

Each prompt names a scene whose content is known ("two red circles moving left quickly"); each is
rendered several times: faithfully and clean, faithfully with known defects (flicker, jitter,
noise, blur at drawn strengths), and unfaithfully (one attribute wrong: colour, shape, direction,
count or speed). Scores follow from the generation parameters (see `label_scores`), so a faithful
clean clip outranks its defective siblings on motion_continuity / visual_aesthetics and its
unfaithful siblings on textual_alignment, and both on overall.

Held-out combinations: a colour x shape pair is held out when
(colour index + shape index) % len(SHAPES) == 0 (a Latin-square diagonal: every colour and every
shape is seen in training, only these pairings are new). Held-out prompts use only those pairs, and
no training clip shows one, not even as a wrong-attribute render.

Output in `out_dir` (paths in the files are relative to it):
    videos/p000_00_clean.mp4 ...   the clips
    labels.jsonl                   the generic scored layout, one record a video (all splits)
    labels_train.jsonl, labels_heldout.jsonl
    prompts.jsonl                  the scoring layout {"video", "prompt"}, relative to videos/
    synth.json                     config, counts, the held-out rule, score formulas, per-video
                                   generation parameters
Everything is a function of the config: the same seed writes the same label bytes and frames.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from cleverward.train.synth_render import COLOURS, DIRECTIONS, SHAPES, SPEEDS, Defects, Scene
from cleverward.train.synth_render import render_clip as _render_clip

DATASET = "synth"
COUNTS: tuple[int, ...] = (1, 2, 3)
ATTRIBUTES: tuple[str, ...] = ("colour", "shape", "count", "direction", "speed")
CODECS: dict[str, tuple[str, str]] = {"h264": ("libx264", ".mp4"), "vp9": ("libvpx-vp9", ".webm")}
_COUNT_WORDS = {1: "a", 2: "two", 3: "three"}
_ADVERBS = {"slow": "slowly", "fast": "quickly"}


@dataclass(frozen=True)
class Variant:
    """One rendering of a prompt: at most one wrong attribute, at most one defect kind whose
    strength is drawn uniformly from `strength`."""

    name: str
    wrong: str | None = None
    defect: str | None = None
    strength: tuple[float, float] = (0.0, 0.0)


# Interleaved so that any prefix (videos_per_prompt) mixes quality and alignment negatives.
VARIANTS: tuple[Variant, ...] = (
    Variant("clean"),
    Variant("wrong_colour", wrong="colour"),
    Variant("flicker", defect="flicker", strength=(0.6, 1.0)),
    Variant("wrong_shape", wrong="shape"),
    Variant("jitter", defect="jitter", strength=(0.6, 1.0)),
    Variant("wrong_direction", wrong="direction"),
    Variant("wrong_count", wrong="count"),
    Variant("flicker_weak", defect="flicker", strength=(0.2, 0.5)),
    Variant("jitter_weak", defect="jitter", strength=(0.2, 0.5)),
    Variant("wrong_speed", wrong="speed"),
    Variant("noise", defect="noise", strength=(0.4, 1.0)),
    Variant("blur", defect="blur", strength=(0.4, 1.0)),
)


@dataclass(frozen=True)
class SynthConfig:
    n_prompts: int = 24
    videos_per_prompt: int = 8
    frames: int = 24
    size: tuple[int, int] = (96, 128)  # (H, W)
    fps: int = 8
    seed: int = 0
    codec: str = "h264"
    heldout_fraction: float = 0.25

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", tuple(self.size))
        n_held = self.n_heldout_prompts
        if self.n_prompts < 1:
            raise ValueError(f"SynthConfig.n_prompts must be >= 1, got {self.n_prompts}")
        if n_held > len(_pool(True)) or self.n_prompts - n_held > len(_pool(False)):
            raise ValueError(f"SynthConfig.n_prompts={self.n_prompts} exceeds the distinct "
                             f"prompts available ({len(_pool(False))} train, "
                             f"{len(_pool(True))} held-out)")
        if not 1 <= self.videos_per_prompt <= len(VARIANTS):
            raise ValueError(f"SynthConfig.videos_per_prompt must be in 1..{len(VARIANTS)}, "
                             f"got {self.videos_per_prompt}")
        if self.frames < 2:
            raise ValueError(f"SynthConfig.frames must be >= 2, got {self.frames}")
        if len(self.size) != 2 or any(s < 32 or s % 2 for s in self.size):
            raise ValueError(f"SynthConfig.size must be (H, W), even, >= 32; got {self.size}")
        if self.fps < 1:
            raise ValueError(f"SynthConfig.fps must be >= 1, got {self.fps}")
        if self.codec not in CODECS:
            raise ValueError(f"SynthConfig.codec must be one of {sorted(CODECS)}, "
                             f"got {self.codec!r}")
        if not 0.0 <= self.heldout_fraction < 1.0:
            raise ValueError(f"SynthConfig.heldout_fraction must be in [0, 1), "
                             f"got {self.heldout_fraction}")

    @property
    def n_heldout_prompts(self) -> int:
        if self.heldout_fraction == 0 or self.n_prompts < 2:
            return 0
        return max(1, round(self.n_prompts * self.heldout_fraction))


@dataclass(frozen=True)
class SynthSummary:
    out_dir: Path
    videos: int
    prompts: int
    train_videos: int
    heldout_videos: int
    seconds: float

    def to_json(self) -> dict:
        return {**asdict(self), "out_dir": str(self.out_dir), "seconds": round(self.seconds, 3)}


def is_heldout(colour: str, shape: str) -> bool:
    """The held-out rule: a Latin-square diagonal of the colour x shape grid."""
    return (list(COLOURS).index(colour) + SHAPES.index(shape)) % len(SHAPES) == 0


def prompt_text(scene: Scene) -> str:
    """'a red circle moving left slowly', 'two blue stars moving up quickly'."""
    noun = scene.shape if scene.count == 1 else scene.shape + "s"
    words = (_COUNT_WORDS[scene.count], scene.colour, noun, "moving", scene.direction,
             _ADVERBS[scene.speed])
    return " ".join(words)


SCORE_FORMULAS: tuple[str, ...] = (
    "textual_alignment = matched attributes / 5 (colour, shape, count, direction, speed)",
    "motion_continuity = 1 - 0.5 jitter - 0.3 flicker",
    "visual_aesthetics = 1 - 0.4 flicker - 0.1 jitter - 0.4 noise - 0.4 blur",
    "overall = 0.5 textual_alignment + 0.25 motion_continuity + 0.25 visual_aesthetics",
)


def label_scores(prompt: Scene, rendered: Scene, defects: Defects) -> dict[str, float]:
    """Scores in [0, 1] from the generation parameters, as SCORE_FORMULAS states them (defect
    strengths in [0, 1]); rounded to 4 decimals so label files are byte-stable."""
    matched = sum(getattr(prompt, a) == getattr(rendered, a) for a in ATTRIBUTES)
    ta = matched / len(ATTRIBUTES)
    mc = 1 - 0.5 * defects.jitter - 0.3 * defects.flicker
    va = 1 - 0.4 * defects.flicker - 0.1 * defects.jitter - 0.4 * defects.noise - 0.4 * defects.blur
    overall = 0.5 * ta + 0.25 * mc + 0.25 * va
    scores = {"textual_alignment": ta, "motion_continuity": mc, "visual_aesthetics": va,
              "overall": overall}
    return {k: round(max(0.0, v), 4) for k, v in scores.items()}


def _pairs(heldout: bool) -> list[tuple[str, str]]:
    """The (colour, shape) pairs on one side of the held-out rule, in a fixed order."""
    return [(c, s) for s in SHAPES for c in COLOURS if is_heldout(c, s) == heldout]


def _pool(heldout: bool) -> list[Scene]:
    """Every distinct prompt scene on one side of the held-out rule, in a fixed order."""
    rest = itertools.product(COUNTS, DIRECTIONS, SPEEDS)
    return [Scene(s, c, *r) for (c, s), r in itertools.product(_pairs(heldout), list(rest))]


def choose_prompts(cfg: SynthConfig) -> list[tuple[Scene, bool]]:
    """(scene, held_out) per prompt: distinct scenes drawn by seed, stratified so the colour x
    shape pairs of each side are used in turn (every colour and shape reaches training once
    n_prompts covers the train pairs)."""
    rng = np.random.default_rng([cfg.seed, 0])
    n_held = cfg.n_heldout_prompts
    picked = []
    for heldout, n in ((False, cfg.n_prompts - n_held), (True, n_held)):
        pairs = [_pairs(heldout)[i] for i in rng.permutation(len(_pairs(heldout)))]
        rest = list(itertools.product(COUNTS, DIRECTIONS, SPEEDS))
        orders = [rng.permutation(len(rest)) for _ in pairs]  # one draw order per pair
        for j in range(n):
            (colour, shape), k = pairs[j % len(pairs)], orders[j % len(pairs)][j // len(pairs)]
            picked.append((Scene(shape, colour, *rest[k]), heldout))
    return picked


def wrong_scene(scene: Scene, attribute: str, heldout: bool, rng: np.random.Generator) -> Scene:
    """`scene` with one attribute changed; a training prompt's render stays off the held-out
    pairs so no training clip shows one."""
    values = {"colour": list(COLOURS), "shape": list(SHAPES), "count": list(COUNTS),
              "direction": list(DIRECTIONS), "speed": list(SPEEDS)}[attribute]
    options = [replace(scene, **{attribute: v}) for v in values if v != getattr(scene, attribute)]
    if not heldout:
        options = [s for s in options if not is_heldout(s.colour, s.shape)]
    return options[int(rng.integers(len(options)))]


def plan_video(scene: Scene, heldout: bool, variant: Variant, seed: list[int]) -> dict:
    """What one clip shows: rendered scene and defects, drawn from its own seed."""
    rng = np.random.default_rng([*seed, 2])
    rendered = wrong_scene(scene, variant.wrong, heldout, rng) if variant.wrong else scene
    defects = Defects()
    if variant.defect:
        strength = round(float(rng.uniform(*variant.strength)), 3)
        defects = replace(defects, **{variant.defect: strength})
    return {"rendered": rendered, "defects": defects}


def write_video(path: Path, clip: np.ndarray, fps: int, codec: str) -> Path:
    """Encode uint8 (T, H, W, 3) RGB with PyAV. Single-threaded, and `bitexact` so the muxer
    writes no random segment id (WebM) or version string: the same frames give the same bytes."""
    import av

    codec_name, _ = CODECS[codec]
    t, h, w, _ = clip.shape
    options = ({"preset": "ultrafast", "crf": "18", "threads": "1"} if codec == "h264"
               else {"deadline": "realtime", "cpu-used": "8", "crf": "24", "b": "0",
                     "threads": "1"})
    with av.open(str(path), "w", options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream(codec_name, rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(t):
            frame = av.VideoFrame.from_ndarray(clip[i], format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def _record(video: str, prompt: str, scores: dict) -> str:
    return json.dumps({"video": video, "prompt": prompt, "scores": scores, "dataset": DATASET})


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def synthesize(cfg: SynthConfig, out_dir: str | Path) -> SynthSummary:
    """Render every clip of `cfg` into out_dir and write the label files and manifest."""
    start = time.perf_counter()
    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    ext = CODECS[cfg.codec][1]
    rows = []
    for p, (scene, heldout) in enumerate(choose_prompts(cfg)):
        for k, variant in enumerate(VARIANTS[: cfg.videos_per_prompt]):
            seed = [cfg.seed, 1, p, k]
            plan = plan_video(scene, heldout, variant, seed)
            # Layout seed is per prompt: every sibling shares the clean clip's background.
            clip = _render_clip(plan["rendered"], plan["defects"], cfg.frames, cfg.size,
                                layout_seed=[cfg.seed, 1, p], defect_seed=[*seed, 3])
            rel = f"videos/p{p:03d}_{k:02d}_{variant.name}{ext}"
            write_video(out / rel, clip, cfg.fps, cfg.codec)
            rows.append({"video": rel, "split": "heldout" if heldout else "train",
                         "variant": variant.name, "prompt": prompt_text(scene),
                         "prompt_scene": asdict(scene), "rendered": asdict(plan["rendered"]),
                         "defects": asdict(plan["defects"]),
                         "scores": label_scores(scene, plan["rendered"], plan["defects"])})
    _write_outputs(out, cfg, rows)
    n_held = sum(r["split"] == "heldout" for r in rows)
    return SynthSummary(out, len(rows), cfg.n_prompts, len(rows) - n_held, n_held,
                        time.perf_counter() - start)


def _write_outputs(out: Path, cfg: SynthConfig, rows: list[dict]) -> None:
    for name, split in (("labels", None), ("labels_train", "train"),
                        ("labels_heldout", "heldout")):
        _write_lines(out / f"{name}.jsonl", [_record(r["video"], r["prompt"], r["scores"])
                                             for r in rows if split in (None, r["split"])])
    # relative to videos/, so that `score-dir OUT/videos --prompts OUT/prompts.jsonl` scores it
    # (the labels stay relative to OUT, for build-pairs --videos-root OUT; eval --scores matches
    # the two by their path tails)
    _write_lines(out / "prompts.jsonl",
                 [json.dumps({"video": r["video"].removeprefix("videos/"), "prompt": r["prompt"]})
                  for r in rows])
    (out / "synth.json").write_text(json.dumps(_manifest(cfg, rows), indent=1) + "\n")


def _manifest(cfg: SynthConfig, rows: list[dict]) -> dict:
    held = [list(pair) for pair in _pairs(True)]
    return {
        "generator": "cleverward.train.synth",
        "config": {f.name: getattr(cfg, f.name) for f in fields(cfg)},
        "counts": {
            "prompts": cfg.n_prompts, "heldout_prompts": cfg.n_heldout_prompts,
            "videos": len(rows),
            "heldout_videos": sum(r["split"] == "heldout" for r in rows),
        },
        "heldout_rule": {
            "description": "a prompt is held out iff its (colour, shape) pair is; a pair is held "
                           "out iff (colour index + shape index) % len(shapes) == 0; no training "
                           "clip renders a held-out pair",
            "colours": list(COLOURS), "shapes": list(SHAPES), "heldout_pairs": held,
        },
        "scores": list(SCORE_FORMULAS),
        "variants": [asdict(v) for v in VARIANTS[: cfg.videos_per_prompt]],
        "videos": rows,
    }


def generate_synthetic(
    out_dir: str | Path, n_prompts: int = 24, videos_per_prompt: int = 8, frames: int = 24,
    size: tuple[int, int] = (96, 128), fps: int = 8, seed: int = 0, codec: str = "h264",
    heldout_fraction: float = 0.25,
) -> SynthSummary:
    """Build a SynthConfig from the arguments and synthesize it (see the module docstring)."""
    cfg = SynthConfig(n_prompts=n_prompts, videos_per_prompt=videos_per_prompt, frames=frames,
                      size=size, fps=fps, seed=seed, codec=codec,
                      heldout_fraction=heldout_fraction)
    return synthesize(cfg, out_dir)
