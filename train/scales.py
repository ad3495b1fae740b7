"""Score scales: map a dataset+dimension's scores onto [0, 1] (no torch, no numpy needed)."""

from __future__ import annotations

from collections.abc import Iterable


def score_span(values: Iterable[float], declared: tuple[float, float] | None = None):
    """(lo, hi): the declared range when known, else the observed min and max."""
    if declared is not None:
        return float(declared[0]), float(declared[1])
    values = list(values)
    if not values:
        raise ValueError("score_span: no values and no declared range")
    return float(min(values)), float(max(values))


def normalise_scores(values, lo: float | None = None, hi: float | None = None):
    """(values - lo) / (hi - lo); lo/hi default to the observed min/max of `values`.

    Works elementwise on a float, a numpy array or a torch tensor. A constant scale (hi == lo)
    maps everything to 0.5: there is no order to learn, and 0.5 is the least committal target.
    Worked: values [1, 2.5, 4] on VideoFeedback's declared 1-4 -> [0, 0.5, 1].
    """
    if lo is None or hi is None:
        if isinstance(values, (int, float)):
            raise ValueError("normalise_scores: a single value needs lo and hi")
        lo = float(values.min()) if lo is None else lo
        hi = float(values.max()) if hi is None else hi
    if hi == lo:
        return values * 0 + 0.5
    return (values - lo) / (hi - lo)
