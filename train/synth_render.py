"""Drawing primitives for the synthetic task: numpy only, deterministic, small frames.

A scene is a muted textured background plus `count` identical objects (one shape, one colour)
moving in one direction at one speed. Shapes are drawn from signed distance functions with a
one-pixel anti-aliasing ramp, so motion is sub-pixel smooth. Defects (flicker, jitter, noise,
blur) are applied with their own seeded generator; each has a strength in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 190, 40),
    "blue": (30, 70, 230),
    "yellow": (240, 220, 20),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")
DIRECTIONS: dict[str, tuple[int, int]] = {  # name -> (dy, dx) unit step in image coordinates
    "left": (0, -1),
    "right": (0, 1),
    "up": (-1, 0),
    "down": (1, 0),
}
# Distance travelled over the whole clip, as a fraction of the frame along the motion axis.
SPEEDS: dict[str, float] = {"slow": 0.2, "fast": 0.55}
RADIUS_FRACTION = 0.11  # object radius / min(H, W)
EXTENT = 1.25  # every shape lies within EXTENT * radius of its centre
JITTER_FRACTION = 0.06  # shake amplitude at strength 1 / min(H, W)
FLICKER_GAIN = 0.4  # brightness swing at strength 1
NOISE_SIGMA = 24.0  # grey levels at strength 1


@dataclass(frozen=True)
class Scene:
    """What is drawn: the rendered attributes (which may differ from the prompt's)."""

    shape: str
    colour: str
    count: int
    direction: str
    speed: str


@dataclass(frozen=True)
class Defects:
    """Strengths in [0, 1] of the known degradations."""

    flicker: float = 0.0
    jitter: float = 0.0
    noise: float = 0.0
    blur: float = 0.0

    def __post_init__(self) -> None:
        for name in ("flicker", "jitter", "noise", "blur"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Defects.{name} must be in [0, 1], got {value}")


def background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A muted grey gradient with a faint sine texture. -> float32 (H, W, 3) in [0, 255]."""
    h, w = size
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]  # (H, 1)
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]  # (1, W)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * x + np.sin(angle) * y  # (H, W)
    freq = rng.uniform(6, 14, size=2)
    texture = np.sin(2 * np.pi * freq[0] * x) * np.sin(2 * np.pi * freq[1] * y)  # (H, W)
    grey = 95 + 45 * ramp + 10 * texture  # (H, W)
    tint = rng.uniform(-8, 8, size=3).astype(np.float32)
    return np.clip(grey[..., None] + tint, 0, 255).astype(np.float32)  # (H, W, 3)


def shape_sdf(shape: str, dy: np.ndarray, dx: np.ndarray, r: float) -> np.ndarray:
    """Signed distance (pixels, negative inside) of `shape` of radius r centred at the origin."""
    if shape == "circle":
        return np.hypot(dx, dy) - r
    if shape == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) - 0.85 * r
    if shape == "triangle":  # equilateral, pointing up; max of three half-plane distances
        normals = ((0.0, 1.0), (0.866, -0.5), (-0.866, -0.5))  # (nx, ny) outward
        planes = [nx * dx + ny * dy for nx, ny in normals]
        return np.maximum(np.maximum(planes[0], planes[1]), planes[2]) - 0.6 * r
    if shape == "star":  # five points; radius swings between 0.45 r and 1.1 r with the angle
        theta = np.arctan2(dx, -dy)
        wave = np.abs(((theta * 5 / (2 * np.pi)) % 1.0) - 0.5) * 2  # 1 at the tips, 0 between
        return np.hypot(dx, dy) - r * (0.45 + 0.65 * wave)
    raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")


def draw_object(
    frame: np.ndarray, shape: str, colour: tuple[int, int, int], cy: float, cx: float, r: float
) -> None:
    """Alpha-blend one anti-aliased object into frame (H, W, 3) float32, in place."""
    h, w = frame.shape[:2]
    e = EXTENT * r
    y0, y1 = max(0, int(cy - e) - 2), min(h, int(cy + e) + 3)
    x0, x1 = max(0, int(cx - e) - 2), min(w, int(cx + e) + 3)
    if y0 >= y1 or x0 >= x1:
        return
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - cy  # (h', 1)
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] - cx  # (1, w')
    alpha = np.clip(0.5 - shape_sdf(shape, dy, dx, r), 0.0, 1.0)[..., None]  # (h', w', 1)
    patch = frame[y0:y1, x0:x1]
    patch += alpha * (np.asarray(colour, np.float32) - patch)


def trajectories(
    rng: np.random.Generator, scene: Scene, frames: int, size: tuple[int, int]
) -> np.ndarray:
    """Object centres over time. -> float32 (frames, count, 2) as (y, x)."""
    h, w = size
    r = RADIUS_FRACTION * min(h, w)
    dy, dx = DIRECTIONS[scene.direction]
    along, across = (w, h) if dx else (h, w)
    travel = SPEEDS[scene.speed] * along
    margin = r + 2
    start_max = max(margin, along - margin - travel)
    lanes = across * (np.arange(scene.count) + 1) / (scene.count + 1)  # (count,)
    lanes = lanes + rng.uniform(-0.08, 0.08, scene.count) * across / (scene.count + 1)
    starts = rng.uniform(margin, start_max, scene.count)  # (count,) on the motion axis
    t = np.linspace(0.0, 1.0, frames, dtype=np.float32)[:, None]  # (T, 1)
    sign = dx or dy
    pos = starts[None, :] + t * travel  # (T, count), increasing along the axis
    if sign < 0:
        pos = along - pos
    lane = np.broadcast_to(lanes[None, :], pos.shape)  # (T, count)
    y, x = (lane, pos) if dx else (pos, lane)
    return np.stack([y, x], axis=-1).astype(np.float32)  # (T, count, 2)


def render_clip(
    scene: Scene, defects: Defects, frames: int, size: tuple[int, int],
    layout_seed: list[int], defect_seed: list[int],
) -> np.ndarray:
    """Render a whole clip. -> uint8 (T, H, W, 3). `layout_seed` fixes background and starting
    positions, `defect_seed` the shake, flicker and noise: siblings sharing a layout seed differ
    only in what their scenes and defects say."""
    layout_rng = np.random.default_rng(layout_seed)
    defect_rng = np.random.default_rng(defect_seed)
    h, w = size
    bg = background(layout_rng, size)  # (H, W, 3)
    centres = trajectories(layout_rng, scene, frames, size)  # (T, count, 2)
    shake = defect_rng.uniform(-1, 1, centres.shape) * defects.jitter * JITTER_FRACTION * min(h, w)
    centres = centres + shake
    colour, r = COLOURS[scene.colour], RADIUS_FRACTION * min(h, w)
    clip = np.empty((frames, h, w, 3), np.float32)  # (T, H, W, 3)
    for i in range(frames):
        clip[i] = bg
        for cy, cx in centres[i]:
            draw_object(clip[i], scene.shape, colour, float(cy), float(cx), r)
    return _degrade(clip, defects, defect_rng)


def _degrade(clip: np.ndarray, defects: Defects, rng: np.random.Generator) -> np.ndarray:
    """Flicker, blur and noise on a float clip (T, H, W, 3). -> uint8 (T, H, W, 3)."""
    t = clip.shape[0]
    if defects.flicker:
        # Alternating-sign jumps of random size: every frame differs from its neighbour.
        signs = np.where(np.arange(t) % 2 == 0, 1.0, -1.0) * rng.choice([-1.0, 1.0])
        gain = 1 + defects.flicker * FLICKER_GAIN * signs * rng.uniform(0.5, 1.0, t)  # (T,)
        clip = clip * gain.astype(np.float32)[:, None, None, None]
    if defects.blur:
        clip = box_blur(clip, radius=1 + round(2 * defects.blur))
    if defects.noise:
        clip = clip + rng.normal(0, defects.noise * NOISE_SIGMA, clip.shape).astype(np.float32)
    return np.clip(clip + 0.5, 0, 255).astype(np.uint8)


def box_blur(clip: np.ndarray, radius: int) -> np.ndarray:
    """Separable box blur over H and W of (T, H, W, 3), edges clamped."""
    k = 2 * radius + 1
    for axis in (1, 2):
        pad = [(0, 0)] * clip.ndim
        pad[axis] = (radius + 1, radius)
        c = np.cumsum(np.pad(clip, pad, mode="edge"), axis=axis, dtype=np.float32)
        n = clip.shape[axis]
        hi = np.take(c, np.arange(k, k + n), axis=axis)
        lo = np.take(c, np.arange(0, n), axis=axis)
        clip = (hi - lo) / k
    return clip
