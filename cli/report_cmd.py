"""`cleverward report SCORES [...] --videos-root DIR --out report.html`: one self-contained HTML
file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cleverward.cli.choices import GeneratorFromOption, TiesOption
from cleverward.cli.common import config_error, deprecated, fail, progress_bar

REPORT_OPTIONS = {"eval_file": "--eval", "videos": "--videos-root", "frames": "--thumb-frames",
                  "width": "--thumb-width", "out": "--out", "workers": "--workers"}


def report_command(
    scores: Annotated[list[Path], typer.Argument(help="Score files (JSONL, CSV, Parquet).")],
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path(
        "report.html"),
    videos_root: Annotated[Path | None, typer.Option(
        "--videos-root", help="The scored folder (rows' video paths are relative to it): keyframe "
                         "strips come from it.")] = None,
    videos: Annotated[Path | None, typer.Option(
        "--videos", hidden=True, help="Deprecated spelling of --videos-root.")] = None,
    eval_file: Annotated[Path | None, typer.Option(
        "--eval", help="Eval results JSON (a list of records) to show as a table.")] = None,
    ties: TiesOption = "half",
    generator_from: GeneratorFromOption = "auto",
    model: Annotated[str | None, typer.Option("--model", help="Whose rows to compare.")] = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap")] = 1000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    thumb_frames: Annotated[int, typer.Option("--thumb-frames", min=1, max=16,
                                              help="Keyframes per clip.")] = 4,
    thumb_width: Annotated[int, typer.Option(
        "--thumb-width", min=16, max=512, help="Pixels per keyframe (height 3/4 of it).")] = 96,
    workers: Annotated[int, typer.Option("--workers", help="Decode threads.")] = 2,
    title: Annotated[str, typer.Option("--title")] = "cleverward: generator comparison",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Ratings with intervals, the win-rate matrix, per-metric bars and histograms, eval results,
    and per-prompt rankings with a keyframe strip per clip, in one HTML file that opens from disk
    with no server and no network."""
    from cleverward.train.compare.analysis import CompareConfig
    from cleverward.train.compare.rows import CompareInputError
    from cleverward.train.report.evals import EvalFileError
    from cleverward.train.report.html import ReportConfig, build_report
    from cleverward.train.report.thumbs import ThumbConfig

    if videos is not None:
        deprecated("report --videos", "--videos-root")
        videos_root = videos_root or videos
    videos = videos_root
    try:
        cfg = ReportConfig(
            compare=CompareConfig(scores=tuple(map(str, scores)), ties=ties,
                                  generator_from=generator_from, model=model,
                                  bootstrap=bootstrap, seed=seed),
            out=str(out), videos=None if videos is None else str(videos),
            eval_file=None if eval_file is None else str(eval_file),
            thumbs=ThumbConfig(frames=thumb_frames, width=thumb_width,
                               height=max(16, round(thumb_width * 3 / 4 / 2) * 2)),
            workers=workers, title=title)
        with progress_bar(None, "keyframes", quiet) as progress:
            summary = build_report(cfg, progress=progress)
    except (CompareInputError, EvalFileError, ValueError) as exc:
        fail(config_error(exc, REPORT_OPTIONS, CompareConfig))
    except OSError as exc:
        fail(f"{out}: cannot write it ({exc.strerror or exc})")
    missing = f", {summary.no_preview} without preview" if summary.no_preview else ""
    typer.echo(f"{summary.prompts} prompts, {summary.clips} clips, {summary.thumbnails} keyframe "
               f"strips{missing}, {summary.bytes / 1e6:.1f} MB -> {summary.out}")


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
