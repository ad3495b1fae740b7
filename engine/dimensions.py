"""The canonical reward dimensions (from the CleveReward paper) and the overall score.

Every score the model emits is indexed by position in ``SCORE_NAMES``: index 0 is the overall
reward (`score` in output rows), the rest are the canonical dimensions in this fixed order.
"""

from __future__ import annotations

OVERALL = "overall"
CANONICAL_DIMENSIONS: tuple[str, ...] = (
    "dynamism",
    "motion_continuity",
    "visual_aesthetics",
    "character_continuity",
    "textual_alignment",
    "physical_realism",
)
SCORE_NAMES: tuple[str, ...] = (OVERALL, *CANONICAL_DIMENSIONS)


def score_index(name: str) -> int:
    """Position of a dimension (or ``overall``) in the model's score vector."""
    try:
        return SCORE_NAMES.index(name)
    except ValueError:
        raise ValueError(
            f"unknown dimension {name!r}; expected one of {', '.join(SCORE_NAMES)}"
        ) from None
