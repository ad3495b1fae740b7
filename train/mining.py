"""Pair mining over embeddings: near-duplicate videos across datasets, hard negatives for
textual alignment, and the rule for pairs that cross datasets.

Pure functions over arrays, and for pairs over plain dicts with the pairs-file columns
(`dataset, dimension, prompt, chosen, rejected, tie, margin`). build-pairs supplies the embeddings
(engine.video_index.embed_videos for videos, through the cache; the model's text encoder for
prompts) and writes the result.

Near duplicates. Two videos whose embeddings have cosine >= `threshold` are one clip (re-encoded,
resized, re-uploaded). With the default encoder a clip re-encoded to VP9 at half size stays at
0.984 and an H.264 -> VP9 re-encode at 0.997, while distinct clips measured 0.33-0.62; the default
threshold 0.95 sits between. Links come from an exact FAISS range search and are closed
transitively (union-find): groups are the connected components, and each group's canonical
member is its smallest index. When `datasets` is given only videos of different datasets are
linked: inside one dataset, look-alikes are distinct samples that carry their own labels.
Pairs are rewritten onto canonical videos before counting (`merge_duplicate_pairs`), so one
comparison reported by two datasets is one pair listing both, not two; a pair that becomes a
video against its own duplicate is dropped.

The cross-dataset rule. Scores from different datasets are never compared: their scales disagree
(T2VQA's MOS, VideoFeedback's 1-4, GenAI-Bench's votes). A pair whose chosen and rejected videos
come from different datasets is formed only in two ways:
  1. Transitively through a shared clip (`cross_dataset_pairs`): (c > v) from dataset X and
     (v' > r) from dataset Y != X, with v and v' one clip (same canonical video), both pairs
     within-dataset comparisons (not ties, not mined), on the same canonical dimension and the
     same prompt, give (c > r). Only orderings each dataset asserted are used; no score crosses
     scales. Not formed when any pair already orders c and r either way.
  2. Textual-alignment negatives (`negatives_by_prompt`, `negatives_by_video`): the label comes
     from construction (a video made for prompt x follows x better than one made for another
     prompt), not from any dataset's scale, so they may pair videos of any datasets; their
     dimension is textual_alignment only.
Nothing else crosses datasets.

Hard negatives for a video i made for prompt x_i (prompt x_i is the text, i is chosen):
  - by prompt: videos made for the prompts nearest to x_i in text-embedding space, close but not
    paraphrases (cosine < max_similarity), one video per neighbouring prompt;
  - by video: the videos nearest to i in video-embedding space whose prompts differ (cosine <
    max_prompt_similarity): look-alikes that do not show x_i.
Both skip videos of the same prompt and of i's own duplicate group.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

MINED_DATASET = "mined"
ALIGNMENT = "textual_alignment"


def unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return np.ascontiguousarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12))


def _flat_ip(vectors: np.ndarray):
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index


def near_duplicate_links(embeddings: np.ndarray, threshold: float = 0.95,
                         datasets: Sequence[str] | None = None) -> np.ndarray:
    """(L, 2) index pairs i < j whose cosine is >= threshold (across datasets if given)."""
    x = unit_rows(embeddings)  # (N, D)
    # range_search keeps scores strictly above the radius; the nudge makes the bound inclusive
    lims, _, ids = _flat_ip(x).range_search(x, float(threshold) - 1e-6)
    links = [(i, int(j)) for i in range(len(x)) for j in ids[lims[i]:lims[i + 1]] if i < j]
    if datasets is not None:
        links = [(i, j) for i, j in links if datasets[i] != datasets[j]]
    return np.array(sorted(links), dtype=np.int64).reshape(-1, 2)


def _components(n: int, links: np.ndarray) -> np.ndarray:
    """Union-find: the smallest member of each item's connected component, (n,)."""
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving
            i = parent[i]
        return i

    for i, j in links:
        a, b = root(int(i)), root(int(j))
        parent[max(a, b)] = min(a, b)  # the smaller index stays the root: canonical = minimum
    return np.array([root(i) for i in range(n)])


def near_duplicate_groups(embeddings: np.ndarray, threshold: float = 0.95,
                          datasets: Sequence[str] | None = None) -> list[list[int]]:
    """Groups (size >= 2, sorted, ordered by first member) of one clip's copies."""
    roots = _components(len(embeddings), near_duplicate_links(embeddings, threshold, datasets))
    members: dict[int, list[int]] = defaultdict(list)
    for i, r in enumerate(roots):
        members[int(r)].append(i)
    return [m for _, m in sorted(members.items()) if len(m) > 1]


def canonical_ids(n: int, groups: list[list[int]]) -> np.ndarray:
    """(n,) each item's canonical item: the first member of its group, else itself."""
    out = np.arange(n)
    for group in groups:
        out[group] = group[0]
    return out


def canonical_map(videos: Sequence[str], groups: list[list[int]]) -> dict[str, str]:
    """video -> canonical video, for the videos that have a duplicate."""
    return {videos[i]: videos[g[0]] for g in groups for i in g}


# -- pairs ---------------------------------------------------------------------------------

def _on_canonical(pair: dict, canonical: dict[str, str]) -> tuple[str, str]:
    return canonical.get(pair["chosen"], pair["chosen"]), canonical.get(pair["rejected"],
                                                                        pair["rejected"])


def merge_duplicate_pairs(pairs: list[dict],
                          canonical: dict[str, str]) -> tuple[list[dict], dict[str, int]]:
    """Rewrite pairs onto canonical videos; one comparison made by several datasets becomes one
    pair (dataset "A+B", `datasets` listing them). Repeats within one dataset stay (they are that
    dataset's votes). Returns (pairs, counts: kept, merged, self_pairs_dropped, contradictions)."""
    records: dict[tuple, list[dict]] = defaultdict(list)
    stats: Counter = Counter()
    for pair in pairs:
        c, r = _on_canonical(pair, canonical)
        if c == r:
            stats["self_pairs_dropped"] += 1
            continue
        tie = bool(pair.get("tie"))
        a, b = sorted((c, r)) if tie else (c, r)  # a tie has no direction
        slot = records[(pair["prompt"], pair["dimension"], a, b, tie)]
        into = next((rec for rec in slot if pair["dataset"] not in rec["datasets"]), None)
        if into is None:
            slot.append({**pair, "chosen": a, "rejected": b, "datasets": [pair["dataset"]]})
        else:
            into["datasets"] = sorted({*into["datasets"], pair["dataset"]})
            into["dataset"] = "+".join(into["datasets"])
            stats["merged"] += 1
    directed = {k[:4] for k in records if not k[4]}
    stats["contradictions"] = sum((p, d, b, a) in directed for p, d, a, b in directed) // 2
    out = [rec for slot in records.values() for rec in slot]
    stats["kept"] = len(out)
    return out, dict(stats)


def _within_dataset(pair: dict) -> bool:
    return not pair.get("tie") and not str(pair["dataset"]).startswith(MINED_DATASET)


def cross_dataset_pairs(pairs: list[dict], canonical: dict[str, str]) -> list[dict]:
    """Pairs across datasets by the module's rule 1: (c > v) in X, (v > r) in Y != X, v one
    clip, same prompt and dimension, both within-dataset -> (c > r), dataset "cross:X>Y"."""
    wins: dict[tuple, list[tuple[str, str]]] = defaultdict(list)  # (prompt, dim, v) -> beaten
    losses: dict[tuple, list[tuple[str, str]]] = defaultdict(list)  # (prompt, dim, v) -> winners
    ordered = set()
    for pair in pairs:
        c, r = _on_canonical(pair, canonical)
        if not pair.get("tie"):
            ordered.add((pair["prompt"], pair["dimension"], *sorted((c, r))))
        if _within_dataset(pair) and c != r:
            wins[(pair["prompt"], pair["dimension"], c)].append((r, pair["dataset"]))
            losses[(pair["prompt"], pair["dimension"], r)].append((c, pair["dataset"]))
    out: dict[tuple, dict] = {}
    for (prompt, dim, v), winners in sorted(losses.items()):
        for c, x in winners:
            for r, y in wins.get((prompt, dim, v), []):
                key = (prompt, dim, *sorted((c, r)))
                if x == y or c == r or key in ordered or key in out:
                    continue
                out[key] = {"dataset": f"cross:{x}>{y}", "dimension": dim, "prompt": prompt,
                            "chosen": c, "rejected": r, "tie": False, "margin": None, "via": v,
                            "datasets": sorted({x, y})}
    return list(out.values())


# -- hard negatives ------------------------------------------------------------------------

def negatives_by_prompt(prompt_emb: np.ndarray, prompt_ids: Sequence, k: int = 4,
                        max_similarity: float = 0.9,
                        canonical: np.ndarray | None = None) -> list[tuple[int, int, float]]:
    """(anchor, negative, prompt cosine): for each item, up to k videos made for its nearest
    different prompts (cosine < max_similarity), one per prompt, nearest first.
    prompt_emb (N, Dt) is each item's prompt embedding; prompt_ids (N,) names its prompt."""
    uniq: dict = {}
    for i, pid in enumerate(prompt_ids):
        uniq.setdefault(pid, []).append(i)  # prompt -> its items, in order
    names = list(uniq)
    x = unit_rows(np.stack([prompt_emb[uniq[p][0]] for p in names]))  # (U, Dt)
    depth = min(len(names), 4 * k + 1)
    sims, nbrs = _flat_ip(x).search(x, depth)  # (U, depth)
    canon = np.arange(len(prompt_ids)) if canonical is None else canonical
    out = []
    for u, pid in enumerate(names):
        near = [(int(w), float(s)) for w, s in zip(nbrs[u], sims[u], strict=True)
                if w >= 0 and w != u and s < max_similarity]
        for i in uniq[pid]:
            taken = 0
            for w, s in near:
                videos = [j for j in uniq[names[w]] if canon[j] != canon[i]]
                if videos and taken < k:
                    out.append((i, videos[i % len(videos)], s))  # i-dependent: spreads the picks
                    taken += 1
    return out


def negatives_by_video(video_emb: np.ndarray, prompt_emb: np.ndarray, prompt_ids: Sequence,
                       k: int = 4, max_prompt_similarity: float = 0.8,
                       canonical: np.ndarray | None = None) -> list[tuple[int, int, float]]:
    """(anchor, negative, video cosine): for each item, up to k of its nearest videos whose
    prompt differs (prompt cosine < max_prompt_similarity), nearest first."""
    v, t = unit_rows(video_emb), unit_rows(prompt_emb)  # (N, Dv), (N, Dt)
    depth = min(len(v), 4 * k + 1)
    sims, nbrs = _flat_ip(v).search(v, depth)  # (N, depth)
    canon = np.arange(len(v)) if canonical is None else canonical
    out = []
    for i in range(len(v)):
        taken = 0
        for j, s in zip(nbrs[i], sims[i], strict=True):
            if taken == k:
                break
            j = int(j)
            if (j < 0 or j == i or prompt_ids[j] == prompt_ids[i] or canon[j] == canon[i]
                    or float(t[i] @ t[j]) >= max_prompt_similarity):
                continue
            out.append((i, j, float(s)))
            taken += 1
    return out


def negative_pairs(negatives: list[tuple[int, int, float]], videos: Sequence[str],
                   prompts: Sequence[str], source: str) -> list[dict]:
    """Mined (anchor, negative, similarity) -> pairs rows: the anchor's prompt, its video
    chosen, the negative rejected, on textual_alignment. `source`: "prompt" or "video"."""
    seen, out = set(), []
    for i, j, sim in negatives:
        key = (prompts[i], videos[i], videos[j])
        if key in seen:
            continue
        seen.add(key)
        out.append({"dataset": f"{MINED_DATASET}:{source}", "dimension": ALIGNMENT,
                    "prompt": prompts[i], "chosen": videos[i], "rejected": videos[j],
                    "tie": False, "margin": None, "similarity": round(sim, 4)})
    return out
