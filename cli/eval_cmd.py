"""`cleverward eval`: pairwise accuracy, Kendall tau with ties, SRCC / PLCC, for a model or for
precomputed scores (any reward model's output in score-dir's columns)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cleverward.cli.common import fail


def eval_command(
    pairs: Annotated[Path, typer.Option("--pairs", help="pairs file to evaluate on.")],
    model: Annotated[str | None, typer.Option(
        "--model", help="Named model or checkpoint folder.")] = None,
    scores: Annotated[Path | None, typer.Option(
        "--scores", help="Precomputed scores (score-dir output) instead of a model.")] = None,
    videos_root: Annotated[Path | None, typer.Option("--videos-root")] = None,
    tie_threshold: Annotated[float, typer.Option(
        "--tie-threshold", help="|diff| below which a human tie counts as right (in the "
        "scores' units; 0.02 suits cosine rewards, 0.5 a 1-4 scale).")] = 0.02,
    epsilon: Annotated[float | None, typer.Option(
        "--epsilon", help="Model-tie epsilon for acc/tau with ties (default: calibrated).")
        ] = None,
    frames: Annotated[int | None, typer.Option("--frames")] = None,
    cache: Annotated[Path | None, typer.Option("--cache")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Evaluate a reward model on pairs, per dataset and dimension."""
    from cleverward.train.evaluate import EvalConfig, evaluate, format_eval

    if model is None and scores is None:
        model = "default"
    try:
        cfg = EvalConfig(pairs=str(pairs), model=model, scores=str(scores) if scores else None,
                         videos_root=str(videos_root) if videos_root else None,
                         tie_threshold=tie_threshold, epsilon=epsilon, frames=frames,
                         cache_dir=str(cache) if cache else None, use_cache=not no_cache)
        if not pairs.is_file():
            raise FileNotFoundError(f"{pairs}: pairs file not found")
        report = evaluate(cfg)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    typer.echo(json.dumps(report, indent=2) if as_json else format_eval(report))


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
