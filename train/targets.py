"""Regression targets for the SFT baseline, read back from a pairs file.

Score rows carry both videos' scores normalised to [0, 1] per dataset+dimension
(`score_chosen`, `score_rejected`), so one pairs file feeds both the contrastive trainer and the
paper's supervised-regression baseline. Vote and negative rows carry no score and give none.
"""

from __future__ import annotations

from collections.abc import Iterable


def regression_targets(rows: Iterable[dict]) -> list[dict]:
    """One row per (dataset, dimension, prompt, video): {dataset, dimension, prompt, video,
    target}, in first-seen order."""
    seen: dict[tuple[str, str, str, str], float] = {}
    for row in rows:
        if row.get("kind") != "score" or row.get("score_chosen") is None:
            continue
        for side in ("chosen", "rejected"):
            key = (row["dataset"], row["dimension"], row["prompt"], row[side])
            seen.setdefault(key, float(row[f"score_{side}"]))
    return [{"dataset": d, "dimension": m, "prompt": p, "video": v, "target": t}
            for (d, m, p, v), t in seen.items()]
