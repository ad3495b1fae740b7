"""The report's charts, drawn by matplotlib as SVG text to inline in the HTML (vector, no
scripts, no network; text kept as text so it stays small and searchable)."""

from __future__ import annotations

import io

import numpy as np

SHORT = {"overall": "overall", "dynamism": "dynamism", "motion_continuity": "motion",
         "visual_aesthetics": "aesthetics", "character_continuity": "character",
         "textual_alignment": "alignment", "physical_realism": "physics"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "cleverward-report",
                         "font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def to_svg(fig) -> str:
    """A figure as an <svg> element (the XML prologue and DOCTYPE dropped), figure closed."""
    plt = _pyplot()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _legend_above(ax, n: int) -> None:
    ax.legend(fontsize=7, frameon=False, ncol=min(6, n), loc="lower center",
              bbox_to_anchor=(0.5, 1.0))


def histograms(values: np.ndarray, generators: list[str], metrics: list[str]) -> str:
    """One panel per metric: the distribution of clip scores (values (M, G, P)) per generator."""
    plt = _pyplot()
    cols = min(4, len(metrics))
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.2 * rows), squeeze=False,
                             layout="constrained")  # titles clear the row above's ticks
    for ax, m in zip(axes.flat, range(len(metrics)), strict=False):
        finite = values[m][~np.isnan(values[m])]
        lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        bins = np.linspace(lo, hi if hi > lo else lo + 1e-6, 21)
        for g, name in enumerate(generators):
            v = values[m, g][~np.isnan(values[m, g])]
            ax.hist(v, bins=bins, histtype="step", linewidth=1.4, label=name)
        ax.set_title(SHORT.get(metrics[m], metrics[m]))
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, frameon=False)
    fig.supylabel("prompts")
    return to_svg(fig)


def win_matrix(matrix: np.ndarray, generators: list[str]) -> str:
    """Heat map of (G, G) win rates, row over column, with the numbers written in."""
    plt = _pyplot()
    size = 1.0 + 0.6 * len(generators)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(np.ma.masked_invalid(matrix), vmin=0, vmax=1, cmap="RdBu")
    for (i, j), v in np.ndenumerate(matrix):
        if not np.isnan(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(generators)), generators, rotation=45, ha="right")
    ax.set_yticks(range(len(generators)), generators)
    ax.set_xlabel("opponent")
    fig.colorbar(image, ax=ax, label="win rate of row")
    return to_svg(fig)


def ratings(bt: dict[str, list[dict]], generators: list[str], metrics: list[str]) -> str:
    """Bradley-Terry theta with its interval, per metric (x) and generator (offset markers)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(metrics), 2.8))
    width = 0.7 / max(1, len(generators))
    for g, name in enumerate(generators):
        rows = [{r["generator"]: r for r in bt[m]}[name] for m in metrics]
        x = np.arange(len(metrics)) - 0.35 + width * (g + 0.5)
        y = np.array([r["value"] for r in rows])
        err = np.array([[r["value"] - r["ci_low"] for r in rows],
                        [r["ci_high"] - r["value"] for r in rows]])
        ax.errorbar(x, y, yerr=err, fmt="o", capsize=3, markersize=4, label=name)
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.set_xticks(range(len(metrics)), [SHORT.get(m, m) for m in metrics])
    ax.set_ylabel("Bradley-Terry theta")
    _legend_above(ax, len(generators))
    return to_svg(fig)


def dimension_bars(values: np.ndarray, generators: list[str], metrics: list[str]) -> str:
    """Mean score per metric (groups) and generator (bars), from values (M, G, P)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(metrics), 2.8))
    width = 0.8 / max(1, len(generators))
    with np.errstate(invalid="ignore"):
        means = np.nanmean(values, axis=2)  # (M, G)
    for g, name in enumerate(generators):
        x = np.arange(len(metrics)) - 0.4 + width * (g + 0.5)
        ax.bar(x, np.nan_to_num(means[:, g]), width=width, label=name)
    ax.set_xticks(range(len(metrics)), [SHORT.get(m, m) for m in metrics])
    ax.set_ylabel("mean score over prompts")
    _legend_above(ax, len(generators))
    return to_svg(fig)
