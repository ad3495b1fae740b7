"""The per-prompt ranking score-dir prints: only what it prints is kept.

Per prompt: the `top` best and `top` worst (score, video) seen so far, in two bounded heaps, and
a count. Memory is O(prompts x top), whatever the number of rows. The order is the one a full
sort by descending score would give (ties: the first added ranks first), so a prompt with at
most 2 x top videos is shown whole and in the same order as before.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from itertools import count


@dataclass
class _PerPrompt:
    best: list = field(default_factory=list)  # min-heap of (score, -seq, video): root = worst kept
    worst: list = field(default_factory=list)  # min-heap of (-score, seq, video): root = best kept
    count: int = 0


class Ranking:
    """Bounded best / worst `top` per prompt (top 0: counts only)."""

    def __init__(self, top: int = 3) -> None:
        if top < 0:
            raise ValueError(f"--top must be >= 0, got {top}")
        self.top = top
        self._prompts: dict[str, _PerPrompt] = {}
        self._seq = count()

    def add(self, prompt: str, score: float, video: str) -> None:
        entry = self._prompts.get(prompt)
        if entry is None:
            entry = self._prompts[prompt] = _PerPrompt()
        entry.count += 1
        if not self.top:
            return
        seq = next(self._seq)
        _push(entry.best, (score, -seq, video), self.top)
        _push(entry.worst, (-score, seq, video), self.top)

    def prompts(self) -> list[str]:
        """Prompts in the order their first row arrived."""
        return list(self._prompts)

    def count(self, prompt: str) -> int:
        entry = self._prompts.get(prompt)
        return entry.count if entry else 0

    def shown(self, prompt: str) -> list[tuple[int, float, str] | None]:
        """(rank, score, video) from best to worst; None marks the gap between the best and the
        worst when more than 2 x top videos were ranked."""
        entry = self._prompts[prompt]
        if not self.top:
            return []
        best = [(s, v) for s, _, v in sorted(entry.best, key=lambda t: (-t[0], -t[1]))]
        worst = [(-s, v) for s, _, v in sorted(entry.worst, key=lambda t: (t[0], t[1]))]
        n, k = entry.count, self.top
        if n <= 2 * k:  # best (first k) and worst (last min(n, k)) cover every rank
            tail = worst[len(worst) - (n - len(best)):] if n > len(best) else []
            ordered = best + tail
            return [(i + 1, s, v) for i, (s, v) in enumerate(ordered)]
        head = [(i + 1, s, v) for i, (s, v) in enumerate(best)]
        tail = [(n - len(worst) + i + 1, s, v) for i, (s, v) in enumerate(worst)]
        return [*head, None, *tail]


def _push(heap: list, item: tuple, limit: int) -> None:
    if len(heap) < limit:
        heapq.heappush(heap, item)
    elif item > heap[0]:
        heapq.heapreplace(heap, item)
