"""CLIP-style negatives for textual_alignment: a video with its own prompt is chosen over a
video generated for a different prompt of the same dataset, judged against the first prompt.

Random negatives draw other prompts uniformly. Hard negatives take the prompts nearest in text
embedding space (cosine of `embed_texts` vectors), which teaches the finer distinctions; prompts
more similar than `max_similarity` are skipped because a near-paraphrase's video may well match
the prompt (a false negative). The rejected video is drawn uniformly among the other prompt's
videos. Everything goes through one numpy Generator in sorted order: same seed, same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from cleverward.train.pairs_io import make_row

DIMENSION = "textual_alignment"  # one of engine.dimensions.CANONICAL_DIMENSIONS
EmbedTexts = Callable[[list[str]], np.ndarray]
_BLOCK = 1024  # rows of the similarity matrix at a time: 1024 x P float32 stays small


def embed_prompts(prompts: list[str], embed_texts: EmbedTexts) -> np.ndarray:
    """(P, D) float32, rows L2-normalised (so a dot product is a cosine)."""
    vectors = np.asarray(embed_texts(list(prompts)), dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(prompts):
        raise ValueError(
            f"embed_texts returned shape {vectors.shape}; expected ({len(prompts)}, D)"
        )
    if not np.isfinite(vectors).all():
        raise ValueError("embed_texts returned non-finite values")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def nearest_prompts(vectors: np.ndarray, k: int, max_similarity: float) -> list[list[int]]:
    """For each row, up to k other rows by descending cosine (ties by index), skipping rows
    with cosine > max_similarity."""
    n = vectors.shape[0]
    k = min(k, n - 1)
    out: list[list[int]] = []
    for start in range(0, n, _BLOCK):
        sims = vectors[start:start + _BLOCK] @ vectors.T  # (B, P)
        rows = np.arange(sims.shape[0])
        sims[rows, start + rows] = -np.inf
        sims[sims > max_similarity] = -np.inf
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k > 0 else np.empty((len(rows), 0))
        for r in rows:
            cand = top[r].astype(int)
            cand = cand[np.isfinite(sims[r, cand])]
            order = np.lexsort((cand, -sims[r, cand]))
            out.append(cand[order].tolist())
    return out


def _random_prompts(n_prompts: int, own: int, k: int, rng: np.random.Generator) -> list[int]:
    picks = rng.choice(n_prompts - 1, size=min(k, n_prompts - 1), replace=False)
    return [int(p) + (p >= own) for p in np.sort(picks)]


def negative_rows(
    dataset: str,
    pairs: Sequence[tuple[str, str]],
    per_video: int,
    rng: np.random.Generator,
    vectors: np.ndarray | None = None,
    max_similarity: float = 0.95,
) -> list[dict]:
    """Rows for one dataset from its (video, prompt) pairs. `vectors`: embeddings of the
    dataset's sorted unique prompts (hard negatives); None draws random prompts."""
    prompts = sorted({p for _, p in pairs})
    if per_video <= 0 or len(prompts) < 2:
        return []
    index = {p: i for i, p in enumerate(prompts)}
    videos_of: list[list[str]] = [[] for _ in prompts]
    for video, prompt in sorted(set(pairs)):
        videos_of[index[prompt]].append(video)
    near = nearest_prompts(vectors, per_video, max_similarity) if vectors is not None else None
    rows = []
    for video, prompt in sorted(set(pairs)):
        own = index[prompt]
        others = near[own] if near is not None else _random_prompts(len(prompts), own, per_video,
                                                                    rng)
        for other in others:
            candidates = videos_of[other]
            rejected = candidates[int(rng.integers(len(candidates)))]
            if rejected == video:
                continue
            rows.append(make_row(dataset, DIMENSION, prompt, video, rejected, kind="negative",
                                 rejected_prompt=prompts[other]))
    return rows
