"""What build-pairs did, as numbers (for checkpoint provenance) and as a table (for stderr)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from cleverward.train.pairs_io import KINDS


@dataclass(frozen=True)
class SummaryCell:
    dataset: str
    dimension: str
    score: int = 0
    vote: int = 0
    negative: int = 0
    ties: int = 0

    @property
    def total(self) -> int:
        return self.score + self.vote + self.negative


@dataclass(frozen=True)
class PairsSummary:
    cells: tuple[SummaryCell, ...]
    items_read: Mapping[str, int] = field(default_factory=dict)  # dataset -> records
    videos: int = 0
    missing_videos: int = 0
    missing_examples: tuple[str, ...] = ()
    dropped_dimensions: Mapping[str, int] = field(default_factory=dict)  # "dataset:name" -> n
    duplicate_videos: int = 0  # paths merged onto another by content hash
    self_pairs_dropped: int = 0
    ties_dropped: int = 0
    negatives: str = "none"  # "none" | "random" | "hard"

    @property
    def total(self) -> int:
        return sum(c.total for c in self.cells)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["cells"] = [{**asdict(c), "total": c.total} for c in self.cells]
        out["total"] = self.total
        return out

    def to_text(self) -> str:
        return format_summary(self)

    __str__ = to_text


def summarise_rows(rows: list[dict]) -> tuple[SummaryCell, ...]:
    counts: Counter = Counter()
    for row in rows:
        key = (row["dataset"], row["dimension"])
        counts[(*key, row["kind"])] += 1
        counts[(*key, "ties")] += bool(row["tie"])
    keys = sorted({(d, m) for d, m, _ in counts})
    return tuple(
        SummaryCell(d, m, **{k: counts[(d, m, k)] for k in (*KINDS, "ties")}) for d, m in keys
    )


def _table(cells: tuple[SummaryCell, ...]) -> list[str]:
    head = ("dataset", "dimension", "score", "vote", "negative", "ties", "total")
    body = [(c.dataset, c.dimension, c.score, c.vote, c.negative, c.ties, c.total) for c in cells]
    sums = [sum(r[i] for r in body) for i in range(2, 7)]
    body.append(("total", "", *sums))
    w0 = max(len(str(r[0])) for r in [head, *body])
    w1 = max(len(str(r[1])) for r in [head, *body])
    fmt = f"{{:<{w0}}}  {{:<{w1}}}" + "  {:>8}" * 5
    lines = [fmt.format(*head)]
    lines += [fmt.format(*r) for r in body]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return lines


def format_summary(s: PairsSummary) -> str:
    lines = _table(s.cells)
    missing = f"missing videos: {s.missing_videos} of {s.videos}"
    if s.missing_examples:
        missing += " (e.g. " + ", ".join(s.missing_examples) + ")"
    lines.append(missing)
    if s.dropped_dimensions:
        dropped = ", ".join(f"{k} x{n}" for k, n in sorted(s.dropped_dimensions.items()))
        lines.append(f"dimensions dropped (no canonical match): {dropped}")
    lines.append(
        f"duplicate videos merged: {s.duplicate_videos}; self-pairs dropped: "
        f"{s.self_pairs_dropped}; ties dropped: {s.ties_dropped}; negatives: {s.negatives}"
    )
    return "\n".join(lines)
