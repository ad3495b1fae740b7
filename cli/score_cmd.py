"""`cleverward score-dir`: score a folder of videos against a prompts file."""

from __future__ import annotations

import json
import os
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from cleverward.cli.choices import Backend, Decoder, ScoreFormat
from cleverward.cli.common import (
    DEVICE_HELP,
    choice_option,
    config_error,
    err,
    fail,
    progress_bar,
    warn,
)

SCORE_OPTIONS = {"videos_dir": "VIDEOS_DIR", "prompts_file": "--prompts", "cache_dir": "--cache",
                 "use_cache": "--no-cache", "resume": "--overwrite", "manifest": "--manifest",
                 "top": "--top", "device": "--device"}


def format_ranking(ranking) -> str:
    """Per prompt, the best and worst --top videos by overall score (engine/ranking.py keeps
    only those, and a count)."""
    lines = []
    for prompt in ranking.prompts():
        lines.append(f"\n{prompt!r}  ({ranking.count(prompt)} videos)")
        for item in ranking.shown(prompt):
            if item is None:
                lines.append("   ...")
                continue
            rank, score, video = item
            lines.append(f"  {rank:>3}. {score:+.4f}  {video}")
    return "\n".join(lines)


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (`kill`, a scheduler's time limit) stops the run like Ctrl-C does: the writer
    closes, so the rows done are kept (a Parquet output is only written on close). The first
    SIGTERM stops it at the next clip (a clean point); a second one at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    from cleverward.engine.stop_request import clear_stop, request_stop, stop_requested

    def stop(signum, frame):
        if stop_requested():  # a second SIGTERM: stop now, wherever the run is
            raise KeyboardInterrupt
        request_stop()  # the scoring loop stops at the next clip (engine/stop_request.py)

    clear_stop()
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        clear_stop()


def _check_writable(path: Path, option: str) -> None:
    """Fail before any work if `path` cannot become a file (missing folders are created)."""
    if path.is_dir():
        fail(f"{option} {path}: is a folder; give a file path")
    _check_folder(path, option)


def _check_output(out: Path):
    """The output's target, refused before any work if it cannot be a regular file."""
    from cleverward.engine.output import OutputError
    from cleverward.engine.output_target import resolve_output

    try:
        target = resolve_output(out)
    except OutputError as exc:
        fail(f"--out {exc}")
    if not target.is_stdout:
        _check_folder(target.path, "--out")
    return target


def _check_videos_dir(videos_dir: Path) -> None:
    """A missing folder is an error; an empty one (_check_not_empty, after the prompts) a
    warning and exit 1: nothing to score is what a script chaining score-dir into eval must not
    take for success."""
    if videos_dir.is_file():
        fail(f"{videos_dir}: is a file, give the folder that holds the videos")
    if not videos_dir.is_dir():
        fail(f"{videos_dir}: no such folder")


def _check_not_empty(videos_dir: Path) -> None:
    from cleverward.engine.scoring import list_folder

    listing = list_folder(videos_dir)
    if not listing.videos:
        skipped = (f" ({listing.skipped_files} other file(s) skipped: not a video suffix)"
                   if listing.skipped_files else "")
        warn(f"{videos_dir} holds no videos{skipped}: nothing to score, no output written")
        raise typer.Exit(1)


def _check_folder(path: Path, option: str) -> None:
    folder = path.parent.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        fail(f"{option} {path}: cannot create it ({folder} is not a folder)")
    if not os.access(folder, os.W_OK):
        fail(f"{option} {path}: cannot write it (no permission in {folder})")


def score_dir(
    videos_dir: Annotated[Path | None, typer.Argument(
        help="Folder of videos (files or frame folders); or give --manifest instead.")] = None,
    prompts: Annotated[Path | None, typer.Option(
        "--prompts", help="prompts.jsonl (see README); with VIDEOS_DIR.")] = None,
    manifest: Annotated[Path | None, typer.Option(
        "--manifest", help="Manifest of (video, prompt) rows: .parquet, .csv or .jsonl "
        "(instead of VIDEOS_DIR + --prompts).")] = None,
    out: Annotated[Path, typer.Option(
        "--out", help="Output file; - streams JSONL rows to stdout.")] = Path("scores.jsonl"),
    model: Annotated[str, typer.Option(
        "--model", help="Named model, checkpoint folder, org/name in the local Hugging Face "
        "cache, or an encoder spec for zero-shot scoring (clip:DIR, siglip:DIR, xclip:DIR).")] = (
        "default"),
    frames: Annotated[int, typer.Option("--frames", help="Frames sampled per video.")] = 8,
    decoder: Annotated[Decoder, choice_option(Decoder, "--decoder", help="Video decoder.")] = (
        "auto"),
    backend: Annotated[Backend, choice_option(
        Backend, "--backend", help="Where the reward head runs.")] = "auto",
    device: Annotated[str, typer.Option("--device", help=DEVICE_HELP)] = "auto",
    fmt: Annotated[ScoreFormat | None, choice_option(
        ScoreFormat, "--format", help="Output format (default: from --out's suffix).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 if any video failed.")] = False,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", help="Videos per encoder batch.")] = 8,
    workers: Annotated[int, typer.Option("--workers", help="Decode threads.")] = 2,
    cache: Annotated[Path | None, typer.Option("--cache", help="Embedding cache folder.")] = None,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Do not read or write the cache.")] = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Discard rows of an earlier run.")] = False,
    summary_json: Annotated[Path | None, typer.Option(
        "--summary-json", help="Write run counts here.")] = None,
    shard: Annotated[str, typer.Option(
        "--shard", help="K/N: only the videos of shard K of N (by path or manifest id, no file "
        "read; N machines' outputs concatenate).")] = "0/1",
    top: Annotated[int, typer.Option(
        "--top", help="Best and worst videos shown per prompt.")] = 3,
    no_ranking: Annotated[bool, typer.Option(
        "--no-ranking", help="Do not print the ranking.")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress bar or ranking.")] = False,
) -> None:
    """Score every (video, prompt) pair; rows are appended to --out as they finish."""
    from cleverward.engine.config import ScoreConfig
    from cleverward.engine.prompts import PromptsError
    from cleverward.engine.sharding import parse_shard

    _check_input(videos_dir, prompts, manifest)
    if top < 1:
        fail(f"--top {top}: must be at least 1 (--no-ranking prints none)")
    fmt = fmt or {".csv": "csv", ".parquet": "parquet"}.get(out.suffix.lower(), "jsonl")
    if str(out) in ("-", "/dev/stdout") and fmt != "jsonl":
        fail(f"--out {out}: stdout streams JSONL rows; give a file for --format {fmt}")
    try:
        cfg = ScoreConfig(
            shard=parse_shard(shard),
            videos_dir=str(videos_dir or ""), prompts_file=str(prompts or ""),
            manifest=str(manifest) if manifest else None,
            top=0 if (quiet or no_ranking) else top, out=str(out), model=model,
            frames=frames, decoder=decoder, backend=backend, format=fmt, strict=strict,
            batch_size=batch_size, workers=workers, cache_dir=str(cache) if cache else None,
            use_cache=not no_cache, resume=not overwrite, quiet=quiet, device=device,
        )
        from cleverward.engine.device import resolve_device

        resolve_device(device)  # a GPU this machine lacks fails before any work
    except ValueError as exc:
        fail(config_error(exc, SCORE_OPTIONS, ScoreConfig))
    if videos_dir is not None:
        _check_videos_dir(videos_dir)
    target = _check_output(out)
    if summary_json:
        _check_writable(summary_json, "--summary-json")
    if manifest is None:
        try:
            from cleverward.engine.prompts import parse_prompts

            if prompts.is_dir():
                fail(f"--prompts {prompts}: is a folder, give a file (a prompts.jsonl)")
            parse_prompts(prompts, videos_dir, missing_ok=True)  # errors before the model loads
        except PromptsError as exc:
            fail(str(exc))
        _check_not_empty(videos_dir)
    try:
        with _sigterm_as_interrupt():
            summary = _run(cfg)
    except (PromptsError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    if not quiet and not no_ranking:
        err(format_ranking(summary.ranking))
    _print_warnings(summary.warnings)
    if not quiet:
        err(
            f"\n{summary.scored} scored, {summary.failed} failed, {summary.decoded} decoded, "
            f"{summary.cache_hits} from cache, {summary.resumed} kept from an earlier run, "
            + (f"{summary.untouched} rows of other prompts, videos or models left as they were, "
               if summary.untouched else "")
            + (f"{summary.rescored} earlier rows scored again, " if summary.rescored else "")
            + (f"{summary.pyav_retries} decoded by PyAV after DALI could not, "
               if summary.pyav_retries else "")
            + f"{summary.seconds:.1f}s -> {'stdout' if target.is_stdout else out}"
        )
    if summary_json:
        try:
            summary_json.parent.mkdir(parents=True, exist_ok=True)
            summary_json.write_text(json.dumps(summary.to_json(), indent=2) + "\n")
        except OSError as exc:
            fail(f"{summary_json}: cannot write it ({exc.strerror or exc})")
    if strict and summary.failed:
        raise typer.Exit(1)


def _check_input(videos_dir: Path | None, prompts: Path | None, manifest: Path | None) -> None:
    """Exactly one input: VIDEOS_DIR with --prompts, or --manifest."""
    if manifest is not None:
        if videos_dir is not None or prompts is not None:
            fail("--manifest: give either VIDEOS_DIR with --prompts, or --manifest, not both")
        from cleverward.engine.decode.source import file_problem

        problem = file_problem(manifest)
        if problem is not None:
            fail(f"--manifest {manifest}: {problem}")
        return
    if videos_dir is None:
        fail("give VIDEOS_DIR with --prompts FILE, or --manifest FILE")
    if prompts is None:
        fail(f"{videos_dir}: --prompts FILE is needed with VIDEOS_DIR")


def _print_warnings(warnings: list[str], shown: int = 20) -> None:
    """Warnings are printed even with --quiet: they are what a quiet run must not hide."""
    if not warnings:
        return
    err(f"\n{len(warnings)} warning(s):")
    for line in warnings[:shown]:
        err(f"  warning: {line}")
    if len(warnings) > shown:
        err(f"  ... and {len(warnings) - shown} more (all in --summary-json)")


def _run(cfg):
    from cleverward.engine.backends import BackendUnavailable
    from cleverward.engine.embedding_cache import open_cache
    from cleverward.engine.model import load_for_run
    from cleverward.engine.scoring import score_directory

    try:  # config + head; the backend is chosen before any encoder loads: fail at once
        model = load_for_run(cfg.model, cfg.backend, cfg.device)
    except BackendUnavailable as exc:
        fail(str(exc))
    cache = open_cache(cfg, model)
    try:
        with progress_bar(None, "scoring", cfg.quiet) as update:
            return score_directory(cfg, model=model, cache=cache, progress=update)
    finally:
        cache.close()


def register(app: typer.Typer) -> None:
    app.command("score-dir")(score_dir)
