"""`cleverward compare SCORES [SCORES ...]`: win rates, ratings and agreement across generators."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from cleverward.cli.choices import GeneratorFromOption, TiesOption
from cleverward.cli.common import config_error, fail

SHORT = {"overall": "overall", "dynamism": "dynamism", "motion_continuity": "motion",
         "visual_aesthetics": "aesthetics", "character_continuity": "character",
         "textual_alignment": "alignment", "physical_realism": "physics"}


def compare_command(
    scores: Annotated[list[Path], typer.Argument(help="Score files (JSONL, CSV, Parquet).")],
    ties: TiesOption = "half",
    generator_from: GeneratorFromOption = "auto",
    model: Annotated[str | None, typer.Option(
        "--model", help="Compare this model's rows (default: the model with most rows).")] = None,
    pair: Annotated[tuple[str, str] | None, typer.Option(
        "--pair", help="Two generators: a per-prompt A/B table.")] = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Prompt resamples for the "
                                                               "rating intervals.")] = 1000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    bt_prior: Annotated[float, typer.Option("--bt-prior", help="Virtual ties per pair in "
                                                               "Bradley-Terry (0: MLE).")] = 1.0,
    elo_k: Annotated[float, typer.Option("--elo-k")] = 16.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """For every two generators, the win rate over the prompts both answered (per dimension and
    overall); Bradley-Terry and Elo ratings with bootstrap intervals over prompts; the agreement
    between reward models that scored the same clips."""
    from cleverward.train.compare.analysis import CompareConfig, compare
    from cleverward.train.compare.rows import CompareInputError

    try:
        cfg = CompareConfig(scores=tuple(map(str, scores)), ties=ties,
                            generator_from=generator_from, model=model, pair=pair,
                            bootstrap=bootstrap, seed=seed, bt_prior=bt_prior, elo_k=elo_k)
        result = compare(cfg)
    except (CompareInputError, ValueError) as exc:
        fail(config_error(exc, config=CompareConfig))
    if as_json:
        from cleverward.train.evaluate import json_ready

        # an undefined figure (a metric whose every game was a dropped tie) is null, not NaN
        typer.echo(json.dumps(json_ready(result), indent=1, allow_nan=False))
    else:
        print_tables(result)


def _ci(r: dict, digits: int, sign: str = "+") -> str:
    if not math.isfinite(r["value"]):
        return "-"  # undefined: no game was played on this metric
    return (f"{r['value']:{sign}.{digits}f} [{r['ci_low']:{sign}.{digits}f}, "
            f"{r['ci_high']:{sign}.{digits}f}]")


def _rate(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def print_tables(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    others = [m for m in result["models"] if m != result["model"]]
    console.print(f"model {result['model']!r}: {len(result['generators'])} generators, "
                  f"{result['prompts']} prompts, {result['clips']} clips"
                  f" ({result['failed_rows']} failed rows left out); ties: {result['ties']}; "
                  f"{result['bootstrap']} bootstrap resamples of the prompts, seed "
                  f"{result['seed']}" + (f"; other models: {', '.join(others)}" if others else ""))
    level = f"{round(100 * result['level'])}%"
    t = Table(title=f"Ratings, overall ({level} intervals)")
    for col in ("rank", "generator", "Bradley-Terry theta", "Elo"):
        t.add_column(col)
    elo = {r["generator"]: r for r in result["elo"]}
    for r in result["bradley_terry"]["overall"]:
        t.add_row(str(r["rank"]), r["generator"], _ci(r, 2), _ci(elo[r["generator"]], 0, ""))
    console.print(t)
    _dimension_table(console, result, level)
    _matrix(console, result)
    _pairs_by_metric(console, result)
    if result["pair"]:
        _pair_table(console, result["pair"])
    if result["agreement"]:
        _agreement(console, result["agreement"])


def _dimension_table(console, result: dict, level: str) -> None:
    """One row per metric, generators as columns in their overall order."""
    from rich.table import Table

    t = Table(title=f"Bradley-Terry theta by metric ({level} intervals; rank in brackets)")
    t.add_column("metric")
    order = [r["generator"] for r in result["bradley_terry"]["overall"]]
    for g in order:
        t.add_column(g)
    for m in result["metrics"]:
        by = {r["generator"]: r for r in result["bradley_terry"][m]}
        t.add_row(SHORT.get(m, m), *(f"({by[g]['rank']}) {_ci(by[g], 2)}" for g in order))
    console.print(t)


def _matrix(console, result: dict) -> None:
    from rich.table import Table

    t = Table(title="Win rate, overall: row beats column")
    t.add_column("")
    gens = result["generators"]
    for g in gens:
        t.add_column(g)
    rate = {(r["a"], r["b"]): r for r in result["win_rates"] if r["metric"] == "overall"}
    for a in gens:
        t.add_row(a, *("" if a == b else f"{_rate(rate[a, b]['rate'])} (n={rate[a, b]['n']})"
                       for b in gens))
    console.print(t)


def _pairs_by_metric(console, result: dict) -> None:
    from rich.table import Table

    t = Table(title="Win rate of A over B by metric")
    for col in ("A", "B", "prompts", "A wins / ties / B wins", *map(SHORT.get, result["metrics"])):
        t.add_column(col)
    rates = {(r["a"], r["b"], r["metric"]): r for r in result["win_rates"]}
    gens = result["generators"]
    for i, a in enumerate(gens):
        for b in gens[i + 1:]:
            o = rates[a, b, "overall"]
            t.add_row(a, b, str(o["n"]), f"{o['wins']} / {o['ties']} / {o['losses']}",
                      *(_rate(rates[a, b, m]["rate"]) for m in result["metrics"]))
    console.print(t)


def _pair_table(console, pair: dict) -> None:
    from rich.table import Table

    a, b = pair["a"], pair["b"]
    t = Table(title=f"Per prompt, overall: {a} vs {b}")
    for col in ("prompt", a, b, f"{a} - {b}", "winner"):
        t.add_column(col)
    for row in pair["prompts"]:
        sa, sb = row["scores"]["overall"]
        t.add_row(row["prompt"], f"{sa:+.4f}", f"{sb:+.4f}", f"{sa - sb:+.4f}", row["winner"])
    console.print(t)


def _agreement(console, rows: list[dict]) -> None:
    from rich.table import Table

    t = Table(title="Agreement between reward models on the same clips")
    for col in ("model A", "model B", "metric", "clips", "Kendall tau-b",
                "same-prompt pairs ordered alike"):
        t.add_column(col)
    for r in rows:
        tau = "-" if r["kendall_tau"] is None else f"{r['kendall_tau']:+.3f}"
        pa = r["pairwise_agreement"]
        t.add_row(r["model_a"], r["model_b"], SHORT.get(r["metric"], r["metric"]),
                  str(r["clips"]), tau,
                  "-" if pa is None else f"{pa:.3f} ({r['agree']}/{r['pairs']})")
    console.print(t)


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)
