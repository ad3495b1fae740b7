"""Benchmark corpus: clips shaped like real text-to-video output, made on demand and cached.

Each clip is H.264 (yuv420p, MP4) at a profile's size, rate and length, with one GOP for the whole
clip (keyint 250, scene-cut detection off: only frame 0 is a keyframe), as T2V pipelines write
them. The content makes encoder and decoder do real work: a multi-octave colour-noise texture
panning at a few pixels a frame, a second fine texture panning the other way, a little temporal
grain, and a few shapes bouncing about. Encoded with libx264 preset "veryfast" (CABAC, the
deblocking filter and B-frames on, as in the default preset real clips use, so decode cost is
realistic; "ultrafast" would turn them off and flatter the decoders) with mb-tree off so the bytes
are reproducible; 720p renders and encodes at about 40 frames/s on 2 cores.

Deterministic by seed: clip i depends only on (profile, seed, i). `make_corpus` keeps a manifest
(corpus.json: the parameters, and each clip's prompt, size and sha256) and reuses every clip whose
entry matches and whose bytes verify; anything else is (re)made.

    python benchmarks/corpus.py OUT --n 8 --profile 480p [--seed 0] [--seconds 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

CORPUS_VERSION = 1  # bump when the rendering or encoding changes: old caches are then remade
MANIFEST = "corpus.json"


@dataclass(frozen=True)
class CorpusProfile:
    name: str
    height: int
    width: int
    fps: int
    seconds: float
    gop: int = 250
    preset: str = "veryfast"
    crf: int = 23

    def __post_init__(self) -> None:
        for field in ("height", "width"):
            value = getattr(self, field)
            if value < 16 or value % 2:
                raise ValueError(f"CorpusProfile.{field} must be even and >= 16, got {value}")
        if self.fps < 1:
            raise ValueError(f"CorpusProfile.fps must be >= 1, got {self.fps}")
        if self.seconds <= 0 or self.frames < 1:
            raise ValueError(f"CorpusProfile.seconds must give at least one frame, "
                             f"got {self.seconds}")
        if self.gop < 1:
            raise ValueError(f"CorpusProfile.gop must be >= 1, got {self.gop}")

    @property
    def frames(self) -> int:
        return round(self.fps * self.seconds)


PROFILES: dict[str, CorpusProfile] = {
    "480p": CorpusProfile("480p", height=480, width=720, fps=8, seconds=6.0),
    "720p": CorpusProfile("720p", height=720, width=1280, fps=24, seconds=5.0),
}


class Corpus(NamedTuple):
    """The clips and their prompts, index-aligned; unpacks as `videos, prompts = corpus`."""

    videos: list[Path]
    prompts: list[str]


_COLOURS = ("red", "orange", "yellow", "green", "teal", "blue", "purple", "white")
_SHAPES = ("balloon", "lantern", "ball", "box", "kite", "drone")
_PLACES = ("a mossy forest floor", "a stormy sea", "a marble courtyard", "a city street at dusk",
           "a field of wildflowers", "a coral reef", "a desert canyon", "a snowy mountain pass")
_CAMERAS = ("the camera pans slowly", "handheld camera", "drone shot", "tracking shot",
            "cinematic lighting", "shallow depth of field")


def clip_prompt(seed: int, index: int) -> str:
    """A T2V-style prompt for clip `index` (the clip does not depict it; it only has to be text).
    Distinct for the first 2304 clips of a seed: a seeded permutation of every combination."""
    lists = (_COLOURS, _SHAPES, _PLACES, _CAMERAS)
    n_combos = math.prod(len(xs) for xs in lists)
    k = int(np.random.default_rng([seed, 7]).permutation(n_combos)[index % n_combos])
    words = []
    for xs in lists:  # mixed-radix digits of k
        k, digit = divmod(k, len(xs))
        words.append(xs[digit])
    colour, shape, place, camera = words
    return f"a {colour} {shape} drifting over {place}, {camera}"


def _upsample(coarse: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Bilinear upsampling of (h, w, C) to (out_h, out_w, C), float32."""
    for axis, n_out in ((0, out_h), (1, out_w)):
        n_in = coarse.shape[axis]
        pos = np.linspace(0, n_in - 1, n_out, dtype=np.float32)
        lo = np.minimum(pos.astype(np.int64), n_in - 2)
        frac = pos - lo
        shape = (-1, 1, 1) if axis == 0 else (1, -1, 1)
        a, b = np.take(coarse, lo, axis=axis), np.take(coarse, lo + 1, axis=axis)
        coarse = a + (b - a) * frac.reshape(shape)  # (out_h or h, w or out_w, C)
    return coarse


def _texture(rng: np.random.Generator, h: int, w: int, cells: tuple[int, ...]) -> np.ndarray:
    """Colour value noise: octaves of cell size `cells`, halving amplitude. -> uint8 (h, w, 3)."""
    out = np.zeros((h, w, 3), np.float32)
    amp = 1.0
    for cell in cells:
        coarse = rng.random((h // cell + 2, w // cell + 2, 3), dtype=np.float32)
        out += amp * _upsample(coarse, h, w)
        amp /= 2
    out -= out.min()
    return (out * (235 / max(out.max(), 1e-6)) + 10).astype(np.uint8)


@dataclass(frozen=True)
class _Sprite:
    cy: float
    cx: float
    vy: float
    vx: float
    r: float
    colour: tuple[int, int, int]
    round: bool


def _sprites(rng: np.random.Generator, h: int, w: int, n: int) -> list[_Sprite]:
    out = []
    for _ in range(n):
        r = float(rng.uniform(0.05, 0.12) * h)
        out.append(_Sprite(cy=float(rng.uniform(r, h - r)), cx=float(rng.uniform(r, w - r)),
                           vy=float(rng.uniform(-0.012, 0.012) * h),
                           vx=float(rng.uniform(-0.012, 0.012) * w), r=r,
                           colour=tuple(int(c) for c in rng.integers(30, 256, 3)),
                           round=bool(rng.integers(2))))
    return out


def _bounce(x0: float, v: float, t: int, lo: float, hi: float) -> float:
    """Position at frame t of a point moving at v, reflected between lo and hi."""
    span = hi - lo
    p = (x0 - lo + v * t) % (2 * span)
    return lo + (p if p <= span else 2 * span - p)


def _draw(frame: np.ndarray, s: _Sprite, t: int) -> None:
    h, w = frame.shape[:2]
    cy, cx = _bounce(s.cy, s.vy, t, s.r, h - s.r), _bounce(s.cx, s.vx, t, s.r, w - s.r)
    y0, y1, x0, x1 = int(cy - s.r), int(cy + s.r), int(cx - s.r), int(cx + s.r)
    if not s.round:
        frame[y0:y1, x0:x1] = s.colour
        return
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - cy  # (h', 1)
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] - cx  # (1, w')
    frame[y0:y1, x0:x1][dy * dy + dx * dx <= s.r * s.r] = s.colour


def render_frames(profile: CorpusProfile, seed: int, index: int):
    """Yield the clip's frames, uint8 (H, W, 3), one at a time (a 720p clip is 330 MB raw)."""
    rng = np.random.default_rng([seed, index])
    h, w, n = profile.height, profile.width, profile.frames
    speed = rng.uniform(1.0, 3.0, size=2) * rng.choice([-1, 1], size=2)  # px/frame, (y, x)
    pad = int(math.ceil(np.abs(speed).max() * n)) + 1
    big = _texture(rng, h + pad, w + pad, cells=(96, 24, 6))  # (H + pad, W + pad, 3)
    fine = (_texture(rng, h + n + 1, w + n + 1, cells=(3,))[..., :1] // 16).astype(np.int16)
    grain = rng.integers(-3, 4, size=(h + 16, w + 16, 1), dtype=np.int16)
    start = np.where(speed < 0, pad - 1, 0)
    sprites = _sprites(rng, h, w, n=int(rng.integers(3, 6)))
    for t in range(n):
        oy, ox = (start + speed * t).astype(int)
        gy, gx = rng.integers(0, 16, size=2)
        frame = big[oy : oy + h, ox : ox + w].astype(np.int16)  # (H, W, 3)
        frame += fine[n - t : n - t + h, t : t + w] + grain[gy : gy + h, gx : gx + w] - 8
        frame = np.clip(frame, 0, 255).astype(np.uint8)
        for s in sprites:
            _draw(frame, s, t)
        yield frame


def encode_clip(path: Path, profile: CorpusProfile, seed: int, index: int) -> Path:
    """Render and encode clip `index` to `path`, written under a temporary name then renamed."""
    import av

    tmp = path.with_name(path.name + ".part")
    with av.open(str(tmp), "w", format="mp4", options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream("libx264", rate=profile.fps, options={
            "preset": profile.preset, "crf": str(profile.crf),
            # mbtree off: with it, this libx264 build gives different bytes run to run (seen at
            # 64x96 to 240x360, threads=1 too); without it the output is reproducible.
            "x264-params": f"keyint={profile.gop}:min-keyint={profile.gop}:scenecut=0:mbtree=0"})
        stream.width, stream.height, stream.pix_fmt = profile.width, profile.height, "yuv420p"
        stream.codec_context.gop_size = profile.gop
        for frame in render_frames(profile, seed, index):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    os.replace(tmp, path)
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _params(profile: CorpusProfile, seed: int) -> dict:
    return {"version": CORPUS_VERSION, "seed": seed, "profile": asdict(profile)}


def _load_manifest(out: Path, params: dict) -> dict[str, dict]:
    """Clip entries of an existing manifest made with the same parameters, else {}."""
    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return manifest.get("videos", {}) if manifest.get("params") == params else {}


def _valid(path: Path, entry: dict | None) -> bool:
    return (entry is not None and path.is_file() and path.stat().st_size == entry["bytes"]
            and _sha256(path) == entry["sha256"])


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text() != text:
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(text)
        os.replace(tmp, path)


def resolve_profile(profile: str | CorpusProfile, seconds: float | None = None) -> CorpusProfile:
    if isinstance(profile, str):
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
        profile = PROFILES[profile]
    return profile if seconds is None else replace(profile, seconds=seconds)


def make_corpus(
    out_dir: str | Path, n_videos: int, profile: str | CorpusProfile = "480p", seed: int = 0,
    seconds: float | None = None,
) -> Corpus:
    """Clips 0..n_videos-1 of (profile, seed) in out_dir, reusing verified ones; also writes
    prompts.jsonl (the scoring layout) and corpus.json. `seconds` overrides the profile's length.
    """
    if n_videos < 1:
        raise ValueError(f"n_videos must be >= 1, got {n_videos}")
    prof = resolve_profile(profile, seconds)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    params = _params(prof, seed)
    entries = _load_manifest(out, params)
    videos, prompts = [], []
    for i in range(n_videos):
        name = f"clip_{i:04d}.mp4"
        path = out / name
        if not _valid(path, entries.get(name)):
            encode_clip(path, prof, seed, i)
            entries[name] = {"prompt": clip_prompt(seed, i), "bytes": path.stat().st_size,
                             "sha256": _sha256(path)}
        videos.append(path)
        prompts.append(entries[name]["prompt"])
    entries = dict(sorted(entries.items()))
    _write_if_changed(out / MANIFEST, json.dumps({"params": params, "videos": entries},
                                                 indent=1) + "\n")
    _write_if_changed(out / "prompts.jsonl", "".join(
        json.dumps({"video": k, "prompt": e["prompt"]}) + "\n" for k, e in entries.items()))
    return Corpus(videos, prompts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Make (or reuse) a benchmark corpus of T2V-shaped H.264 clips.")
    parser.add_argument("out", type=Path, help="folder for the clips, corpus.json, prompts.jsonl")
    parser.add_argument("--n", type=int, default=8, help="number of clips (default 8)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="480p")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=None,
                        help="override the profile's clip length")
    args = parser.parse_args(argv)
    prof = resolve_profile(args.profile, args.seconds)
    start = time.perf_counter()
    corpus = make_corpus(args.out, args.n, prof, seed=args.seed)
    seconds = time.perf_counter() - start
    total = sum(p.stat().st_size for p in corpus.videos)
    print(f"{len(corpus.videos)} clips, {prof.height}x{prof.width} @ {prof.fps} fps, "
          f"{prof.frames} frames each, {total / 1e6:.1f} MB in {args.out} ({seconds:.1f} s, "
          f"{len(corpus.videos) * prof.frames / seconds:.0f} frames/s incl. reuse)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
