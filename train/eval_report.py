"""Figures -> flat records, per model, dataset and dimension, with bootstrap intervals; and the
text tables `eval` prints.

A record: {model, dataset, dimension, metric, convention, value, ci_low, ci_high, n}. `n` is the
number of pairs (or, for correlations, videos) the figure counts: decided pairs for
acc_no_ties, every pair otherwise. Undefined values and intervals are None, never NaN. Groups:
each dataset x dimension (mined negatives as "<dimension>[negative]", never mixed into a human
metric), "all" datasets x each dimension, and the headline "all" x "all": every human-labelled
pair of every dataset and dimension.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from cleverward.train.bootstrap import BootstrapConfig, intervals
from cleverward.train.conventions import CONVENTIONS, CORRECT, FigureParams
from cleverward.train.metrics import kendall, pearson, spearman

ALL = "all"
COUNTED_DECIDED = ("acc_no_ties",)  # figures over decided pairs only
SCORE_METRICS = ("srcc", "plcc", "krcc")


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def record(model: str, dataset: str, dimension: str, metric: str, convention: str,
           value: float, ci: tuple[float, float] | None, n: int) -> dict:
    low, high = ci if ci else (None, None)
    return {"model": model, "dataset": dataset, "dimension": dimension, "metric": metric,
            "convention": convention, "value": _finite(value), "ci_low": _finite(low),
            "ci_high": _finite(high), "n": int(n)}


def pair_groups(rows: Sequence[dict]) -> dict[tuple[str, str], list[int]]:
    """{(dataset, dimension): row indices}, with the "all" groups."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        negative = row.get("kind") == "negative"
        dim = f"{row['dimension']}[negative]" if negative else str(row["dimension"])
        groups[(str(row["dataset"]), dim)].append(i)
        groups[(ALL, dim)].append(i)
        if not negative:
            groups[(ALL, ALL)].append(i)
    return dict(sorted(groups.items(), key=lambda kv: (kv[0] != (ALL, ALL), kv[0])))


def _all_figures(h, m, names: Sequence[str], params: FigureParams) -> dict[str, float]:
    return {f"{name}/{metric}": value for name in names
            for metric, value in CONVENTIONS[name].figures(h, m, params).items()}


def pair_records(rows: Sequence[dict], diffs, model: str, conventions: Sequence[str],
                 params: FigureParams, boot: BootstrapConfig) -> list[dict]:
    """Every convention's figures on every group, intervals from one shared set of resamples."""
    d = np.asarray(diffs, dtype=np.float64).reshape(-1)
    if len(rows) != d.size:
        raise ValueError(f"{len(rows)} rows but {d.size} diffs")
    labels = np.array([0 if r["tie"] else 1 for r in rows], dtype=np.int64)
    prompts = [str(r["prompt"]) for r in rows]
    names = [CORRECT, *(c for c in conventions if c != CORRECT)]
    out = []
    for (dataset, dim), idx in pair_groups(rows).items():
        h, m = labels[idx], d[idx]
        values = _all_figures(h, m, names, params)
        cis = intervals(lambda ix, h=h, m=m: _all_figures(h[ix], m[ix], names, params),
                        [prompts[i] for i in idx], boot, f"{model}/{dataset}/{dim}")
        decided = int(np.sum(h != 0))
        for key, value in values.items():
            name, metric = key.split("/", 1)
            n = decided if metric in COUNTED_DECIDED else len(idx)
            out.append(record(model, dataset, dim, metric, name, value, cis.get(key), n))
    return out


def _correlations(h: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"srcc": spearman(h, p), "plcc": pearson(h, p), "krcc": kendall(h, p)}


def score_records(targets: Sequence[dict], predicted, model: str,
                  boot: BootstrapConfig) -> list[dict]:
    """SRCC / PLCC / KRCC of predicted rewards against normalised human scores, per dataset and
    dimension; targets: {"dataset", "dimension", "prompt", "target"} per video."""
    p = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if len(targets) != p.size:
        raise ValueError(f"{len(targets)} targets but {p.size} predictions")
    h = np.array([t["target"] for t in targets], dtype=np.float64)
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, t in enumerate(targets):
        groups[(str(t["dataset"]), str(t["dimension"]))].append(i)
    out = []
    for (dataset, dim), idx in sorted(groups.items()):
        hi, pi = h[idx], p[idx]
        cis = intervals(lambda ix, hi=hi, pi=pi: _correlations(hi[ix], pi[ix]),
                        [str(targets[i]["prompt"]) for i in idx], boot,
                        f"{model}/{dataset}/{dim}/scores")
        for metric, value in _correlations(hi, pi).items():
            out.append(record(model, dataset, dim, metric, CORRECT, value, cis.get(metric),
                              len(idx)))
    return out


# -- text -------------------------------------------------------------------------------------

def _cell(r: dict | None) -> str:
    if r is None or r["value"] is None:
        return "-"
    text = f"{r['value']:.3f}"
    if r["ci_low"] is not None and r["metric"] != "epsilon":
        text += f" [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
    return text


def _table(head: list[str], body: list[list[str]]) -> str:
    """Rendered by rich (a rule under the header; the first two columns left, figures right),
    as plain text with no trailing blanks."""
    import io

    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i, name in enumerate(head):
        table.add_column(Text(name), justify="left" if i < 2 else "right", no_wrap=True)
    for row in body:
        table.add_row(*map(Text, row))
    out = io.StringIO()
    Console(file=out, width=10_000, no_color=True, color_system=None).print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def _by_group(records: Sequence[dict]) -> dict[tuple[str, str], dict[tuple[str, str], dict]]:
    groups: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
    for r in records:
        groups.setdefault((r["dataset"], r["dimension"]), {})[(r["convention"], r["metric"])] = r
    return groups


def format_pair_table(records: Sequence[dict], convention: str = CORRECT) -> str:
    """One line per dataset x dimension. For a public convention, each of its figures sits
    beside the correct one ("<metric> <convention>" then "<metric> correct")."""
    groups = _by_group(records)
    metrics = list(dict.fromkeys(r["metric"] for r in records if r["convention"] == convention))
    cols = [(convention, m) for m in metrics]
    if convention != CORRECT:
        cols = [c for m in metrics for c in ((convention, m), (CORRECT, m))]
    head = ["dataset", "dimension", "n", "ties",
            *(m if c == CORRECT and convention == CORRECT else
              f"{m} {'correct' if c == CORRECT else c}" for c, m in cols)]
    body = []
    for (dataset, dim), figs in groups.items():
        some = next(iter(figs.values()))
        decided = figs.get((CORRECT, "acc_no_ties"), some)["n"]
        n = max(r["n"] for r in figs.values())
        body.append([dataset, dim, str(n), str(n - decided), *(_cell(figs.get(c)) for c in cols)])
    return _table(head, body)


def format_score_table(records: Sequence[dict]) -> str:
    groups = _by_group(records)
    metrics = list(dict.fromkeys(r["metric"] for r in records))
    body = [[dataset, dim, str(next(iter(figs.values()))["n"]),
             *(_cell(figs.get((CORRECT, m))) for m in metrics)]
            for (dataset, dim), figs in groups.items()]
    return _table(["dataset", "dimension", "videos", *metrics], body)
