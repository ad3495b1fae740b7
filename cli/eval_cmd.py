"""`cleverward eval`: pairwise accuracy (with ties, without, calibrated), Kendall tau with ties,
SRCC / PLCC / KRCC, with bootstrap intervals, for a model or for precomputed scores (any reward
model's output in score-dir's columns), and each public leaderboard's convention beside them."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from cleverward.cli.common import (
    DEVICE_HELP,
    check_file,
    choice_option,
    config_error,
    fail,
    progress_bar,
)

EVAL_OPTIONS = {"pick": "--model", "cache_dir": "--cache", "use_cache": "--no-cache",
                "conventions": "--convention"}


class ConventionChoice(str, Enum):
    """train/conventions.py's names (tests/train/test_conventions.py keeps them in step)."""

    cleverward = "cleverward"
    videoalign = "videoalign"
    videoscore = "videoscore"
    unifiedreward = "unifiedreward"
    genai_bench = "genai-bench"
    all = "all"


def _conventions(chosen: list[str]) -> tuple[str, ...]:
    if ConventionChoice.all.value in chosen:
        return tuple(c.value for c in ConventionChoice if c is not ConventionChoice.all)
    return tuple(dict.fromkeys(chosen))


def eval_command(
    pairs: Annotated[Path, typer.Option("--pairs", help="pairs file to evaluate on.")],
    model: Annotated[str | None, typer.Option(
        "--model", help="Named model or checkpoint folder to run; with --scores, the one "
        "model of the file to evaluate (default: each model in it, one table each).")] = None,
    scores: Annotated[Path | None, typer.Option(
        "--scores", help="Precomputed scores (score-dir output) instead of running a model.")
        ] = None,
    videos_root: Annotated[Path | None, typer.Option(
        "--videos-root", help="Folder the pairs file's relative video paths are relative to "
        "(default: the pairs file's folder).")] = None,
    convention: Annotated[list[ConventionChoice] | None, choice_option(
        ConventionChoice, "--convention", help="Also compute the figures as this public "
        "script does, beside the correct ones (repeatable; 'all' for every one).")] = None,
    tie_threshold: Annotated[float, typer.Option(
        "--tie-threshold", help="|diff| below which a human tie counts as right (in the "
        "scores' units; 0.02 suits cosine rewards, 0.5 a 1-4 scale).")] = 0.02,
    epsilon: Annotated[float | None, typer.Option(
        "--epsilon", help="Model-tie epsilon for acc/tau with ties (default: calibrated).")
        ] = None,
    bootstrap: Annotated[int, typer.Option(
        "--bootstrap", help="Bootstrap resamples over prompts for the intervals (0: none).")
        ] = 1000,
    ci: Annotated[float, typer.Option("--ci", help="Interval coverage.")] = 0.95,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
    frames: Annotated[int | None, typer.Option("--frames")] = None,
    cache: Annotated[Path | None, typer.Option("--cache")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache")] = False,
    device: Annotated[str, typer.Option("--device", help=DEVICE_HELP)] = "auto",
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the report as JSON: figures as a flat list of records.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Evaluate a reward model on pairs, per dataset and dimension."""
    from cleverward.train.evaluate import EvalConfig, evaluate, format_eval, json_ready

    run_model = model if scores is None else None
    if run_model is None and scores is None:
        run_model = "default"
    check_file(pairs, "--pairs", "pairs file")
    if scores is not None:
        check_file(scores, "--scores", "score-dir output file")
    try:
        cfg = EvalConfig(pairs=str(pairs), model=run_model,
                         scores=str(scores) if scores else None,
                         pick=model if scores is not None else None,
                         videos_root=str(videos_root) if videos_root else None,
                         conventions=_conventions(convention or []),
                         tie_threshold=tie_threshold, epsilon=epsilon, bootstrap=bootstrap,
                         ci=ci, seed=seed, frames=frames,
                         cache_dir=str(cache) if cache else None, use_cache=not no_cache,
                         device=device)
        if run_model is not None:
            from cleverward.engine.device import resolve_device

            resolve_device(device)  # a GPU this machine lacks fails before any work
        with progress_bar(None, "embedding", quiet) as progress:
            report = evaluate(cfg, progress=progress)
    except (FileNotFoundError, ValueError) as exc:
        fail(config_error(exc, EVAL_OPTIONS, EvalConfig))
    if as_json:
        typer.echo(json.dumps(json_ready(report), indent=2, allow_nan=False))
    else:
        typer.echo(format_eval(report))


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
